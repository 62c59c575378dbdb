"""Damaged results and inputs: each condition loads on its own (a missing file as 'lost', a damaged
one as 'corrupt', with the reason), `trtpace report` warns once and exits 0; a damaged sweep.json,
a binary or out-of-range trace and a report target that is a folder are one line and exit 2."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.measure import pacing

FIXTURE = Path(__file__).parent / "data" / "h100-sweep"
runner = CliRunner()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "r"
    shutil.copytree(FIXTURE, out)
    return out


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _without(path: Path, column: str) -> bytes:
    with np.load(path) as a:
        return _npz(**{k: a[k] for k in a.files if k != column})


def _one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    return lines[0]


DAMAGE = {
    "empty": lambda p: b"",
    "truncated": lambda p: p.read_bytes()[: p.stat().st_size // 2],
    "random bytes": lambda p: bytes(range(256)) * 8,
    "missing column": lambda p: _without(p, "done_ns"),
    "a bare .npy": lambda p: _npy(np.arange(3)),
    "2-D column": lambda p: _npz(
        **{k: np.zeros((2, 2)) for k in ("due_ns", "issue_ns", "submitted_ns", "done_ns", "device_us")}
    ),
    "columns of unequal length": lambda p: _npz(
        due_ns=np.zeros(3), issue_ns=np.zeros(4), submitted_ns=np.zeros(3), done_ns=np.zeros(3), device_us=np.zeros(3)
    ),
    "object array": lambda p: _npz(
        **{k: np.array([None, 1], dtype=object) for k in ("due_ns", "issue_ns", "submitted_ns", "done_ns", "device_us")}
    ),
    "zeroed central directory": lambda p: p.read_bytes()[:-30] + b"\0" * 30,
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_damaged_condition_loads_as_corrupt_and_the_rest_load(folder: Path, how: str) -> None:
    path = folder / "condition-004.npz"
    path.write_bytes(DAMAGE[how](path))
    loaded = trtpace.load(folder)
    assert [c.status for c in loaded.conditions] == ["done"] * 4 + ["corrupt"] + ["done"] * 4
    bad = loaded.conditions[4]
    assert bad.count == 0 and bad.info["load_error"].startswith("condition-004.npz: ")
    assert all(c.count > 0 for c in loaded.conditions if c is not bad)
    rows = loaded.rows()  # statistics, penalty and attribution cope with a condition without records
    assert rows[4]["status"] == "corrupt" and rows[4]["summary"]["e2e_us"]["n"] == 0 and rows[4]["attribution"] is None


@pytest.mark.parametrize("which", [0, 4])  # the tiny baseline itself, and a gap condition
def test_report_of_a_folder_with_a_corrupt_condition(folder: Path, tmp_path: Path, which: int) -> None:
    path = folder / f"condition-{which:03d}.npz"
    path.write_bytes(DAMAGE["truncated"](path))
    r = runner.invoke(app, ["report", str(folder), "--png", str(tmp_path / "png"), "--csv", str(tmp_path / "r.csv")])
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"#{which} " in warnings[0] and "corrupt" in warnings[0], r.stderr
    assert "Traceback" not in r.output
    assert len(list((tmp_path / "png").iterdir())) > 3
    assert not (folder / "report.html").exists()  # not asked for: --png and --csv were
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 0 and (folder / "report.html").stat().st_size > 10_000
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 10  # a header and every condition
    r = runner.invoke(app, ["report", str(folder), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["conditions"][which]["status"] == "corrupt"


def test_missing_condition_file_loads_as_lost(folder: Path) -> None:
    (folder / "condition-002.npz").unlink()
    loaded = trtpace.load(folder)
    assert (
        loaded.conditions[2].status == "lost"
        and loaded.conditions[2].info["load_error"] == "condition-002.npz is missing"
    )
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 0 and "#2 " in r.stderr and "lost" in r.stderr


def test_every_condition_damaged_still_reports(folder: Path) -> None:
    for p in folder.glob("condition-*.npz"):
        p.write_bytes(b"")
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 0 and "9 of 9 conditions have no records" in r.stderr, r.output


def _doc(folder: Path) -> dict:
    return json.loads((folder / "sweep.json").read_text())


def _set(doc: dict, path: tuple, value: object) -> dict:
    target = doc
    for k in path[:-1]:
        target = target[k]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


SWEEP_JSON_DAMAGE = {
    "a list": lambda f: b"[]",
    "null": lambda f: b"null",
    "binary": lambda f: bytes(range(256)),
    "empty": lambda f: b"",
    "deeply nested": lambda f: b"[" * 100_000,
    "no conditions": lambda f: json.dumps(_set(_doc(f), ("conditions",), KeyError)).encode(),
    "conditions not a list": lambda f: json.dumps(_set(_doc(f), ("conditions",), {"a": 1})).encode(),
    "entry missing workload": lambda f: json.dumps(_set(_doc(f), ("conditions", 1, "workload"), KeyError)).encode(),
    "entry a string": lambda f: json.dumps(_set(_doc(f), ("conditions", 1), "x")).encode(),
    "bad gap": lambda f: json.dumps(_set(_doc(f), ("conditions", 1, "pacing", "gap_s"), "abc")).encode(),
    "negative gap": lambda f: json.dumps(_set(_doc(f), ("conditions", 1, "pacing", "gap_s"), -1)).encode(),
    "unknown pacing kind": lambda f: json.dumps(_set(_doc(f), ("conditions", 1, "pacing", "kind"), "warp")).encode(),
    "unknown pacing field": lambda f: json.dumps(_set(_doc(f), ("conditions", 1, "pacing", "speed"), 1)).encode(),
    "pacing a list": lambda f: json.dumps(_set(_doc(f), ("conditions", 1, "pacing"), [])).encode(),
    "warmup text": lambda f: json.dumps(_set(_doc(f), ("conditions", 1, "warmup"), "10")).encode(),
    "file outside": lambda f: json.dumps(_set(_doc(f), ("conditions", 1, "file"), "../../etc/passwd")).encode(),
    "unknown status": lambda f: json.dumps(_set(_doc(f), ("conditions", 1, "status"), "fine")).encode(),
    "other format": lambda f: json.dumps(_set(_doc(f), ("format",), "other/9")).encode(),
    "environment a list": lambda f: json.dumps(_set(_doc(f), ("environment",), [])).encode(),
}


@pytest.mark.parametrize("how", list(SWEEP_JSON_DAMAGE))
def test_damaged_sweep_json_is_one_line_exit_2(folder: Path, how: str) -> None:
    content = SWEEP_JSON_DAMAGE[how](folder)
    (folder / "sweep.json").write_bytes(content)
    with pytest.raises(trtpace.InputError):
        trtpace.load(folder)
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 2
    assert str(folder / "sweep.json") in _one_error_line(r.output).replace("\n", "") or "sweep.json" in r.output


def test_report_targets_that_are_folders(folder: Path, tmp_path: Path) -> None:
    for flag in ("--csv", "--html"):
        r = runner.invoke(app, ["report", str(folder), flag, str(tmp_path)])
        assert r.exit_code == 2 and "is a folder: give a file name" in _one_error_line(r.output)
    (tmp_path / "f").write_text("")
    r = runner.invoke(app, ["report", str(folder), "--png", str(tmp_path / "f")])
    assert r.exit_code == 2 and "is a file" in _one_error_line(r.output)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(256)), "is not a text file"),
        (b"0\n0.5\x00\n", "is not a text file"),
        (b"0\n1e300\n", "too large"),
        (b"5e9\n", "too large"),
        (b"1000\n" + str(1000 + 11 * 366 * 86400).encode() + b"\n", "spans more than 10 years"),
        (b"0\n1\n" + b"x" * 200 + b"\n", "is not a time in seconds"),
    ],
)
def test_bad_trace_files(tmp_path: Path, content: bytes, message: str) -> None:
    trace = tmp_path / "t.txt"
    trace.write_bytes(content)
    with pytest.raises(trtpace.InputError, match=message):
        pacing.trace(trace)
    r = runner.invoke(app, ["sweep", "-w", "host:us=1", "--trace", str(trace), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and message in _one_error_line(r.output)
    assert not (tmp_path / "r").exists()


def test_unix_timestamps_replay_relative_to_the_first(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("time,id\n1700000000.5,a\n1700000000.75,b\n1700000001.5,c\n")
    assert pacing.trace(trace).trace_offsets_ns == (0, 250_000_000, 1_000_000_000)


def test_empty_npz_is_not_an_interruption(folder: Path) -> None:
    # np.load raises EOFError on an empty file, and click turns EOFError into Abort: that read as Ctrl-C.
    (folder / "condition-001.npz").write_bytes(b"")
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 0 and "interrupted" not in r.output


def test_zip_with_a_bad_member_crc(folder: Path) -> None:
    path = folder / "condition-003.npz"
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    raw = bytearray(_npz(**{k.removesuffix(".npy"): np.load(io.BytesIO(v)) for k, v in members.items()}))
    # Flip a byte in the stored (uncompressed) data of the first member: its CRC no longer matches.
    raw[200] ^= 0xFF
    path.write_bytes(bytes(raw))
    loaded = trtpace.load(folder)
    assert loaded.conditions[3].status in ("corrupt", "done")  # a flipped byte in the data is caught by the CRC
    if loaded.conditions[3].status == "corrupt":
        assert "condition-003.npz" in loaded.conditions[3].info["load_error"]


def test_compare_folder_with_a_corrupt_condition(tmp_path: Path) -> None:
    out = tmp_path / "c"
    trtpace.compare("host:us=5", 0.001, ["sleep", "spin"], rounds=2, iterations=5, warmup=1, out=out)
    (out / "condition-002.npz").write_bytes(b"PK\x03\x04broken")
    loaded = trtpace.load(out)
    assert [c.status for c in loaded.conditions].count("corrupt") == 1
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0 and "#2 " in r.stderr and "spin" in r.stdout, r.output
    r = runner.invoke(app, ["report", str(out), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["policies"]
