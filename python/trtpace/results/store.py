"""Results folders on disk: written condition by condition as a run goes, read back whole or partial.

A results folder holds `sweep.json` (environment, settings, and one entry per condition with its
status and summary) and one `condition-NNN.npz` of per-inference arrays per finished condition.
Conditions are written as they finish, so a crash or Ctrl-C keeps every finished one; a condition
that was running is marked 'partial' (records up to the interruption saved) or, after a hard
crash, 'lost'.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from trtpace.errors import InputError, UsageError
from trtpace.fileio import atomic_write, dumps
from trtpace.measure.pacing import Pacing
from trtpace.measure.records import FLAG_COLUMNS, NS_COLUMNS, RECORD_COLUMNS
from trtpace.results import validate
from trtpace.results.condition import ConditionResult, recorded_gap_work
from trtpace.results.folder import (
    LOCK_NAME,
    MAX_SWEEP_JSON_BYTES,
    FolderLock,
    ResultsWriteError,
    being_written,
    open_regular,
    os_reason,
    read_regular,
)
from trtpace.results.info import split_info
from trtpace.results.result import FORMAT, SweepResult

OUT_MODES = ("new", "unique", "overwrite", "append")
REQUIRED_COLUMNS = ("due_ns", "issue_ns", "submitted_ns", "done_ns", "device_us")  # the rest came later
_STATUSES = ("done", "partial", "lost", "running")
# What a run writes into its folder; --overwrite removes exactly these (its lock file stays: held).
_RUN_FILES = ("sweep.json", "report.html", "condition-*.npz", ".sweep.json.*", ".condition-*.npz.*", ".report.html.*")
_CONDITION_FILE = re.compile(r"condition-\d{3,9}\.npz")
_TELEMETRY_INT = ("tel_t_ns", "tel_clk_t_ns", "tel_cpu_t_ns", "tel_cpu_core")
# Each sampler's columns: its time column, the columns reading them needs, and a shared length.
_TELEMETRY_GROUPS = (
    ("tel_clk_", "tel_clk_t_ns", ("tel_clk_sm_mhz",)),
    ("tel_cpu_", "tel_cpu_t_ns", ("tel_cpu_khz",)),
    ("tel_", "tel_t_ns", ("tel_sm_mhz", "tel_power_mw", "tel_energy_mj")),
)
_MAX_CONDITION_BYTES = 64 << 30
_MAX_DECOMPRESSED = 256 << 20  # beyond the file's own size, what deflated members may expand to


def _command(settings: dict[str, Any]) -> str:
    return str(settings.get("command", "sweep"))


def _entry(entry: Any) -> dict[str, Any]:
    """One condition's entry of sweep.json, every field checked (ValueError/TypeError say which)."""
    if not isinstance(entry, dict):
        raise TypeError(f"a {type(entry).__name__}, not an object")
    out: dict[str, Any] = {}
    for name, types, default in (
        ("workload", str, None),
        ("wait", str, None),
        ("sync", str, None),
        ("warmup", int, None),
        ("iterations", int, None),
        ("status", str, None),
        ("file", str, None),
        ("device_timing", str, ""),
        ("info", dict, {}),
        ("clocks", str, "default"),
        ("policy", str, ""),
        ("pacing", dict, None),
        ("run", int, 0),
    ):
        value = entry.get(name, default)
        if value is None:
            raise ValueError(f"no {name!r}")
        if not isinstance(value, types) or isinstance(value, bool):
            raise TypeError(f"{name!r} is {type(value).__name__}, not {types.__name__}")
        out[name] = value
    if not (0 <= out["warmup"] <= 1 << 40 and 0 <= out["iterations"] <= 1 << 40):
        raise ValueError("warm-up or iterations out of range")
    if not 0 <= out["run"] <= 1 << 20:
        raise ValueError("'run' out of range")
    if out["status"] not in _STATUSES:
        raise ValueError(f"unknown status {out['status'][:40]!r}")
    if not _CONDITION_FILE.fullmatch(out["file"]):
        raise ValueError(f"'file' {out['file'][:60]!r} is not a condition file inside the folder")
    out["pacing"] = Pacing.from_json(out["pacing"])
    return out


