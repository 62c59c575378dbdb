"""The results folder as a place on disk: one writer at a time (an flock'ed lock file inside it),
inputs read only from regular files of bounded size, and outputs (reports, CSV, PNGs) written
atomically, never through a link and never over the run's own result files.

The lock: `.trtpace.lock` inside the folder, opened without following links, held with
flock(LOCK_EX) for as long as a run writes there. The kernel drops it when its process ends,
however it ends (SIGKILL included), so a folder is never left locked by a writer that is gone; a
lock file such a writer leaves behind is taken over by the next one. A clean release unlinks the
file (after checking it is still ours), so a finished folder holds only results. A forked child
closes its copies: it never keeps its parent's folder locked, nor releases it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import os
import stat
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trtpace.errors import ResultsWriteError, UsageError
from trtpace.fileio import atomic_write

LOCK_NAME = ".trtpace.lock"
SWEEP_JSON = "sweep.json"
MAX_SWEEP_JSON_BYTES = 256 << 20  # a sweep of ~20,000 conditions; anything larger is not ours
# What a run writes into its folder (temporary names included): never an output's target.
RESULT_PATTERNS = (SWEEP_JSON, LOCK_NAME, "condition-*.npz", ".sweep.json.*", ".condition-*.npz.*")


class FolderBusy(UsageError):
    """Another trtpace run is writing into the folder (it holds its lock)."""


def os_reason(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


def is_result_name(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in RESULT_PATTERNS)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def is_results_folder(directory: Path) -> bool:
    """Does `directory` hold a results run (a sweep.json, or a run's lock)?"""
    return any(os.path.lexists(directory / n) for n in (SWEEP_JSON, LOCK_NAME))


def same_folder(a: Path, b: Path) -> bool:
    """Are `a` and `b` one folder (through links, bind mounts, `..`)?"""
    ia, ib = _identity(a), _identity(b)
    return ia is not None and ia == ib


# -- the lock ---------------------------------------------------------------------------------

_live: weakref.WeakSet[FolderLock] = weakref.WeakSet()
_held: weakref.WeakValueDictionary[tuple[int, int], FolderLock] = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()
_kept: list[list[FolderLock]] = []  # the open held_through() blocks, innermost last


def _release(fd: int, dirfd: int, ino: tuple[int, int], owner: int) -> None:
    """Unlinks the lock file if it is still ours and closes it; in another process (a forked child)
    it only closes its copies."""
    try:
        if os.getpid() == owner:
            with contextlib.suppress(OSError):
                st = os.stat(LOCK_NAME, dir_fd=dirfd, follow_symlinks=False)
                if (st.st_dev, st.st_ino) == ino:
                    os.unlink(LOCK_NAME, dir_fd=dirfd)
    finally:
        for f in (fd, dirfd):
            with contextlib.suppress(OSError):
                os.close(f)


class FolderLock:
    """The one writer's hold on a results folder (see the module's docstring)."""

    def __init__(self, directory: Path, fd: int, dirfd: int, ino: tuple[int, int], folder_id: tuple[int, int]):
        self.directory, self.folder_id = directory, folder_id
        self._finalizer = weakref.finalize(self, _release, fd, dirfd, ino, os.getpid())
        with _registry_lock:
            _live.add(self)
            _held.setdefault(folder_id, self)

    @property
    def held(self) -> bool:
        return self._finalizer.alive

    def release(self, *, now: bool = False) -> None:
        """Gives the folder up (idempotent). Inside `held_through()` the release waits for the end
        of that block, unless `now` (a writer removing the folder it made needs its lock file gone)."""
        with _registry_lock:
            if not now and _kept and self.held:
                if self not in _kept[-1]:
                    _kept[-1].append(self)
                return
            if _held.get(self.folder_id) is self:
                del _held[self.folder_id]
        self._finalizer()

    def _forget_in_child(self) -> None:
        detached = self._finalizer.detach()
        if detached is not None:
            # The child's copies only: the parent's lock stays held, and the child never keeps it.
            fd, dirfd = detached[2][:2]
            for f in (fd, dirfd):
                with contextlib.suppress(OSError):
                    os.close(f)

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @classmethod
    def acquire(cls, directory: str | Path, *, what: str = "results") -> FolderLock:
        """Takes `directory`'s lock or raises: UsageError (one line) when another writer holds it,
        or when the lock file is not a plain file; ResultsWriteError when it cannot be made."""
        directory = Path(directory)
        for _ in range(50):
            try:
                dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as e:
                raise UsageError(f"cannot write {what} to {directory}: {os_reason(e)}") from None
            try:
                lock = cls._try(directory, dirfd, what)
            except BaseException:
                os.close(dirfd)
                raise
            if lock is not None:
                return lock
            os.close(dirfd)  # the file was unlinked under us by a writer that released it: again
        raise UsageError(f"cannot lock {directory}: its lock file keeps changing (another trtpace run?)")

    @classmethod
    def _try(cls, directory: Path, dirfd: int, what: str) -> FolderLock | None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
        try:
            fd = os.open(LOCK_NAME, flags, 0o666, dir_fd=dirfd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise UsageError(
                    f"{directory / LOCK_NAME} is a symbolic link, not a trtpace lock: remove it before writing there"
                ) from None
            if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise UsageError(f"cannot write {what} to {directory}: {os_reason(e)}") from None
            raise ResultsWriteError(f"cannot write {what} to {directory}: {os_reason(e)}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(
                    f"{directory / LOCK_NAME} is not a plain file, not a trtpace lock: remove it before writing there"
                )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                raise FolderBusy(
                    f"{directory} is being written by another trtpace run"
                    f"{f' (pid {holder})' if holder else ''}: wait for it to end, or name another "
                    "folder"
                ) from None
            except OSError as e:  # ENOLCK, EOPNOTSUPP: one writer at a time cannot be promised there
                raise UsageError(
                    f"cannot lock {directory} for {what}: {os_reason(e)} (its file system does not "
                    "support file locks; name a folder on another one)"
                ) from None
            try:
                now = os.stat(LOCK_NAME, dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                os.close(fd)
                return None
            with contextlib.suppress(OSError):  # only for the message a second writer gets
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            folder = os.fstat(dirfd)
            return cls(directory, fd, dirfd, (st.st_dev, st.st_ino), (folder.st_dev, folder.st_ino))
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise


@contextlib.contextmanager
def held_through() -> Iterator[None]:
    """Folder locks this process releases inside the block stay held until it ends: a command
    keeps its run's folder through what it writes there after the run (report.html, read back
    whole for an --append), so no other run takes the folder in between."""
    kept: list[FolderLock] = []
    with _registry_lock:
        _kept.append(kept)
    try:
        yield
    finally:
        with _registry_lock:
            _kept[:] = [k for k in _kept if k is not kept]
        for lock in kept:
            lock.release()


def _holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and 0 < int(text) < 1 << 32 else None


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()  # another thread may have held it at the fork
    for lock in list(_live):
        lock._forget_in_child()
    _held.clear()
    _kept.clear()  # a child holds nothing of its parent's


os.register_at_fork(after_in_child=_after_fork_in_child)


def is_locked(directory: Path) -> bool:
    """Does a live process hold `directory`'s lock? (For tests and tools; never blocks.)"""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def being_written(directory: Path) -> bool:
    """Does another live process hold `directory`'s lock, by /proc/locks? Reading that takes no
    lock (is_locked's trial flock would refuse a writer starting that moment), so a reader may ask
    it any time; False where /proc/locks is not there or does not show the lock, and where this
    process holds it (a report writing into the folder it reads)."""
    ident = _identity(directory)
    with _registry_lock:
        mine = _held.get(ident) if ident is not None else None
    if mine is not None and mine.held:
        return False
    try:
        st = (directory / LOCK_NAME).lstat()
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            text = f.read(1 << 22)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    # "1: FLOCK  ADVISORY  WRITE 12806 fe:00:2146793 0 EOF"; a blocked waiter's line has "->"
    return any(
        len(p) >= 6 and p[1] == "FLOCK" and p[3] == "WRITE" and p[5] == inode and "->" not in p
        for p in (line.split() for line in text.splitlines())
    )


@contextlib.contextmanager
def writing_into(directory: Path, *, what: str = "the report") -> Iterator[None]:
    """Holds `directory`'s lock around a write into it when it is a results folder (reusing this
    process's own hold on it, if any): another run writing there refuses the write in one line."""
    if not is_results_folder(directory):
        yield
        return
    ident = _identity(directory)
    with _registry_lock:
        mine = _held.get(ident) if ident is not None else None
    if mine is not None and mine.held:
        yield
        return
    with FolderLock.acquire(directory, what=what):
        yield


# -- reading inputs ---------------------------------------------------------------------------


def open_regular(path: Path, cap: int, what: str) -> tuple[int, int]:
    """Opens `path` for reading without blocking (a FIFO never hangs), requires a regular file of
    at most `cap` bytes; returns (fd, size). OSError when it cannot be opened, ValueError (one
    line) when it is not a regular file or too large."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(st.st_mode)
                else "a device"
                if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a folder"
                if stat.S_ISDIR(st.st_mode)
                else "not a plain file"
            )
            raise ValueError(f"{what} is {kind}, not a regular file")
        if st.st_size > cap:
            raise ValueError(f"{what} is {st.st_size} bytes, over the {cap} bytes a trtpace results file can be")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_regular(path: Path, cap: int, what: str) -> bytes:
    """The whole of a regular file of at most `cap` bytes (see open_regular)."""
    fd, _ = open_regular(path, cap, what)
    with os.fdopen(fd, "rb") as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"{what} grew past {cap} bytes while read")
    return data


# -- writing outputs --------------------------------------------------------------------------


def check_output(flag: str, path: Path, folders: list[Path] | None = None) -> None:
    """An output (report, CSV, PNG) may not be a link, a folder or anything but a plain file, nor
    one of the result files of a results folder (`folders`, or the one it would land in): one
    line, UsageError."""
    label = f"{flag} {path}" if flag else str(path)
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise UsageError(f"{label}: {os_reason(e)}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise UsageError(
                f"{label} is a symbolic link: trtpace does not write through links (remove it, or name another file)"
            )
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{label} is a folder: give a file name")
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{label} is not a plain file: name another file")
    parent = path.parent
    inside = [f for f in (folders or []) if same_folder(parent, f)]
    if (inside or is_results_folder(parent)) and is_result_name(path.name):
        raise UsageError(f"{label} is one of the results it reports ({path.name}): name another file")


def write_output(path: str | Path, data: bytes, *, flag: str = "") -> Path:
    """Writes a report output atomically (a temporary file in the same folder, fsync, rename), so
    a reader never sees half of it and a link at `path` is never followed (it is refused). Into a
    results folder only while no other run writes there. UsageError or ResultsWriteError, one line."""
    p = Path(path)
    check_output(flag, p)
    with writing_into(p.parent):
        try:
            atomic_write(p, lambda f: f.write(data))
        except OSError as e:
            raise ResultsWriteError(f"cannot write {p}: {os_reason(e)}") from None
    return p


def make_output_folder(directory: str | Path, flag: str = "--png") -> Path:
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{flag} {d} is a file: give a folder") from None
    except OSError as e:
        raise ResultsWriteError(f"cannot write {d}: {os_reason(e)}") from None
    return d


__all__: list[Any] = [
    "LOCK_NAME",
    "FolderBusy",
    "FolderLock",
    "ResultsWriteError",
    "being_written",
    "check_output",
    "held_through",
    "is_locked",
    "is_result_name",
    "is_results_folder",
    "make_output_folder",
    "open_regular",
    "read_regular",
    "same_folder",
    "write_output",
    "writing_into",
]
