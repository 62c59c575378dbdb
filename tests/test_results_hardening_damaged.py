"""Damaged results folders, generated with their structure: valid-looking sweep.json documents with
one nested field (environment, settings, a condition's info, its pacing...) replaced by something
else JSON can hold, and condition files whose columns disagree in presence, length, dtype, shape
or what their .npy headers claim. Loading never raises anything but a one-line InputError; a
damaged condition loads as corrupt with a one-line reason, exactly when it is damaged; whatever
loads, reports. FIFOs, devices and huge files as inputs are refused at once."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.fileio import jsonable
from trtpace.measure import telemetry as tel
from trtpace.report import plots
from trtpace.results import RECORD_COLUMNS
from trtpace.results.fleet import machine_name
from trtpace.results.policies import summarize_policies

FIXTURE = Path(__file__).parent / "data" / "h100-sweep"
N = int(os.environ.get("FUZZ_N", "60"))
FAST = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=max(4, N // 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
runner = CliRunner()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host sweep whose sweep.json also carries every nested field reports read (a GPU, its
    telemetry, a multi-GPU worker, the host CPU's idle states, ...), so mutations reach them."""
    out = tmp_path_factory.mktemp("damaged") / "r"
    trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=6, warmup=1, out=out)
    doc = json.loads((out / "sweep.json").read_text())
    fixture_env = json.loads((FIXTURE / "sweep.json").read_text())["environment"]
    doc["environment"].update({k: fixture_env[k] for k in ("gpu", "telemetry", "driver_release", "cuda_driver")})
    doc["environment"]["gpus"] = [{"label": "gpu0", "index": 0, "name": "NVIDIA H100"}]
    doc["environment"]["warnings"] = ["clocks were locked by another tool"]
    doc["settings"].update(gap_s=0.001, plain_policy="sleep", launch=["graph"], io=["none"])
    for i, entry in enumerate(doc["conditions"]):
        entry["info"].update(
            gpu={**entry["info"]["gpu"], "label": "gpu0", "worker": 0},
            gpu_mode="together",
            gpu_round=0,
            round=0,
            armed_choice="armed: kernel gate",
            armed_gate="kernel",
            switch=False,
            launch="graph",
            io="none",
            filler_work_ns=1000 * i,
            host_cpu={
                "core": 1,
                "core_share": 1.0,
                "cores_seen": [1],
                "idle": {"C1": {"residency_pct": 50.0, "usage": 3}},
            },
        )
    (out / "sweep.json").write_text(json.dumps(doc))
    trtpace.load(out).rows()  # the enriched template itself is valid
    return out