def _first_missing(path: Path) -> Path:
    """The outermost folder that mkdir(parents=True) would create for `path`."""
    top = path.absolute()
    for p in top.parents:
        if p.exists():
            break
        top = p
    return top


def _column(name: str, dtype: np.dtype[Any], data: bytes) -> np.ndarray:
    """A record or telemetry column from its raw bytes, in the dtype trtpace computes with: record
    columns in whole nanoseconds and flags as the core's column table has them, the others floats
    (NaN: not measured)."""
    kinds = "biu" if name in FLAG_COLUMNS else "iu" if name in NS_COLUMNS or name in _TELEMETRY_INT else "iuf"
    if dtype.kind not in kinds or dtype.hasobject or dtype.itemsize > 8:
        raise ValueError(f"column {name} is {dtype} ({'whole numbers' if kinds == 'iu' else 'numbers'} expected)")
    a = np.frombuffer(data, dtype=dtype)
    if name in FLAG_COLUMNS:
        return a.astype(bool)
    if kinds == "iu":
        if dtype.kind == "u" and a.size and int(a.max()) > np.iinfo(np.int64).max:
            raise ValueError(f"column {name} holds a time out of range")
        return a.astype(np.int64)
    out = a.astype(np.float64)
    if np.isinf(out).any():
        raise ValueError(f"column {name} holds an infinite value")
    return out


def _npy_header(m: Any, name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """A member's .npy header: its shape and dtype, read without reading the data."""
    try:
        version = np.lib.format.read_magic(m)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(m)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(m)
        else:
            raise ValueError(f"column {name} is in .npy format {version}, which trtpace does not write")
    except (zipfile.BadZipFile, OSError):
        raise
    except Exception as e:  # numpy's header parser raises what the text provokes (SyntaxError, ...)
        if isinstance(e, ValueError) and str(e).startswith("column "):
            raise
        raise ValueError(f"column {name}: its .npy header is unreadable ({type(e).__name__})") from None
    return shape, dtype


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, file_size: int) -> np.ndarray:
    """One .npy member, its sizes checked against the file before anything is allocated."""
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise ValueError(f"column {name}: its stored sizes disagree")
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if info.file_size > 1032 * info.compress_size + 1024:
            raise ValueError(f"column {name} claims more than its compressed data can hold")
    else:
        raise ValueError(f"column {name} is compressed in a way trtpace does not read")
    if info.header_offset + info.compress_size > file_size:
        raise ValueError(f"column {name} runs past the end of the file")
    with zf.open(info) as m:
        shape, dtype = _npy_header(m, name)
        header = m.tell()
        if len(shape) != 1:
            raise ValueError(f"column {name} is not a 1-D array (shape {shape})")
        claimed = shape[0] * dtype.itemsize
        if header + claimed != info.file_size:
            raise ValueError(
                f"column {name}: its header claims {shape[0]} values ({claimed} bytes), the file holds "
                f"{max(0, info.file_size - header)} bytes"
            )
        data = m.read(claimed)
        if len(data) != claimed or m.read(1):  # reading to the end checks the member's CRC
            raise ValueError(f"column {name} is cut short")
    return _column(name, dtype, data)


