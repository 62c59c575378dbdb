"""Writing a results folder as a run goes (ResultWriter: each condition lands as it finishes,
under the folder's lock, never over another run), and saving a finished result whole."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from trtpace.errors import InputError, UsageError
from trtpace.fileio import atomic_write, dumps
from trtpace.results.condition import ConditionResult, recorded_gap_work
from trtpace.results.folder import (
    LOCK_NAME,
    MAX_SWEEP_JSON_BYTES,
    FolderLock,
    ResultsWriteError,
    os_reason,
    read_regular,
)
from trtpace.results.reader import load
from trtpace.results.result import FORMAT, SweepResult
from trtpace.results.schema import (
    RUN_FILES,
    command_of,
)

OUT_MODES = ("new", "unique", "overwrite", "append")


def _first_missing(path: Path) -> Path:
    """The outermost folder that mkdir(parents=True) would create for `path`."""
    top = path.absolute()
    for p in top.parents:
        if p.exists():
            break
        top = p
    return top


def _gpus(environment: dict[str, Any]) -> str:
    """The GPU(s) a run measured on, in words: by UUID, else bus id, else name ("none" for host
    work). Not the host name, which a container changes on every start."""
    gpus = environment.get("gpus") or ([environment["gpu"]] if isinstance(environment.get("gpu"), dict) else [])
    which = [str(g.get("uuid") or g.get("pci_bus_id") or g.get("name") or "?") for g in gpus if isinstance(g, dict)]
    return ", ".join(which) or "none"


def _compare_identity(
    settings: dict[str, Any], conditions: list[ConditionResult] | None = None, environment: dict[str, Any] | None = None
) -> dict[str, str]:
    """What a compare's rounds pool over, in words: its GPU, workload, gap, launch paths, host I/O
    and gap work (from the settings; a run written before some were recorded, from its
    conditions)."""
    conds = conditions or []
    gapped = [c for c in conds if not c.pacing.is_continuous]
    gap = settings.get("gap_s")
    if not isinstance(gap, (int, float)) or isinstance(gap, bool):
        gaps = sorted({c.pacing.gap_s for c in gapped})
        gap = gaps[0] if len(gaps) == 1 else None
    launch = settings.get("launch")
    io = settings.get("io")
    if io is None and conditions is not None:
        io = sorted({c.copies for c in conds}) or ["none"]
    works = list(dict.fromkeys(c.gap_work_spec for c in gapped))
    work = ", ".join(works) if conditions is not None and works else recorded_gap_work(settings.get("gap_work"))["spec"]
    return {
        "GPU": _gpus(environment or {}),
        "workload": str(settings.get("workload", "")),
        "gap": f"{gap:g} s" if isinstance(gap, (int, float)) and math.isfinite(gap) else "?",
        "launch paths": ", ".join(sorted(str(x) or "host" for x in launch)) if isinstance(launch, list) else "-",
        "--io": ", ".join(sorted(map(str, io))) if isinstance(io, list) else str(io or "none"),
        "--gap-work": work,
    }


class ResultWriter:
    """Keeps a results folder current while a sweep runs: each condition lands as it finishes.

    mode "new": the folder must not exist or be empty (two runs never share one); "unique": like
    new, but a taken name gets -2, -3, ... appended; "overwrite": the earlier run's files
    (sweep.json, report.html, condition files) are removed first, anything else stays; "append":
    the conditions are added to the run already there, which must load and be of the same command
    (sweep or compare); its environment and settings stay, the appended run's go into `appended`
    and its conditions carry the run's number (`ConditionResult.run`). A sweep's conditions stay
    rows of their own whatever their settings (gap work, gap, workload included), each against
    its own run's baseline; a compare is refused onto a run of another GPU, workload,
    gap, launch paths, host I/O or gap work, since it pools each policy's rounds.

    One writer at a time: the folder's lock (trtpace.results.folder) is taken before anything
    there changes and held until `close()` (or the writer is dropped, or its process ends); a
    second writer is refused in one line (UsageError) and changes nothing. A condition file is
    written to a temporary name and renamed only when whole. A write that fails (a full disk, a
    file-size limit) raises ResultsWriteError (one line), keeping every condition written before.
    """

    def __init__(self, directory: str | Path, environment: dict[str, Any], settings: dict[str, Any], mode: str = "new"):
        if mode not in OUT_MODES:
            raise UsageError(f"unknown results folder mode {mode!r} (expected {', '.join(OUT_MODES)})")
        self.directory = Path(directory)
        if not str(directory).strip():
            raise UsageError("the results folder name is empty (it would write into the current folder)")
        self.created = False  # this writer made the folder: it removes it if no condition lands
        self._top = self.directory.absolute()  # the outermost folder it made (parents included)
        self.finished = 0  # conditions whose file landed whole
        self.run = 0  # this run's number in the folder: 0, or 1, 2, ... for each --append
        self._doc: dict[str, Any] = {
            "format": FORMAT,
            "environment": environment,
            "settings": settings,
            "conditions": [],
        }
        self._original: bytes | None = None
        self._lock: FolderLock | None = None
        self._made_sweep_json = False
        self._closed = False
        try:
            if mode in ("new", "unique"):
                self._claim(unique=mode == "unique")
            elif mode == "overwrite":
                self._prepare_overwrite()
            else:
                self._prepare_append(environment, settings)
            self._flush()
        except BaseException as e:
            if self._made_sweep_json:
                with contextlib.suppress(OSError):
                    (self.directory / "sweep.json").unlink(missing_ok=True)
            self._release()
            self._undo_claim()
            if isinstance(e, (OSError, ResultsWriteError)):
                reason = os_reason(e) if isinstance(e, OSError) else str(e).rpartition(": ")[2]
                raise UsageError(f"cannot write results to {self.directory}: {reason}") from None
            raise

    @property
    def locked(self) -> bool:
        """Does this writer still hold its folder?"""
        return not self._closed and self._lock is not None and self._lock.held

    def close(self) -> None:
        """Gives the folder up to the next writer (idempotent); the results stay. Inside
        trtpace.results.folder.held_through() the folder stays locked until that block ends."""
        self._closed = True
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _release(self) -> None:
        """Gives the folder up at once (a writer undoing its claim removes the lock file first)."""
        if self._lock is not None:
            self._lock.release(now=True)

    def _take(self, directory: Path) -> None:
        self._lock = FolderLock.acquire(directory)

    def _claim(self, unique: bool) -> None:
        base = self.directory
        for n in range(1, 10_000):
            candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
            top = _first_missing(candidate)
            self.created = False
            try:
                candidate.mkdir(parents=True)
                self.directory, self.created, self._top = candidate, True, top
            except FileExistsError:
                if not candidate.is_dir():
                    raise UsageError(f"cannot write results to {candidate}: it is a file") from None
                if _holds_files(candidate):
                    if unique:
                        continue
                    raise _holds_a_run(candidate) from None
                self.directory = candidate  # an empty folder made beforehand
            try:
                self._take(self.directory)
            except UsageError:
                if unique:  # another run took it first
                    continue
                raise
            try:
                # O_EXCL: of two runs started together into one empty folder, one gets it.
                os.close(os.open(self.directory / "sweep.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                self._made_sweep_json = True
                return
            except FileExistsError:
                self._release()
                if unique:
                    continue
                raise _holds_a_run(candidate) from None
        raise UsageError(f"no free results folder name next to {base}")

    def _prepare_overwrite(self) -> None:
        if self.directory.exists() and not self.directory.is_dir():
            raise UsageError(f"cannot write results to {self.directory}: it is a file")
        if not self.directory.exists():
            self._top = _first_missing(self.directory)
            self.directory.mkdir(parents=True)
            self.created = True
            self._take(self.directory)
            return
        self._take(self.directory)  # before anything there is removed: a run writing there keeps it
        # The condition files first, sweep.json last: a crash half way leaves the earlier run's
        # entries (loading as lost), never a stray file that a later run could take for its own.
        for pattern in (*RUN_FILES[1:], RUN_FILES[0]):
            for p in self.directory.glob(pattern):
                if p.is_symlink() or p.is_file():
                    p.unlink()  # a link itself, never what it points to

    def _prepare_append(self, environment: dict[str, Any], settings: dict[str, Any]) -> None:
        if not self.directory.is_dir():
            raise UsageError(
                f"--append: {self.directory} holds no trtpace results "
                f"({'it is a file' if self.directory.exists() else 'it does not exist'})"
            )
        self._take(self.directory)  # before reading: the run found there is the one appended to
        try:
            earlier = load(self.directory)
        except InputError as e:
            raise UsageError(f"--append: {e}") from None
        if command_of(earlier.settings) != command_of(settings):
            raise UsageError(
                f"--append: {self.directory} holds a {command_of(earlier.settings)} run, not a {command_of(settings)} run"
            )
        if command_of(settings) == "compare":
            # A compare pools each policy's rounds: another GPU, workload, gap, launch
            # paths, host I/O or gap work would pool with them.
            before = _compare_identity(earlier.settings, earlier.conditions, earlier.environment)
            now = _compare_identity(settings, environment=environment)
            differ = [k for k in before if before[k] != now[k]]
            if differ:
                said = "; ".join(f"{k} {before[k]}, not {now[k]}" for k in differ)
                raise UsageError(
                    f"--append: {self.directory} holds a compare run with {said}: its policies' rounds "
                    "would pool across them; write this run to another folder"
                )
        else:
            # A sweep keeps each run's rows against its own baseline, but one folder is one
            # machine: its report speaks of one GPU. Another GPU's run goes to its own folder.
            gpus_before, gpus_now = _gpus(earlier.environment), _gpus(environment)
            if gpus_before != gpus_now:
                raise UsageError(
                    f"--append: {self.directory} holds a sweep measured on {gpus_before}, not {gpus_now}: write this run "
                    "to another folder (trtpace report A B shows machines side by side)"
                )
        try:
            self._original = read_regular(self.directory / "sweep.json", MAX_SWEEP_JSON_BYTES, "sweep.json")
        except ValueError as e:
            raise UsageError(f"--append: {e}") from None
        doc = json.loads(self._original)
        doc.setdefault("appended", []).append({"environment": environment, "settings": settings})
        self.run = len(doc["appended"])
        self._doc = doc
        taken = {e.get("file") for e in doc["conditions"] if isinstance(e, dict)}
        taken |= {p.name for p in self.directory.glob("condition-*.npz")}
        self._next_file = (
            max((int(n[10:-4]) for n in taken if isinstance(n, str) and n[10:-4].isdigit()), default=-1) + 1
        )

    def _file_name(self, index: int) -> str:
        if self._original is None:
            return f"condition-{index:03d}.npz"
        name = f"condition-{self._next_file:03d}.npz"
        self._next_file += 1
        return name

    def _failed(self, what: str, e: OSError) -> ResultsWriteError:
        kept = (
            f"the {self.finished} condition(s) written before are kept"
            if self.finished
            else "no condition of this run was written"
        )
        return ResultsWriteError(f"cannot write {what} in {self.directory}: {os_reason(e)}; {kept}")

    def begin(self, c: ConditionResult) -> int:
        """Announces a condition before it runs; after a hard crash it loads as 'lost'. The
        condition becomes one of this writer's run (`c.run`)."""
        self._check_held()
        c.run = self.run
        index = len(self._doc["conditions"])
        self._doc["conditions"].append({**c.meta(), "status": "running", "file": self._file_name(index)})
        try:
            self._flush()
        except OSError as e:
            self._doc["conditions"].pop()
            raise self._failed("sweep.json", e) from None
        return index

    def finish(self, index: int, c: ConditionResult) -> None:
        """Writes condition `index` (announced by begin): its file whole under a temporary name, then
        renamed; then sweep.json. A failure says so in one line (ResultsWriteError); the entry then
        says why it has no file, where the disk still allows."""
        self._check_held()
        entry = self._doc["conditions"][index]
        arrays: dict[str, Any] = {**c.records, **c.telemetry}
        try:
            atomic_write(self.directory / entry["file"], lambda f: np.savez(f, **arrays))
        except OSError as e:
            error = self._failed(entry["file"], e)
            entry.update(c.meta())
            entry["status"] = "lost"
            entry["info"] = {**entry["info"], "write_error": f"{entry['file']} could not be written: {os_reason(e)}"}
            with contextlib.suppress(OSError):
                self._flush()
            raise error from None
        self.finished += 1  # the file is whole: it loads as measured even if sweep.json lags behind
        entry.update(c.meta())
        entry["summary"] = c.summary()
        try:
            self._flush()
        except OSError as e:
            raise self._failed("sweep.json", e) from None

    def add(self, c: ConditionResult) -> None:
        self.finish(self.begin(c), c)

    def discard(self) -> None:
        """For a run that failed before any condition landed: leaves no empty folder behind, and an
        appended-to run as it was (as far as the disk allows: it never raises), and gives the folder
        up. Once a condition landed there is nothing to undo: close() gives the folder up."""
        if self.finished:
            return
        try:
            if self._original is not None:
                original = self._original
                with contextlib.suppress(OSError):
                    atomic_write(self.directory / "sweep.json", lambda f: f.write(original))
                return
            with contextlib.suppress(OSError):
                (self.directory / "sweep.json").unlink(missing_ok=True)
            self._release()
            self._undo_claim()
        finally:
            self._release()

    def _check_held(self) -> None:
        if self._closed or self._lock is None or not self._lock.held:
            raise UsageError(f"this writer gave {self.directory} up (closed): open a new one to write there")

    def _undo_claim(self) -> None:
        if not self.created:
            return
        d = self.directory.absolute()
        with contextlib.suppress(OSError):  # not empty after all: someone else's files stay
            while True:
                d.rmdir()
                if d == self._top:
                    break
                d = d.parent

    def _flush(self) -> None:
        text = dumps(self._doc).encode()
        atomic_write(self.directory / "sweep.json", lambda f: f.write(text))


def _holds_a_run(folder: Path) -> UsageError:
    return UsageError(
        f"{folder} already holds files: pass --overwrite to replace an earlier run there, --append to add to it, "
        "or name a new folder"
    )


def _holds_files(folder: Path) -> bool:
    """Anything in `folder` but a lock file a killed writer left behind."""
    return any(p.name != LOCK_NAME for p in folder.iterdir())


def check_writable(directory: Path) -> None:
    """Creates `directory` and proves a file can be written there, or raises a one-line UsageError."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise UsageError(f"cannot write to {directory}: {os_reason(e)}") from None


def save(result: SweepResult, directory: str | Path, mode: str = "new") -> Path:
    """Writes a whole result to `directory` (see ResultWriter for `mode`); gives the folder up after.
    The runs of a loaded folder stay apart in the copy (numbered after those already there)."""
    with ResultWriter(directory, result.environment, result.settings, mode) as writer:
        for c in result.conditions:
            copy = dataclasses.replace(c)
            index = writer.begin(copy)
            copy.run = writer.run + c.run
            writer.finish(index, copy)
    result.path = writer.directory
    return writer.directory
