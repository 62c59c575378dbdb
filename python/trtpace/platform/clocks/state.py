"""What trtpace locked, per GPU, and who holds it: records that survive a crash, shared by processes.

NVML cannot read a lock back, so trtpace writes down what it set *before* setting it. One record
per GPU (`<key>.json`) holds the target, the clocks found before the first lock (restored when the
last owner lets go) and the owners: one entry per process or `trtpace clocks lock` holding it.
Every read-modify-write of a record happens under an exclusive `flock` on `<key>.lock`, so two
processes locking, joining or releasing one GPU never see half a change.

An owner is either a process (its share ends when it exits; a crash or kill -9 leaves it to the
next trtpace command that looks, which drops it once that process is gone on this host) or held
until `trtpace clocks reset` (`trtpace clocks lock`). A process owner is alive only while its pid
exists with the start time it had when it locked (a reused pid is another process) and this is
the boot it locked in; a record from an earlier boot describes clocks the driver reset at boot.

Records are text on disk that root acts on, so none is trusted as found: the folder and every
record must belong to this user (or root) and be writable by nobody else, records and locks are
opened without following symlinks, and every field is checked for type and range (targets.py
confines what a record may name). A record that fails is reported in one line, never acted on:
damaged (it cannot be read as a record) or untrusted (left alone, never deleted by trtpace).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import math
import os
import re
import socket
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trtpace.platform.clocks import targets
from trtpace.platform.clocks.errors import ClockError

HOLD_PROCESS = "process"  # until the owning process exits
HOLD_UNTIL_RESET = "until-reset"  # `trtpace clocks lock`: until `trtpace clocks reset`
TDP = 0xFFFFFF01  # NVML_CLOCK_LIMIT_ID_TDP: the symbolic base (TDP) clock, stored as written
_FLOCK_TIMEOUT_S = 30.0

# The ranges a record's fields must fall in.
PID_LIMIT = 2**22  # PID_MAX_LIMIT, the most /proc/sys/kernel/pid_max can be
TIME_LIMIT_UNIX = 32_503_680_000.0  # the year 3000
START_TIME_LIMIT = 2**63 - 1  # /proc/<pid>/stat starttime, in clock ticks since boot
MHZ_LIMIT = 100_000
HZ_LIMIT = 10**11
MAX_OWNERS = 4096
MAX_RECORD_BYTES = 1 << 20
BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
_BOOT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_OWNER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_GOVERNOR = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_JETSON_SAVED = {"min_freq", "max_freq", "governor", "target_hz", "device/railgate_enable"}
JETSON_CLOCKS_KEY = "jetson:jetson_clocks"


def state_dir() -> Path:
    """TRTPACE_STATE_DIR, else /var/lib/trtpace/clocks for root, else the user's cache."""
    if env := os.environ.get("TRTPACE_STATE_DIR"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/trtpace/clocks")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "trtpace" / "clocks"


def jetson_clocks_store() -> Path:
    """The one file a jetson_clocks record may restore from: beside the records, in the trusted folder."""
    return state_dir() / "jetson_clocks.conf"


@functools.lru_cache(maxsize=1)
def current_boot_id() -> str | None:
    """This boot's id (/proc/sys/kernel/random/boot_id), None where it cannot be read."""
    try:
        text = BOOT_ID_PATH.read_text().strip()
    except (OSError, ValueError):
        return None
    return text if _BOOT_ID.fullmatch(text) else None


def process_start_time(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (/proc/<pid>/stat field 22); None
    where it cannot be read (no such process, no /proc)."""
    try:
        text = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError, OverflowError):
        return None
    try:
        # The command name (field 2) is in parentheses and may hold spaces and ")": split after the last.
        return int(text.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (kill(pid, 0)); False for a pid no process can have."""
    if not 0 < pid <= PID_LIMIT:
        return False  # kill(0) and kill(-1) signal groups; a huge pid overflows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _this_start_time() -> int | None:
    return process_start_time(os.getpid())


def _this_boot() -> str | None:
    return current_boot_id()


@dataclass
class Owner:
    """One holder of a GPU's lock. The defaults describe this process, now."""

    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    time_unix: float = field(default_factory=time.time)
    hold: str = HOLD_PROCESS
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    start_time: int | None = field(default_factory=_this_start_time)  # None: written before it was recorded
    boot_id: str | None = field(default_factory=_this_boot)

    @property
    def from_other_boot(self) -> bool:
        boot = current_boot_id()
        return self.host == socket.gethostname() and None not in (self.boot_id, boot) and self.boot_id != boot

    @property
    def alive(self) -> bool:
        """Whether its share still holds: another machine's owner always (shared home: not ours to
        judge); an owner from an earlier boot of this one never; held until reset, yes; a process,
        while its pid exists with the start time it locked with (older records: while the pid exists)."""
        if self.host != socket.gethostname():
            return True
        if self.from_other_boot:
            return False
        if self.hold == HOLD_UNTIL_RESET:
            return True
        if not pid_alive(self.pid):
            return False
        if self.start_time is None:
            return True
        started = process_start_time(self.pid)
        if started is None:  # cannot be read (hidden /proc, or it exited just now): ask again
            return pid_alive(self.pid)
        return started == self.start_time

    @property
    def live_process(self) -> bool:
        """A running process holds it: `clocks reset` breaks it only with --force."""
        return self.hold == HOLD_PROCESS and self.alive

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time_unix))
        if self.hold == HOLD_UNTIL_RESET:
            return f"`trtpace clocks lock` (pid {self.pid} on {self.host} at {when}, held until reset)"
        state = "running" if self.alive else "gone"
        return f"pid {self.pid} on {self.host} since {when} ({state})"