def _read_arrays(npz: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A condition file's records and telemetry; ValueError names what is wrong with it.

    The file must be a regular file (a FIFO or a device is refused without blocking); each
    column's archive entry and .npy header are checked against the file's real size before its
    data is read, so a header claiming terabytes allocates nothing."""
    fd, size = open_regular(npz, _MAX_CONDITION_BYTES, "the file")
    with os.fdopen(fd, "rb") as fh:
        if size == 0:
            raise ValueError("empty file")
        try:
            with zipfile.ZipFile(fh) as zf:
                members: dict[str, zipfile.ZipInfo] = {}
                for info in zf.infolist():
                    key = info.filename.removesuffix(".npy")
                    if key == info.filename or not (key in RECORD_COLUMNS or key.startswith("tel_")):
                        continue  # not a column trtpace reads
                    if key in members:
                        raise ValueError(f"column {key} appears twice")
                    members[key] = info
                missing = [k for k in REQUIRED_COLUMNS if k not in members]
                if missing:
                    raise ValueError(f"missing record column(s) {', '.join(missing)}")
                total = sum(i.file_size for i in members.values())
                if total > size + _MAX_DECOMPRESSED:
                    raise ValueError(f"its columns claim {total} bytes, far more than the file's {size}")
                arrays = {k: _member(zf, i, k, size) for k, i in members.items()}
        except (
            OSError,
            EOFError,
            zipfile.BadZipFile,
            KeyError,
            RuntimeError,
            zlib.error,
            NotImplementedError,
            OverflowError,
            TypeError,
        ) as e:
            # A truncated or rewritten archive: numpy and zipfile raise any of these.
            detail = str(e).splitlines()[0][:100] if str(e) else "no detail"
            if isinstance(e, zipfile.BadZipFile) and "not a zip file" in detail.lower():
                raise ValueError("not an .npz archive") from None
            raise ValueError(f"unreadable ({type(e).__name__}: {detail})") from None
    records = {k: a for k, a in arrays.items() if k in RECORD_COLUMNS}
    telemetry = {k: a for k, a in arrays.items() if k.startswith("tel_")}
    lengths = {len(a) for a in records.values()}
    if len(lengths) > 1:
        raise ValueError(f"record columns differ in length ({sorted(lengths)})")
    # Each sampler's columns share a length: NVML/devfreq (tel_*), the driver's clock samples
    # (tel_clk_*) and the host CPU sampler (tel_cpu_*); where a sampler's columns are there at all,
    # its time column and the columns reading it needs are too.
    groups: dict[str, list[str]] = {}
    for k in telemetry:
        prefix = next(p for p, _, _ in _TELEMETRY_GROUPS if k.startswith(p))
        groups.setdefault(prefix, []).append(k)
    for prefix, time_column, needed in _TELEMETRY_GROUPS:
        names = groups.get(prefix)
        if not names:
            continue
        absent = [k for k in (time_column, *needed) if k not in telemetry]
        if absent:
            raise ValueError(f"telemetry column(s) {', '.join(absent)} missing beside {', '.join(sorted(names))[:80]}")
        if len({len(telemetry[k]) for k in names}) > 1:
            raise ValueError(f"telemetry columns {prefix}* differ in length")
    return records, telemetry


def _read_sweep_json(sweep_json: Path) -> dict[str, Any]:
    try:
        raw = read_regular(sweep_json, MAX_SWEEP_JSON_BYTES, str(sweep_json))
    except FileNotFoundError:
        raise InputError(f"{sweep_json.parent} holds no trtpace results (sweep.json is missing)") from None
    except OSError as e:
        raise InputError(f"cannot read {sweep_json}: {os_reason(e)}") from None
    except ValueError as e:
        raise InputError(str(e)) from None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as e:  # not UTF-8, not JSON, nested too deep
        raise InputError(f"{sweep_json} is not valid JSON ({str(e).splitlines()[0][:100]})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{sweep_json} is not a trtpace results file (it holds a {type(doc).__name__})")
    if doc.get("format") != FORMAT:
        raise InputError(f"{sweep_json}: unknown results format {str(doc.get('format'))[:60]!r}")
    try:
        validate.bounded(doc)
        for name, spec in (("environment", validate.ENVIRONMENT), ("settings", validate.SETTINGS)):
            validate.check(doc.get(name, {}), spec, name)
        if not isinstance(doc.get("conditions"), list):
            raise validate.Malformed(f"'conditions' is {validate.kind(doc.get('conditions'))}, not a list")
        validate.check(
            doc.get("appended", []),
            validate.ListOf(
                validate.Obj({"environment": validate.ENVIRONMENT, "settings": validate.SETTINGS}, nullable=False),
                nullable=False,
            ),
            "appended",
        )
    except ValueError as e:
        raise InputError(f"{sweep_json}: {str(e)[:160]}") from None
    return doc


def _recovered(status: str, count: int, entry: dict[str, Any]) -> str:
    if status != "running":
        return status
    # The condition file is renamed into place only when whole: its run ended before sweep.json said so.
    return "done" if count == entry["warmup"] + entry["iterations"] else "partial"


def load(directory: str | Path) -> SweepResult:
    """Reads a results folder, finished or partial.

    Each condition loads on its own: a condition file that is missing loads as 'lost', one that is
    empty, truncated, not an archive, missing a record column, with columns that disagree, or
    not a regular file as 'corrupt'; so does one whose entry in sweep.json has a malformed info.
    Either way without records and with the reason in `load_error`, while the others
    load normally. A condition whose file was written whole while sweep.json still said
    'running' (the run died between the two) loads with its records; one still 'running' while a
    live run holds the folder's lock loads as 'running' (no records yet). A sweep.json that cannot be
    read, is not a regular file, is too large, is not a trtpace results file or has a malformed
    environment, settings or condition entry raises InputError (one line). Reading never writes.
    """
    directory = Path(directory)
    sweep_json = directory / "sweep.json"
    doc = _read_sweep_json(sweep_json)
    result = SweepResult(environment=doc.get("environment", {}), settings=doc.get("settings", {}), path=directory)
    files: dict[str, int] = {}
    live: bool | None = None  # is a run writing the folder now? (asked once, where it matters)
    for i, raw_entry in enumerate(doc["conditions"]):
        try:
            entry = _entry(raw_entry)
        except (ValueError, TypeError) as e:
            raise InputError(f"{sweep_json}: condition {i} is malformed: {str(e)[:120]}") from None
        if files.setdefault(entry["file"], i) != i:  # two conditions would load one file's records
            raise InputError(f"{sweep_json}: conditions {files[entry['file']]} and {i} both name {entry['file']}")
        records: dict[str, np.ndarray] = {k: np.zeros(0) for k in RECORD_COLUMNS}
        telemetry: dict[str, np.ndarray] = {}
        status, info = entry["status"], dict(entry["info"])
        npz = directory / entry["file"]
        try:
            validate.check(info, validate.INFO, "info")
        except ValueError as e:
            status, info = "corrupt", {"load_error": f"sweep.json entry: {str(e)[:120]}"}
        else:
            try:
                records, telemetry = _read_arrays(npz)
                status = _recovered(status, len(records["issue_ns"]), entry)
            except FileNotFoundError:
                if status == "running" and live is None:
                    live = being_written(directory)
                if status == "running" and live:
                    pass  # its run is measuring it now: nothing is lost (yet)
                else:
                    info["load_error"] = (
                        info["write_error"]
                        if isinstance(info.get("write_error"), str)
                        else "the run ended while this condition was running"
                        if status == "running"
                        else f"{entry['file']} is missing"
                    )
                    status = "lost"
            except (OSError, ValueError) as e:
                reason = os_reason(e) if isinstance(e, OSError) else " ".join(str(e).split())
                status, info["load_error"] = "corrupt", f"{entry['file']}: {reason[:200]}"
            if status in ("corrupt", "lost"):
                records, telemetry = {k: np.zeros(0) for k in RECORD_COLUMNS}, {}
        result.conditions.append(
            ConditionResult(
                workload=entry["workload"],
                pacing=entry["pacing"],
                wait=entry["wait"],
                sync=entry["sync"],
                warmup=entry["warmup"],
                iterations=entry["iterations"],
                records=records,
                status=status,
                device_timing=entry["device_timing"],
                telemetry=telemetry,
                clocks=entry["clocks"],
                policy=entry["policy"],
                run=entry["run"],
                **split_info(info),
            )
        )
    return result


def damaged_conditions(result: SweepResult) -> list[tuple[int, ConditionResult]]:
    """The conditions that loaded without their records (lost or corrupt), with their numbers."""
    return [(i, c) for i, c in enumerate(result.conditions) if c.status in ("lost", "corrupt")]


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
                    raise UsageError(
                        f"{candidate} already holds files: pass --overwrite to replace an earlier run "
                        "there, --append to add to it, or name a new folder"
                    ) from None
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
                raise UsageError(
                    f"{candidate} already holds files: pass --overwrite to replace an earlier run "
                    "there, --append to add to it, or name a new folder"
                ) from None
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
        for pattern in (*_RUN_FILES[1:], _RUN_FILES[0]):
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
        if _command(earlier.settings) != _command(settings):
            raise UsageError(
                f"--append: {self.directory} holds a {_command(earlier.settings)} run, not a {_command(settings)} run"
            )
        if _command(settings) == "compare":
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
