"""What trtpace locked, per GPU, and who holds it: records that survive a crash, shared by processes.

NVML cannot read a lock back, so trtpace writes down what it set *before* setting it. One record
per GPU (`<key>.json`) holds the target, the clocks found before the first lock (restored when the
last owner lets go) and the owners: one entry per process or `trtpace clocks lock` holding it.
Every read-modify-write of a record happens under an exclusive `flock` on `<key>.lock`, so two
processes locking, joining or releasing one GPU never see half a change.

An owner is either a process (its share ends when it exits; a crash or kill -9 leaves it to the
next trtpace command that looks, which drops it once its pid is gone on this host) or held until
`trtpace clocks reset` (`trtpace clocks lock`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trtpace.fileio import atomic_write
from trtpace.platform.clocks.errors import ClockError

HOLD_PROCESS = "process"  # until the owning process exits
HOLD_UNTIL_RESET = "until-reset"  # `trtpace clocks lock`: until `trtpace clocks reset`
_FLOCK_TIMEOUT_S = 30.0


def state_dir() -> Path:
    """TRTPACE_STATE_DIR, else /var/lib/trtpace/clocks for root, else the user's cache."""
    if env := os.environ.get("TRTPACE_STATE_DIR"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/trtpace/clocks")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "trtpace" / "clocks"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@dataclass
class Owner:
    """One holder of a GPU's lock."""

    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    time_unix: float = field(default_factory=time.time)
    hold: str = HOLD_PROCESS
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def alive(self) -> bool:
        """False only for a process owner whose pid is gone on this host (crash, kill -9)."""
        if self.hold == HOLD_UNTIL_RESET or self.host != socket.gethostname():
            return True  # held until reset, or another machine's process (shared home): not ours to judge
        return pid_alive(self.pid)

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


@dataclass
class ClockState:
    """One GPU's lock as trtpace set it, and who holds it."""

    key: str                          # PCI bus id, or "jetson:<devfreq node>"
    backend: str                      # nvml | nvidia-smi | jetson | jetson_clocks
    sm_mhz: list[int] | None = None   # [min, max]; symbolic TDP limits are stored as written
    mem_mhz: list[int] | None = None
    saved: dict[str, Any] = field(default_factory=dict)  # Jetson: the sysfs values to restore
    owners: list[Owner] = field(default_factory=list)
    time_unix: float = field(default_factory=time.time)  # when the first owner locked

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
        if self.saved:
            parts.append("devfreq min := max")
        return ", ".join(parts) or "locked"

    @property
    def stale(self) -> bool:
        """Nobody alive holds it, but the clocks are still set."""
        return not any(o.alive for o in self.owners)

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time_unix))
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


def _require(doc: dict[str, Any], name: str, types: type | tuple[type, ...], optional: bool = False) -> Any:
    value = doc.get(name)
    if value is None and optional:
        return None
    # bool is an int to Python, never a pid or a clock here.
    if not isinstance(value, types) or isinstance(value, bool):
        raise TypeError(f"field {name!r} is {type(value).__name__}, not {getattr(types, '__name__', types)}")
    return value


def _mhz_pair(doc: dict[str, Any], name: str) -> list[int] | None:
    value = _require(doc, name, list, optional=True)
    if value is not None and (len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                                         for v in value)):
        raise ValueError(f"field {name!r} is not a [min, max] pair of whole MHz")
    return value


def _owner(doc: Any) -> Owner:
    if not isinstance(doc, dict):
        raise TypeError("an owner is not an object")
    hold = _require(doc, "hold", str)
    if hold not in (HOLD_PROCESS, HOLD_UNTIL_RESET):
        raise ValueError(f"unknown hold {hold!r}")
    return Owner(pid=_require(doc, "pid", int), host=_require(doc, "host", str),
                 time_unix=float(_require(doc, "time_unix", (int, float))), hold=hold, id=_require(doc, "id", str))