def this_process(hold: str) -> Owner:
    """A new share for this process (tests stand in other processes here)."""
    return Owner(hold=hold)


@dataclass
class ClockState:
    """One GPU's lock as trtpace set it, and who holds it."""

    key: str  # PCI bus id, or "jetson:<devfreq node>"
    backend: str  # nvml | nvidia-smi | jetson | jetson_clocks
    sm_mhz: list[int] | None = None  # [min, max]; symbolic TDP limits are stored as written
    mem_mhz: list[int] | None = None
    saved: dict[str, Any] = field(default_factory=dict)  # Jetson: the sysfs values to restore
    owners: list[Owner] = field(default_factory=list)
    time_unix: float = field(default_factory=time.time)  # when the first owner locked
    host: str | None = field(default_factory=socket.gethostname)  # where and in which boot it was locked
    boot_id: str | None = field(default_factory=_this_boot)  # (None: written before they were recorded)

    def target(self) -> tuple[Any, ...]:
        """What was asked for: a second locker asking the same joins, one asking otherwise is refused."""
        return (self.backend == "jetson_clocks", self.sm_mhz, self.mem_mhz, self.saved.get("target_hz"))

    def describe_target(self) -> str:
        if self.backend == "jetson_clocks":
            return "jetson_clocks"
        parts = []
        if self.sm_mhz:
            parts.append(f"SM {self.sm_mhz[0]}-{self.sm_mhz[1]} MHz")
        if self.mem_mhz:
            parts.append(f"memory {self.mem_mhz[0]}-{self.mem_mhz[1]} MHz")
        if self.saved and self.backend == "jetson":
            parts.append("devfreq min := max")
        return ", ".join(parts) or "locked"

    @property
    def from_other_boot(self) -> bool:
        """Locked on this host in an earlier boot: the driver reset those clocks when it booted."""
        boot = current_boot_id()
        return self.host == socket.gethostname() and None not in (self.boot_id, boot) and self.boot_id != boot

    @property
    def stale(self) -> bool:
        """Nobody alive holds it, but the clocks are still set (or it is from an earlier boot)."""
        return self.from_other_boot or not any(o.alive for o in self.owners)

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time_unix))
        if self.from_other_boot:
            return f"{self.describe_target()} via {self.backend} since {when}, before the last reboot: stale"
        alive = [o for o in self.owners if o.alive]
        held = "; ".join(o.describe() for o in alive) if alive else "process gone: stale"
        return f"{self.describe_target()} via {self.backend} since {when}, {len(alive)} owner(s): {held}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class DamagedState(ClockError):
    """A record that cannot be read as a ClockState; carries its file."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"clock state file {path} is damaged ({reason})")
        self.path = path
        self.reason = reason


class UntrustedState(DamagedState):
    """A record (or the folder of records) trtpace will not act on: another user could have put it
    there, it is a symlink or not a plain file, or it names a target outside the real ones."""

    def __init__(self, path: Path, reason: str, what: str = "clock state file"):
        ClockError.__init__(self, f"{what} {path} is not trusted ({reason})")
        self.path = path
        self.reason = reason
        self.what = what


# --- checking a record's fields --------------------------------------------------------------


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _require(doc: dict[str, Any], name: str, types: type | tuple[type, ...], optional: bool = False) -> Any:
    value = doc.get(name)
    if value is None and optional:
        return None
    # bool is an int to Python, never a pid or a clock here.
    if not isinstance(value, types) or isinstance(value, bool):
        raise TypeError(f"field {name!r} is {type(value).__name__}, not {getattr(types, '__name__', types)}")
    return value


def _int_in(doc: dict[str, Any], name: str, lo: int, hi: int, optional: bool = False) -> Any:
    value = _require(doc, name, int, optional)
    if value is not None and not lo <= value <= hi:
        raise ValueError(f"field {name!r} is {_show(value)}, not between {lo} and {hi}")
    return value


def _time(doc: dict[str, Any], name: str) -> float:
    value = _require(doc, name, (int, float))
    if not (isinstance(value, int) or math.isfinite(value)) or not 0 <= value <= TIME_LIMIT_UNIX:
        raise ValueError(f"field {name!r} is {_show(value)}, not a time between 1970 and 3000")
    return float(value)


def _text(
    doc: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None, max_len: int = 255, optional: bool = False
) -> Any:
    value = _require(doc, name, str, optional)
    if value is None:
        return None
    if not value or len(value) > max_len or not value.isprintable() or (pattern and not pattern.fullmatch(value)):
        raise ValueError(f"field {name!r} is {_show(value)}, not a valid {name}")
    return value


def _mhz_pair(doc: dict[str, Any], name: str) -> list[int] | None:
    value: list[int] | None = _require(doc, name, list, optional=True)
    if value is None:
        return None
    if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"field {name!r} is not a [min, max] pair of whole MHz")
    lo, hi = value
    if name == "sm_mhz" and lo == hi == TDP:
        return value
    if not 1 <= lo <= hi <= MHZ_LIMIT:
        raise ValueError(f"field {name!r} is [{_show(lo)}, {_show(hi)}], not 1 <= min <= max <= {MHZ_LIMIT} MHz")
    return value


def _owner(doc: Any) -> Owner:
    if not isinstance(doc, dict):
        raise TypeError("an owner is not an object")
    hold = _require(doc, "hold", str)
    if hold not in (HOLD_PROCESS, HOLD_UNTIL_RESET):
        raise ValueError(f"unknown hold {_show(hold)}")
    return Owner(
        pid=_int_in(doc, "pid", 1, PID_LIMIT),
        host=_text(doc, "host"),
        time_unix=_time(doc, "time_unix"),
        hold=hold,
        id=_text(doc, "id", _OWNER_ID),
        start_time=_int_in(doc, "start_time", 0, START_TIME_LIMIT, optional=True),
        boot_id=_text(doc, "boot_id", _BOOT_ID, optional=True),
    )


def _hz(saved: dict[str, str], name: str) -> None:
    text = saved[name]
    if not (text.isascii() and text.isdigit() and len(text) <= 12 and 1 <= int(text) <= HZ_LIMIT):
        raise ValueError(f"saved {name} is {_show(text)}, not a frequency in Hz")


# What a record of each backend may restore and name: exactly the fields its restore writes, each
# in range, and a target confined by targets.py (targets.Refused where it names one trtpace must
# not touch). The backends' restore (nvidia.py, tegra.py) checks the target again before acting.


def _nvidia_record(key: str, saved: dict[str, str]) -> None:
    if saved:
        raise ValueError(f"an NVIDIA record saves nothing, this one saves {_show(sorted(saved))}")
    targets.check_pci_bus_id(key)  # a PCI bus id, never a path


def _jetson_record(key: str, saved: dict[str, str]) -> None:
    if unknown := set(saved) - _JETSON_SAVED:
        raise targets.Refused(f"saved {_show(sorted(unknown))} is not a devfreq attribute trtpace restores")
    if missing := {"min_freq", "max_freq", "governor", "target_hz"} - set(saved):
        raise ValueError(f"saved lacks {', '.join(sorted(missing))}")
    for name in ("min_freq", "max_freq", "target_hz"):
        _hz(saved, name)
    if not _GOVERNOR.fullmatch(saved["governor"]):
        raise ValueError(f"saved governor {_show(saved['governor'])} is not a governor name")
    if saved.get("device/railgate_enable", "0") not in ("0", "1"):
        raise ValueError(f"saved railgate_enable {_show(saved['device/railgate_enable'])} is not 0 or 1")
    if not key.startswith("jetson:"):
        raise targets.Refused(f"a Jetson record's key must be jetson:<devfreq node>, not {_show(key)}")
    targets.check_devfreq_node(key.removeprefix("jetson:"))  # directly under the devfreq root


def _jetson_clocks_record(key: str, saved: dict[str, str]) -> None:
    if set(saved) != {"store_file"} or saved["store_file"] != str(jetson_clocks_store()):
        raise targets.Refused(f"a jetson_clocks record must restore from {jetson_clocks_store()} only")
    if key != JETSON_CLOCKS_KEY:
        raise targets.Refused(f"a jetson_clocks record's key must be {JETSON_CLOCKS_KEY}, not {_show(key)}")


_RECORD_CHECKS: dict[str, Callable[[str, dict[str, str]], None]] = {
    "nvml": _nvidia_record,
    "nvidia-smi": _nvidia_record,
    "jetson": _jetson_record,
    "jetson_clocks": _jetson_clocks_record,
}
BACKENDS = tuple(_RECORD_CHECKS)  # the names of the backends (clocks.REGISTRY has their classes)


def parse(doc: Any) -> ClockState:
    """A record from its JSON, checking every field's type and range (a wrong one must not crash a
    sweep later) and confining its target: ValueError or TypeError, targets.Refused for a target
    trtpace must not touch."""
    if not isinstance(doc, dict):
        raise TypeError(f"a {type(doc).__name__}, not an object")
    if "owners" not in doc and "pid" in doc:
        # Written by trtpace before owners were counted: one process owner.
        doc = {
            **doc,
            "owners": [
                {
                    "pid": doc["pid"],
                    "host": doc.get("host"),
                    "time_unix": doc.get("time_unix"),
                    "hold": HOLD_PROCESS,
                    "id": "legacy",
                }
            ],
        }
    backend = _require(doc, "backend", str)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {_show(backend)}")
    key = _text(doc, "key", max_len=4096)
    saved = _require(doc, "saved", dict, optional=True) or {}
    owners = _require(doc, "owners", list)
    if len(owners) > MAX_OWNERS:
        raise ValueError(f"{len(owners)} owners, more than {MAX_OWNERS}")
    state = ClockState(
        key=key,
        backend=backend,
        sm_mhz=_mhz_pair(doc, "sm_mhz"),
        mem_mhz=_mhz_pair(doc, "mem_mhz"),
        saved=saved,
        owners=[_owner(o) for o in owners],
        time_unix=_time(doc, "time_unix"),
        host=_text(doc, "host", optional=True),
        boot_id=_text(doc, "boot_id", _BOOT_ID, optional=True),
    )
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in saved.items()):
        raise ValueError("field 'saved' holds a value that is not text")
    _RECORD_CHECKS[backend](key, saved)
    return state


# --- the record files ------------------------------------------------------------------------


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in key)


def path_of(key: str) -> Path:
    return state_dir() / f"{_safe(key)}.json"


def _trusted_uids() -> tuple[int, int]:
    return (os.geteuid(), 0)


def _check_owner_and_mode(st: os.stat_result, path: Path, what: str, mode: bool = True) -> None:
    """Raises UntrustedState unless `st` belongs to this user or root and (with `mode`) nobody else may write it."""
    if st.st_uid not in _trusted_uids():
        raise UntrustedState(path, f"owned by uid {st.st_uid}, not by uid {os.geteuid()} or root", what)
    if mode and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UntrustedState(path, f"writable by group or others: mode {stat.S_IMODE(st.st_mode):04o}", what)


def _open_dir(create: bool) -> int | None:
    """The state folder, opened and checked (UntrustedState); None when it is missing and not `create`."""
    d = state_dir()
    if create:
        try:
            d.mkdir(mode=0o755, parents=True, exist_ok=True)
        except OSError as e:
            raise ClockError(f"cannot create the clock state folder {d}: {e.strerror or e}") from None
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        if not create:
            return None
        raise ClockError(f"cannot open the clock state folder {d}: it vanished") from None
    except NotADirectoryError:
        raise UntrustedState(d, "not a folder", "clock state folder") from None
    except OSError as e:
        raise ClockError(f"cannot open the clock state folder {d}: {e.strerror or e}") from None
    try:
        _check_owner_and_mode(os.fstat(fd), d, "clock state folder")
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _folder(create: bool) -> Iterator[int | None]:
    fd = _open_dir(create)
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


@contextlib.contextmanager
def guarded(key: str) -> Iterator[None]:
    """Holds the exclusive flock of `key`'s record: one process at a time reads and changes it."""
    d = state_dir()
    lock = d / f"{_safe(key)}.lock"
    with _folder(create=True) as dfd:
        flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            try:
                fd = os.open(lock.name, os.O_RDWR | os.O_CREAT | flags, 0o644, dir_fd=dfd)
            except PermissionError:  # a lock file made by another user: flock works on a read-only fd too
                fd = os.open(lock.name, os.O_RDONLY | flags, dir_fd=dfd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise UntrustedState(lock, "a symbolic link", "clock lock file") from None
            raise ClockError(f"cannot open the clock lock file {lock}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedState(lock, "not a regular file", "clock lock file")
        _check_owner_and_mode(st, lock, "clock lock file", mode=False)
        # Polled, not blocking: a signal handler releasing clocks while this thread holds the flock
        # must end in an error, never in a hang.
        deadline = time.monotonic() + _FLOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise ClockError(
                        f"cannot take the clock lock of {key} in {d}: another trtpace process holds it"
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing drops the flock


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write(state: ClockState) -> None:
    """Call under guarded(state.key). All or nothing: a temporary file in the same folder, fsync,
    rename; a full disk or a file-size limit is a one-line ClockError and leaves the old record."""
    path = path_of(state.key)
    text = json.dumps(state.to_json(), indent=2).encode()
    with _folder(create=True) as dfd:
        assert dfd is not None  # created above
        tmp = f".{path.name}.{uuid.uuid4().hex[:16]}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)
            try:
                write_all(fd, text)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            if isinstance(e, OSError):
                raise ClockError(f"cannot write the clock record {path}: {e.strerror or e}") from None
            raise
        with contextlib.suppress(OSError):
            os.fsync(dfd)


def _load(dfd: int, name: str, path: Path) -> ClockState | None:
    """The record `name` in the open folder, checked: None when missing; DamagedState or UntrustedState."""
    try:
        before = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DamagedState(path, e.strerror or str(e)) from None
    if stat.S_ISLNK(before.st_mode):
        raise UntrustedState(path, "a symbolic link")
    if not stat.S_ISREG(before.st_mode):
        raise UntrustedState(path, "not a regular file")
    _check_owner_and_mode(before, path, "clock state file")
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UntrustedState(path, "a symbolic link") from None
        raise DamagedState(path, e.strerror or str(e)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedState(path, "not a regular file")
        _check_owner_and_mode(st, path, "clock state file")
        if st.st_size > MAX_RECORD_BYTES:
            raise DamagedState(path, f"{st.st_size} bytes, larger than any record")
        chunks, size = [], 0
        while size <= MAX_RECORD_BYTES and (chunk := os.read(fd, 65536)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise DamagedState(path, e.strerror or str(e)) from None
    finally:
        os.close(fd)
    try:
        doc = json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as e:  # not UTF-8, not JSON, a number too long
        raise DamagedState(path, f"not JSON: {(str(e).splitlines() or [''])[0][:80]}") from None
    try:
        state = parse(doc)
    except targets.Refused as e:
        raise UntrustedState(path, str(e)) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as e:
        raise DamagedState(path, str(e)) from None
    if f"{_safe(state.key)}.json" != name:
        raise UntrustedState(path, f"it names {_show(state.key)}, whose record is {_safe(state.key)}.json")
    if state.backend == "jetson":
        try:
            targets.check_devfreq_target(state.key.removeprefix("jetson:"))
        except targets.Refused as e:
            raise UntrustedState(path, str(e)) from None
    return state


def read(key: str) -> ClockState | None:
    """The record of `key`, None when there is none; raises DamagedState (or UntrustedState) for
    one that is damaged or not trusted, or when the folder is not."""
    path = path_of(key)
    with _folder(create=False) as dfd:
        if dfd is None:
            return None
        return _load(dfd, path.name, path)


def read_or_none(key: str) -> ClockState | None:
    """For display: a damaged record reads as none (the caller warns through scan())."""
    try:
        return read(key)
    except DamagedState:
        return None


def remove(key: str) -> None:
    path = path_of(key)
    with _folder(create=False) as dfd:
        if dfd is None:
            return
        try:
            os.unlink(path.name, dir_fd=dfd)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise ClockError(f"cannot remove the clock record {path}: {e.strerror or e}") from None


def _is_record_name(name: str) -> bool:
    return name.endswith(".json") and _safe(name) == name


def scan() -> tuple[list[ClockState], list[DamagedState]]:
    """Every record, and every damaged or untrusted one (named, so that one bad file blocks nothing
    else); an untrusted folder is one untrusted entry and no records."""
    try:
        dfd = _open_dir(create=False)
    except DamagedState as e:
        return [], [e]
    if dfd is None:
        return [], []
    states: list[ClockState] = []
    damaged: list[DamagedState] = []
    try:
        d = state_dir()
        for name in sorted(n for n in os.listdir(dfd) if _is_record_name(n)):  # noqa: PTH208 (an open folder)
            try:
                if (st := _load(dfd, name, d / name)) is not None:
                    states.append(st)
            except DamagedState as e:
                damaged.append(e)
    finally:
        os.close(dfd)
    return states, damaged


def all_states() -> list[ClockState]:
    return scan()[0]


def check_private_file(path: Path) -> None:
    """Raises UntrustedState unless `path` is a regular file (not a symlink) of this user or root
    that nobody else may write: what jetson_clocks --restore may read."""
    try:
        st = path.lstat()
    except OSError as e:
        raise ClockError(f"cannot read {path}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UntrustedState(
            path, "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file", "jetson_clocks store file"
        )
    _check_owner_and_mode(st, path, "jetson_clocks store file")


def damaged_warning(d: DamagedState) -> str:
    if isinstance(d, UntrustedState) and d.what == "clock state folder":
        return (
            f"{d}: trtpace reads no clock record there and changes nothing in it (make it yours and "
            "writable only by you, or set TRTPACE_STATE_DIR)"
        )
    if isinstance(d, UntrustedState):
        return f"{d}: trtpace leaves it alone and acts on nothing it says (remove it if you did not put it there)"
    return (
        f"{d}: trtpace cannot tell what it locked there; check the clocks (`trtpace clocks show`), then "
        "remove the file (`trtpace clocks reset --all` resets NVIDIA GPUs whoever locked them and removes it)"
    )
