"""Results folders on disk: written condition by condition as a run goes, read back whole or partial.

A results folder holds `sweep.json` (environment, settings, and one entry per condition with its
status and summary) and one `condition-NNN.npz` of per-inference arrays per finished condition.
Conditions are written as they finish, so a crash or Ctrl-C keeps every finished one; a condition
that was running is marked 'partial' (records up to the interruption saved) or, after a hard
crash, 'lost'.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from trtpace.errors import InputError, UsageError
from trtpace.fileio import atomic_write, dumps
from trtpace.measure.pacing import Pacing
from trtpace.results.condition import RECORD_COLUMNS, ConditionResult, recorded_gap_work
from trtpace.results.result import FORMAT, SweepResult

OUT_MODES = ("new", "unique", "overwrite", "append")
REQUIRED_COLUMNS = ("due_ns", "issue_ns", "submitted_ns", "done_ns", "device_us")  # the rest came later
_STATUSES = ("done", "partial", "lost", "running")
# What a run writes into its folder; --overwrite removes exactly these.
_RUN_FILES = ("sweep.json", "report.html", "condition-*.npz", ".sweep.json.*", ".condition-*.npz.*",
              ".report.html.*")


def _command(settings: dict[str, Any]) -> str:
    return str(settings.get("command", "sweep"))


def _entry(entry: Any) -> dict[str, Any]:
    """One condition's entry of sweep.json, every field checked (ValueError/TypeError say which)."""
    if not isinstance(entry, dict):
        raise TypeError(f"a {type(entry).__name__}, not an object")
    out: dict[str, Any] = {}
    for name, types, default in (("workload", str, None), ("wait", str, None), ("sync", str, None),
                                 ("warmup", int, None), ("iterations", int, None), ("status", str, None),
                                 ("file", str, None), ("device_timing", str, ""), ("info", dict, {}),
                                 ("clocks", str, "default"), ("policy", str, ""), ("pacing", dict, None)):
        value = entry.get(name, default)
        if value is None:
            raise ValueError(f"no {name!r}")
        if not isinstance(value, types) or isinstance(value, bool):
            raise TypeError(f"{name!r} is {type(value).__name__}, not {types.__name__}")
        out[name] = value
    if out["warmup"] < 0 or out["iterations"] < 0:
        raise ValueError("negative warm-up or iterations")
    if out["status"] not in _STATUSES:
        raise ValueError(f"unknown status {out['status']!r}")
    if Path(out["file"]).name != out["file"] or out["file"].startswith("."):
        raise ValueError(f"'file' {out['file']!r} is not a file name inside the folder")
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


_BOOL_COLUMNS = ("relaunched",)


def _numeric_1d(name: str, a: np.ndarray) -> np.ndarray:
    if a.ndim != 1 or a.dtype.kind not in ("iufb" if name in _BOOL_COLUMNS else "iuf"):
        raise ValueError(f"column {name} is not a 1-D numeric array ({a.dtype}, shape {a.shape})")
    return a


def _read_arrays(npz: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A condition file's records and telemetry; ValueError names what is wrong with it."""
    if npz.stat().st_size == 0:
        raise ValueError("empty file")
    try:
        # Our own handle: np.load leaks the file it opened when the archive turns out to be broken.
        with open(npz, "rb") as fh:
            arrays = np.load(fh, allow_pickle=False)
            if not isinstance(arrays, np.lib.npyio.NpzFile):  # a bare .npy array
                raise ValueError("not an .npz archive")  # noqa: TRY004 - a content error, reported like the others
            with arrays:
                names = arrays.files
                missing = [k for k in REQUIRED_COLUMNS if k not in names]
                if missing:
                    raise ValueError(f"missing record column(s) {', '.join(missing)}")
                records = {k: _numeric_1d(k, np.asarray(arrays[k])) for k in RECORD_COLUMNS if k in names}
                telemetry = {k: _numeric_1d(k, np.asarray(arrays[k])) for k in names if k.startswith("tel_")}
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError, zlib.error) as e:
        # A truncated or rewritten archive: numpy and zipfile raise any of these.
        detail = str(e).splitlines()[0][:100] if str(e) else "no detail"
        raise ValueError(f"unreadable ({type(e).__name__}: {detail})") from None
    lengths = {len(a) for a in records.values()}
    if len(lengths) > 1:
        raise ValueError(f"record columns differ in length ({sorted(lengths)})")
    # Each sampler's columns share a length: NVML/devfreq (tel_*), the driver's clock samples
    # (tel_clk_*) and the host CPU sampler (tel_cpu_*).
    groups: dict[str, set[int]] = {}
    for k, a in telemetry.items():
        group = next((p for p in _TELEMETRY_GROUPS if k.startswith(p)), "tel_")
        groups.setdefault(group, set()).add(len(a))
    for group, lengths in groups.items():
        if len(lengths) > 1:
            raise ValueError(f"telemetry columns {group}* differ in length")
    return records, telemetry