def parse(doc: Any) -> ClockState:
    """A record from its JSON, checking every field's type (a wrong type must not crash a sweep later)."""
    if not isinstance(doc, dict):
        raise TypeError(f"a {type(doc).__name__}, not an object")
    if "owners" not in doc and "pid" in doc:
        # Written by trtpace before owners were counted: one process owner.
        doc = {**doc, "owners": [{"pid": doc["pid"], "host": doc.get("host"), "time_unix": doc.get("time_unix"),
                                  "hold": HOLD_PROCESS, "id": "legacy"}]}
    saved = _require(doc, "saved", dict, optional=True) or {}
    if not all(isinstance(v, str) for v in saved.values()):
        raise ValueError("field 'saved' holds a value that is not text")
    return ClockState(
        key=_require(doc, "key", str),
        backend=_require(doc, "backend", str),
        sm_mhz=_mhz_pair(doc, "sm_mhz"),
        mem_mhz=_mhz_pair(doc, "mem_mhz"),
        saved=saved,
        owners=[_owner(o) for o in _require(doc, "owners", list)],
        time_unix=float(_require(doc, "time_unix", (int, float))),
    )


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in key)


def path_of(key: str) -> Path:
    return state_dir() / f"{_safe(key)}.json"


@contextlib.contextmanager
def guarded(key: str) -> Iterator[None]:
    """Holds the exclusive flock of `key`'s record: one process at a time reads and changes it."""
    d = state_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(d / f"{_safe(key)}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except PermissionError:  # a lock file made by another user: flock works on a read-only fd too
            fd = os.open(d / f"{_safe(key)}.lock", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ClockError(f"cannot open the clock lock file in {d}: {e.strerror or e}") from None
    try:
        # Polled, not blocking: a signal handler releasing clocks while this thread holds the flock
        # must end in an error, never in a hang.
        deadline = time.monotonic() + _FLOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise ClockError(f"cannot take the clock lock of {key} in {d}: another trtpace process "
                                     "holds it") from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing drops the flock


def write(state: ClockState) -> None:
    """Call under guarded(state.key)."""
    path = path_of(state.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(state.to_json(), indent=2).encode()
    atomic_write(path, lambda f: f.write(text))


def _read_path(path: Path) -> ClockState:
    try:
        doc = json.loads(path.read_bytes())
    except OSError as e:
        raise DamagedState(path, e.strerror or str(e)) from None
    except (ValueError, RecursionError) as e:  # not UTF-8, not JSON
        raise DamagedState(path, f"not JSON: {str(e).splitlines()[0][:80]}") from None
    try:
        return parse(doc)
    except (ValueError, TypeError) as e:
        raise DamagedState(path, str(e)) from None


def read(key: str) -> ClockState | None:
    """The record of `key`, None when there is none; raises DamagedState for a damaged one."""
    path = path_of(key)
    if not path.exists():
        return None
    return _read_path(path)


def read_or_none(key: str) -> ClockState | None:
    """For display: a damaged record reads as none (the caller warns through scan())."""
    try:
        return read(key)
    except DamagedState:
        return None


def remove(key: str) -> None:
    path_of(key).unlink(missing_ok=True)


def scan() -> tuple[list[ClockState], list[DamagedState]]:
    """Every record, and every damaged one (named, so that one bad file blocks nothing else)."""
    d = state_dir()
    if not d.is_dir():
        return [], []
    states, damaged = [], []
    for p in sorted(d.glob("*.json")):
        try:
            states.append(_read_path(p))
        except DamagedState as e:
            damaged.append(e)
    return states, damaged


def all_states() -> list[ClockState]:
    return scan()[0]


def damaged_warning(d: DamagedState) -> str:
    return (f"{d}: trtpace cannot tell what it locked there; check the clocks (`trtpace clocks show`), then "
            "remove the file (`trtpace clocks reset --all` resets NVIDIA GPUs whoever locked them and removes it)")
