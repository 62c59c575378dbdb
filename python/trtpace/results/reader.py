"""Reading a results folder back: sweep.json and the condition files, each checked, whole or
partial (a damaged condition loads without its records, marked lost or corrupt)."""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from trtpace.errors import InputError
from trtpace.measure.records import FLAG_COLUMNS, NS_COLUMNS, RECORD_COLUMNS
from trtpace.results import validate
from trtpace.results.condition import ConditionResult
from trtpace.results.folder import (
    MAX_SWEEP_JSON_BYTES,
    being_written,
    open_regular,
    os_reason,
    read_regular,
)
from trtpace.results.info import split_info
from trtpace.results.result import FORMAT, SweepResult
from trtpace.results.schema import (
    MAX_CONDITION_BYTES,
    MAX_DECOMPRESSED,
    REQUIRED_COLUMNS,
    TELEMETRY_GROUPS,
    TELEMETRY_INT,
    checked_entry,
)


def _column(name: str, dtype: np.dtype[Any], data: bytes) -> np.ndarray:
    """A record or telemetry column from its raw bytes, in the dtype trtpace computes with: record
    columns in whole nanoseconds and flags as the core's column table has them, the others floats
    (NaN: not measured)."""
    kinds = "biu" if name in FLAG_COLUMNS else "iu" if name in NS_COLUMNS or name in TELEMETRY_INT else "iuf"
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
    fd, size = open_regular(npz, MAX_CONDITION_BYTES, "the file")
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
                if total > size + MAX_DECOMPRESSED:
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
        prefix = next(p for p, _, _ in TELEMETRY_GROUPS if k.startswith(p))
        groups.setdefault(prefix, []).append(k)
    for prefix, time_column, needed in TELEMETRY_GROUPS:
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
            entry = checked_entry(raw_entry)
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