_TELEMETRY_GROUPS = ("tel_clk_", "tel_cpu_")


def load(directory: str | Path) -> SweepResult:
    """Reads a results folder, finished or partial.

    Each condition loads on its own: a condition file that is missing loads as 'lost', one that is
    empty, truncated, not an archive or missing a record column as 'corrupt'; either way without
    records and with the reason in `info["load_error"]`, while the others load normally. A
    sweep.json that cannot be read or is not a trtpace results file raises InputError.
    """
    directory = Path(directory)
    sweep_json = directory / "sweep.json"
    try:
        raw = sweep_json.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{directory} holds no trtpace results (sweep.json is missing)") from None
    except OSError as e:
        raise InputError(f"cannot read {sweep_json}: {e.strerror or e}") from None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as e:  # not UTF-8, not JSON, nested too deep
        raise InputError(f"{sweep_json} is not valid JSON ({str(e).splitlines()[0][:100]})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{sweep_json} is not a trtpace results file (it holds a {type(doc).__name__})")
    if doc.get("format") != FORMAT:
        raise InputError(f"{sweep_json}: unknown results format {str(doc.get('format'))[:60]!r}")
    parts = {"environment": doc.get("environment", {}), "settings": doc.get("settings", {}),
             "conditions": doc.get("conditions")}
    for name, kind in (("environment", dict), ("settings", dict), ("conditions", list)):
        if not isinstance(parts[name], kind):
            raise InputError(f"{sweep_json}: {name!r} is {type(parts[name]).__name__}, not {kind.__name__}")
    result = SweepResult(environment=parts["environment"], settings=parts["settings"], path=directory)
    for i, raw_entry in enumerate(parts["conditions"]):
        try:
            entry = _entry(raw_entry)
        except (ValueError, TypeError) as e:
            raise InputError(f"{sweep_json}: condition {i} is malformed: {str(e)[:120]}") from None
        records: dict[str, np.ndarray] = {k: np.zeros(0) for k in RECORD_COLUMNS}
        telemetry: dict[str, np.ndarray] = {}
        status, info = entry["status"], dict(entry["info"])
        npz = directory / entry["file"]
        if status == "running":
            status, info["load_error"] = "lost", "the run ended while this condition was running"
        elif not npz.is_file():
            status, info["load_error"] = "lost", f"{entry['file']} is missing"
        else:
            try:
                records, telemetry = _read_arrays(npz)
            except (OSError, ValueError) as e:
                status, info["load_error"] = "corrupt", f"{entry['file']}: {e.strerror if isinstance(e, OSError) else e}"
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
                info=info,
                telemetry=telemetry,
                clocks=entry["clocks"],
                policy=entry["policy"],
            )
        )
    return result


def damaged_conditions(result: SweepResult) -> list[tuple[int, ConditionResult]]:
    """The conditions that loaded without their records (lost or corrupt), with their numbers."""
    return [(i, c) for i, c in enumerate(result.conditions) if c.status in ("lost", "corrupt")]