def _copy(template: Path, into: str) -> Path:
    return Path(shutil.copytree(template, Path(into) / "r"))


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every field of a document, nested, except the per-condition summaries (not read on load)."""
    out = [at] if at else []
    if isinstance(value, dict):
        for k, v in value.items():
            if k != "summary":
                out += _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            out += _paths(v, (*at, i))
    return out


# Fields that may be absent where they are read (inserted as well as replaced).
INSERTED = [
    ("environment", "gpu", "name"),
    ("environment", "telemetry", "rate_hz"),
    ("environment", "host_cpu"),
    ("settings", "command"),
    ("settings", "workload"),
    ("appended",),
    ("conditions", 1, "run"),
    ("conditions", 1, "info", "cpu_ns"),
    ("conditions", 1, "info", "write_error"),
    ("conditions", 0, "info", "load_error"),
    ("conditions", 1, "info", "gap_work", "spec"),
]

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(2**63, 10**30)
    | st.integers(-(10**30), -(2**63))
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["[/]x", "done", "lost", "running", "gap", "../../etc/passwd", "condition-000.npz"])
)
VALUES = st.recursive(
    LEAVES,
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(["label", "worker", "idle", "residency_pct", "core", "name", "spec"]),
            c,
            max_size=3,
        )
    ),
    max_leaves=8,
)
DEEP = st.integers(60, 300).map(lambda d: json.loads("[" * d + "]" * d))


def _mutated(doc: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    def apply(path: tuple[Any, ...], value: Any, remove: bool) -> dict[str, Any]:
        new = json.loads(json.dumps(doc))
        target: Any = new
        for k in path[:-1]:
            if isinstance(target, dict) and not isinstance(target.get(k), (dict, list)):
                target[k] = {}
            target = target[k]
        if remove and isinstance(target, dict):
            target.pop(path[-1], None)
        elif remove and isinstance(target, list) and path[-1] < len(target):
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return new

    return st.builds(apply, st.sampled_from(_paths(doc) + INSERTED), VALUES | DEEP, st.booleans())


def _loads_or_one_line(folder: Path) -> trtpace.SweepResult | None:
    try:
        result = trtpace.load(folder)
    except trtpace.InputError as e:
        message = str(e)
    else:
        message = ""
    if message:
        assert "\n" not in message, message
        return None
    for c in result.conditions:
        if c.status == "corrupt":
            assert c.count == 0 and "\n" not in c.info["load_error"]
    json.dumps(jsonable(result.to_json()))  # rows, penalties, attribution, JSON
    machine_name(result.environment)
    summarize_policies(result)
    return result


@FAST
@given(data=st.data())
def test_a_nested_field_replaced_loads_or_is_refused_in_one_line(template: Path, data: st.DataObject) -> None:
    doc = json.loads((template / "sweep.json").read_text())
    mutated = data.draw(_mutated(doc))
    with tempfile.TemporaryDirectory() as d:
        folder = _copy(template, d)
        (folder / "sweep.json").write_text(json.dumps(mutated))
        _loads_or_one_line(folder)


@SLOW
@given(data=st.data())
def test_report_of_a_nested_field_replaced_exits_0_or_2_in_one_line(template: Path, data: st.DataObject) -> None:
    doc = json.loads((template / "sweep.json").read_text())
    mutated = data.draw(_mutated(doc))
    with tempfile.TemporaryDirectory() as d:
        folder = _copy(template, d)
        (folder / "sweep.json").write_text(json.dumps(mutated))
        r = runner.invoke(app, ["report", str(folder)])  # tables, HTML with every plot
        assert r.exit_code in (0, 2), r.output
        assert "Traceback" not in r.output, r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
        if r.exit_code == 2:
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
        else:
            assert (folder / "report.html").stat().st_size > 1000


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("environment", "gpu"), [1, 2], "environment.gpu is a list"),
        (("environment", "telemetry", "rate_hz"), "fast", "environment.telemetry.rate_hz is text"),
        (("environment", "warnings"), [1], "environment.warnings[0] is a number"),
        (("settings", "gap_s"), math.inf, "settings.gap_s is not a finite number"),
        (("conditions", 0, "info", "cpu_ns"), 10**400, "out of range"),
        (("conditions", 0, "iterations"), 2**70, "out of range"),
        (("conditions", 0, "run"), -1, "'run' out of range"),
        (("appended",), {"a": 1}, "appended is an object"),
    ],
)
def test_named_nested_damage(template: Path, tmp_path: Path, path: tuple[Any, ...], value: Any, message: str) -> None:
    folder = _copy(template, str(tmp_path))
    doc = json.loads((folder / "sweep.json").read_text())
    target: Any = doc
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    (folder / "sweep.json").write_text(json.dumps(doc))
    with pytest.raises(trtpace.InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        trtpace.load(folder)


def test_a_condition_with_a_damaged_info_loads_as_corrupt(template: Path, tmp_path: Path) -> None:
    folder = _copy(template, str(tmp_path))
    doc = json.loads((folder / "sweep.json").read_text())
    doc["conditions"][1]["info"]["host_cpu"] = {"core": 1, "idle": {"C1": [50]}}
    (folder / "sweep.json").write_text(json.dumps(doc))
    loaded = trtpace.load(folder)
    assert [c.status for c in loaded.conditions] == ["done", "corrupt"]
    assert loaded.conditions[1].info["load_error"] == "sweep.json entry: info.host_cpu.idle.C1 is a list, not an object"
    loaded.rows()


# -- condition files ----------------------------------------------------------------------------

NS = {
    "due_ns",
    "issue_ns",
    "submitted_ns",
    "done_ns",
    "gpu_start_ns",
    "armed_ns",
    "gate_ns",
    "staged_ns",
    "gap_work_ns",
}
REQUIRED = ("due_ns", "issue_ns", "submitted_ns", "done_ns", "device_us")
GROUPS = {
    "nvml": ["tel_t_ns", *(f"tel_{c}" for c in tel.COLUMNS[1:])],
    "clk": ["tel_clk_t_ns", "tel_clk_sm_mhz"],
    "cpu": ["tel_cpu_t_ns", "tel_cpu_core", "tel_cpu_khz"],
}
NEEDED = {
    "nvml": {"tel_t_ns", "tel_sm_mhz", "tel_power_mw", "tel_energy_mj"},
    "clk": set(GROUPS["clk"]),
    "cpu": {"tel_cpu_t_ns", "tel_cpu_khz"},
}
INT_TEL = {"tel_t_ns", "tel_clk_t_ns", "tel_cpu_t_ns", "tel_cpu_core"}
DTYPES = ["<i8", ">i8", "<i4", "<u8", "<f8", "<f4", ">f8", "|b1", "<c16", "<f2", "|O"]


def _allowed(name: str, dtype: np.dtype[Any]) -> bool:
    kinds = "biu" if name == "relaunched" else "iu" if name in NS or name in INT_TEL else "iuf"
    return dtype.kind in kinds and not dtype.hasobject and dtype.itemsize <= 8


@st.composite
def condition_files(draw: st.DrawFn) -> tuple[bytes, bool, str]:
    """A condition file with its columns drawn apart, whether trtpace should load it as whole,
    and what was done to it."""
    n = draw(st.integers(0, 12))
    columns: dict[str, np.ndarray] = {}
    valid, said = True, []

    def column(name: str, length: int) -> None:
        nonlocal valid
        dtype = np.dtype(
            draw(st.sampled_from(DTYPES))
            if draw(st.integers(0, 4)) == 0
            else ("<i8" if name in NS or name in INT_TEL else "|b1" if name == "relaunched" else "<f8")
        )
        shape: tuple[int, ...] = (length,) if draw(st.integers(0, 15)) else draw(st.sampled_from([(), (2, length)]))
        ok = _allowed(name, dtype) and len(shape) == 1
        if dtype.hasobject:
            values: Any = np.array([None] * int(np.prod(shape)), dtype=object).reshape(shape)
        elif dtype.kind == "f":
            special = draw(st.sampled_from([None, math.nan, math.inf]))
            values = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
            if special is not None and values.size:
                values.flat[0] = special
                ok = ok and not math.isinf(special)
        elif dtype.kind == "u" and draw(st.booleans()) and shape and int(np.prod(shape)):
            values = np.full(shape, 2**63 + 5, dtype=dtype)
            ok = ok and name not in NS and name not in INT_TEL  # a time past int64
        else:
            values = np.ones(shape, dtype=dtype)
        columns[name] = values
        valid = valid and ok
        if not ok:
            said.append(f"{name} {dtype}{list(shape)}")

    for name in RECORD_COLUMNS:
        present = draw(st.integers(0, 12)) > 0 if name in REQUIRED else draw(st.booleans())
        if not present:
            if name in REQUIRED:
                valid = False
                said.append(f"no {name}")
            continue
        off = draw(st.integers(0, 15)) == 0
        if off:
            valid = False
            said.append(f"{name} of another length")
        column(name, n + 1 if off else n)
    for group, names in GROUPS.items():
        if not draw(st.booleans()):
            continue
        length = draw(st.integers(0, 6))
        chosen = [x for x in names if draw(st.integers(0, 8)) > 0]
        if not chosen:
            continue
        if not NEEDED[group] <= set(chosen):
            valid = False
            said.append(f"{group} without {sorted(NEEDED[group] - set(chosen))}")
        for x in chosen:
            off = draw(st.integers(0, 15)) == 0
            if off:
                valid = False
                said.append(f"{x} of another length")
            column(x, length + 1 if off else length)
    buf = io.BytesIO()
    compression = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    lie = draw(st.sampled_from([None, None, None, *columns])) if columns else None
    garbled = draw(st.sampled_from([None] * 6 + list(columns))) if columns else None
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, values in columns.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, values, allow_pickle=True)
            raw = member.getvalue()
            if name == lie:  # the header claims 2**40 values (8 TiB of int64); the data is what it was
                header = np.lib.format.header_data_from_array_1_0(values)
                header["shape"] = (2**40,)
                fake = io.BytesIO()
                np.lib.format.write_array_header_1_0(fake, header)
                raw = fake.getvalue() + raw[len(raw) - values.nbytes :] if not values.dtype.hasobject else raw
                if not values.dtype.hasobject:
                    valid = False
                    said.append(f"{name} claims 2**40 values")
            if name == garbled and name != lie:  # the header's text replaced by other text of its length
                size = int.from_bytes(raw[8:10], "little")
                text = draw(st.binary(min_size=size, max_size=size))
                if text != raw[10 : 10 + size]:
                    valid = False
                    said.append(f"{name} header garbled")
                raw = raw[:10] + text + raw[10 + size :]
            z.writestr(f"{name}.npy", raw)
        if draw(st.booleans()):
            z.writestr("notes.txt", b"not a column")
    return buf.getvalue(), valid, "; ".join(said) or "whole"


@FAST
@given(made=condition_files())
def test_condition_files_load_as_done_exactly_when_whole(template: Path, made: tuple[bytes, bool, str]) -> None:
    content, valid, said = made
    with tempfile.TemporaryDirectory() as d:
        folder = _copy(template, d)
        (folder / "condition-001.npz").write_bytes(content)
        result = trtpace.load(folder)
        assert result.conditions[0].status == "done" and result.conditions[0].count == 7
        c = result.conditions[1]
        assert c.status == ("done" if valid else "corrupt"), (said, c.info.get("load_error"))
        if c.status == "corrupt":
            assert c.count == 0 and c.info["load_error"].startswith("condition-001.npz: ")
            assert "\n" not in c.info["load_error"]
        else:
            for k, a in c.records.items():
                assert a.ndim == 1 and a.dtype in (np.int64, np.float64, np.bool_), k
            plots.timeline(c)
            plots.clock_trace(result)
        json.dumps(jsonable(result.to_json()))


def test_a_header_claiming_8_tib_allocates_nothing(template: Path, tmp_path: Path) -> None:
    folder = _copy(template, str(tmp_path))
    with np.load(folder / "condition-001.npz") as a:
        arrays = {k: a[k] for k in a.files}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, values in arrays.items():
            member = io.BytesIO()
            header = np.lib.format.header_data_from_array_1_0(values)
            if name == "done_ns":
                header["shape"] = (2**40,)
            np.lib.format.write_array_header_1_0(member, header)
            z.writestr(f"{name}.npy", member.getvalue() + values.tobytes())
    (folder / "condition-001.npz").write_bytes(buf.getvalue())
    c = trtpace.load(folder).conditions[1]
    assert c.status == "corrupt" and "done_ns: its header claims 1099511627776 values" in c.info["load_error"]
    # The archive's own directory claiming a member of 4 GiB (its stored sizes disagree).
    raw = bytearray((folder / "condition-000.npz").read_bytes())
    at = raw.index(b"PK\x01\x02")
    raw[at + 24 : at + 28] = struct.pack("<I", 0xFFFFFFF0)
    (folder / "condition-000.npz").write_bytes(bytes(raw))
    c = trtpace.load(folder).conditions[0]
    assert c.status == "corrupt" and "condition-000.npz: " in c.info["load_error"]


@pytest.mark.parametrize("what", ["fifo", "device", "huge", "folder"])
@pytest.mark.parametrize("where", ["sweep.json", "condition-001.npz"])
def test_inputs_that_are_not_regular_files_are_refused_at_once(
    template: Path, tmp_path: Path, what: str, where: str
) -> None:
    folder = _copy(template, str(tmp_path))
    path = folder / where
    path.unlink()
    if what == "fifo":
        os.mkfifo(path)
    elif what == "device":
        path.symlink_to("/dev/zero")
    elif what == "huge":
        with open(path, "wb") as f:
            f.truncate((256 << 20) + 1 if where == "sweep.json" else (64 << 30) + 1)  # sparse: no disk used
    else:
        path.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "trtpace", "report", str(folder), "--json"], capture_output=True, text=True, timeout=60
    )  # a hang or reading /dev/zero to the end fails here
    if where == "sweep.json":
        assert r.returncode == 2, r.stderr
        line = r.stderr.strip()
        assert "\n" not in line and line.startswith("error:") and "sweep.json" in line, r.stderr
        assert {"fifo": "FIFO", "device": "device", "huge": "bytes, over", "folder": "folder"}[what] in line
    else:
        assert r.returncode == 0, r.stderr
        c = json.loads(r.stdout)["conditions"][1]
        assert c["status"] == "corrupt"
        assert {"fifo": "FIFO", "device": "device", "huge": "bytes, over", "folder": "folder"}[what] in r.stderr


def test_two_conditions_never_load_one_file(template: Path, tmp_path: Path) -> None:
    folder = _copy(template, str(tmp_path))
    doc = json.loads((folder / "sweep.json").read_text())
    doc["conditions"][1]["file"] = doc["conditions"][0]["file"]
    (folder / "sweep.json").write_text(json.dumps(doc))
    with pytest.raises(trtpace.InputError, match="conditions 0 and 1 both name condition-000.npz"):
        trtpace.load(folder)


def test_a_condition_file_name_must_be_one_trtpace_writes(template: Path, tmp_path: Path) -> None:
    folder = _copy(template, str(tmp_path))
    doc = json.loads((folder / "sweep.json").read_text())
    for name in ("report.html", "sweep.json", ".condition-001.npz.x", "condition-1.npz", "x/../condition-001.npz"):
        doc["conditions"][1]["file"] = name
        (folder / "sweep.json").write_text(json.dumps(doc))
        with pytest.raises(trtpace.InputError, match="is not a condition file"):
            trtpace.load(folder)