class ResultWriter:
    """Keeps a results folder current while a sweep runs: each condition lands as it finishes.

    mode "new": the folder must not exist or be empty (two runs never share one); "unique": like
    new, but a taken name gets -2, -3, ... appended; "overwrite": the earlier run's files
    (sweep.json, report.html, condition files) are removed first, anything else stays; "append":
    the conditions are added to the run already there, which must load and be of the same command
    (sweep or compare); its environment and settings stay, the appended run's go into `appended`.
    A sweep's conditions stay rows of their own whatever their settings (gap work included); a
    compare is refused onto a run whose gap work differs, since it pools each policy's rounds.
    """

    def __init__(self, directory: str | Path, environment: dict[str, Any], settings: dict[str, Any],
                 mode: str = "new"):
        if mode not in OUT_MODES:
            raise UsageError(f"unknown results folder mode {mode!r} (expected {', '.join(OUT_MODES)})")
        self.directory = Path(directory)
        if not str(directory).strip():
            raise UsageError("the results folder name is empty (it would write into the current folder)")
        self.created = False  # this writer made the folder: it removes it if no condition lands
        self._top = self.directory.absolute()  # the outermost folder it made (parents included)
        self.finished = 0
        self._doc: dict[str, Any] = {"format": FORMAT, "environment": environment, "settings": settings,
                                     "conditions": []}
        self._original: bytes | None = None
        try:
            if mode in ("new", "unique"):
                self._claim(unique=mode == "unique")
            elif mode == "overwrite":
                self._prepare_overwrite()
            else:
                self._prepare_append(environment, settings)
            self._flush()
        except OSError as e:
            self._undo_claim()
            raise UsageError(f"cannot write results to {self.directory}: {e.strerror or e}") from None

    def _claim(self, unique: bool) -> None:
        base = self.directory
        for n in range(1, 10_000):
            candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
            top = _first_missing(candidate)
            try:
                candidate.mkdir(parents=True)
                self.directory, self.created, self._top = candidate, True, top
            except FileExistsError:
                if not candidate.is_dir():
                    raise UsageError(f"cannot write results to {candidate}: it is a file") from None
                if any(candidate.iterdir()):
                    if unique:
                        continue
                    raise UsageError(f"{candidate} already holds files: pass --overwrite to replace an earlier run "
                                     "there, --append to add to it, or name a new folder") from None
                self.directory = candidate  # an empty folder made beforehand
            try:
                # O_EXCL: of two runs started together into one empty folder, one gets it.
                os.close(os.open(self.directory / "sweep.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                return
            except FileExistsError:
                if unique:
                    continue
                raise UsageError(f"{candidate} is being written by another trtpace run: name a new folder") from None
        raise UsageError(f"no free results folder name next to {base}")

    def _prepare_overwrite(self) -> None:
        if self.directory.exists() and not self.directory.is_dir():
            raise UsageError(f"cannot write results to {self.directory}: it is a file")
        if not self.directory.exists():
            self._top = _first_missing(self.directory)
            self.directory.mkdir(parents=True)
            self.created = True
            return
        for pattern in _RUN_FILES:
            for p in self.directory.glob(pattern):
                if p.is_file():
                    p.unlink()

    def _prepare_append(self, environment: dict[str, Any], settings: dict[str, Any]) -> None:
        try:
            earlier = load(self.directory)
        except InputError as e:
            raise UsageError(f"--append: {e}") from None
        if _command(earlier.settings) != _command(settings):
            raise UsageError(f"--append: {self.directory} holds a {_command(earlier.settings)} run, not a "
                             f"{_command(settings)} run")
        if _command(settings) == "compare":
            # A compare pools each policy's rounds: runs with another gap work would pool with them.
            earlier_work = list(dict.fromkeys(c.gap_work_spec for c in earlier.conditions
                                              if not c.pacing.is_continuous))
            work = recorded_gap_work(settings.get("gap_work"))["spec"]
            if earlier_work and earlier_work != [work]:
                raise UsageError(f"--append: {self.directory} holds a compare run with --gap-work "
                                 f"{', '.join(earlier_work)}, not {work}: its policies' rounds would pool across "
                                 "them; write this run to another folder")
        self._original = (self.directory / "sweep.json").read_bytes()
        doc = json.loads(self._original)
        doc.setdefault("appended", []).append({"environment": environment, "settings": settings})
        self._doc = doc
        taken = {e["file"] for e in doc["conditions"]} | {p.name for p in self.directory.glob("condition-*.npz")}
        self._next_file = max((int(n[10:-4]) for n in taken if n[10:-4].isdigit()), default=-1) + 1

    def _file_name(self, index: int) -> str:
        if self._original is None:
            return f"condition-{index:03d}.npz"
        name = f"condition-{self._next_file:03d}.npz"
        self._next_file += 1
        return name

    def begin(self, c: ConditionResult) -> int:
        """Announces a condition before it runs; after a hard crash it loads as 'lost'."""
        index = len(self._doc["conditions"])
        self._doc["conditions"].append({**c.meta(), "status": "running", "file": self._file_name(index)})
        self._flush()
        return index

    def finish(self, index: int, c: ConditionResult) -> None:
        entry = self._doc["conditions"][index]
        arrays: dict[str, Any] = {**c.records, **c.telemetry}
        atomic_write(self.directory / entry["file"], lambda f: np.savez(f, **arrays))
        entry.update(c.meta())
        entry["summary"] = c.summary()
        self._flush()
        self.finished += 1

    def add(self, c: ConditionResult) -> None:
        self.finish(self.begin(c), c)

    def discard(self) -> None:
        """For a run that failed before any condition landed: leaves no empty folder behind, and an
        appended-to run as it was."""
        if self.finished:
            return
        if self._original is not None:
            original = self._original
            atomic_write(self.directory / "sweep.json", lambda f: f.write(original))
            return
        (self.directory / "sweep.json").unlink(missing_ok=True)
        self._undo_claim()

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


def check_writable(directory: Path) -> None:
    """Creates `directory` and proves a file can be written there, or raises a one-line UsageError."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise UsageError(f"cannot write results to {directory}: {e.strerror or e}") from None


def save(result: SweepResult, directory: str | Path, mode: str = "new") -> Path:
    """Writes a whole result to `directory` (see ResultWriter for `mode`)."""
    writer = ResultWriter(directory, result.environment, result.settings, mode)
    for c in result.conditions:
        writer.add(c)
    result.path = writer.directory
    return writer.directory
