"""--gap-work through sweep and compare (CLI, Python API, saved results, reports) on host workloads,
which run the real C++ paced loop: every condition but the gap-0 baseline runs the work."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.measure.gap_work import parse_gap_work
from trtpace.report import html as html_report
from trtpace.results.fleet import key_label, row_key
from trtpace.results.policies import summarize_policies

runner = CliRunner()
SWEEP = ["sweep", "-w", "host:us=50", "--iterations", "20", "--warmup", "2"]
COMPARE = [
    "compare",
    "-w",
    "host:us=50",
    "--policies",
    "sleep,spin",
    "--rounds",
    "2",
    "--iterations",
    "10",
    "--warmup",
    "1",
    "--gap",
    "0.003",
]
IDLE = {"kind": "none", "spec": "none", "description": "idle"}
BUSY = {"kind": "busy", "spec": "busy:1ms", "description": "busy CPU work for 1 ms before each inference"}
BUSY_LINE = "gap: busy CPU work for 1 ms before each inference (busy:1ms); the gap-0 baseline runs back to back"


def invoke(*args: str):
    return runner.invoke(app, list(args))


def _one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    return lines[0]


def _saved(folder: Path) -> dict:
    return json.loads((folder / "sweep.json").read_text())


def test_sweep_runs_the_gap_work_in_every_gap_but_the_baseline(tmp_path: Path) -> None:
    out = tmp_path / "r"
    r = invoke(*SWEEP, "--gaps", "0,0.004", "--gap-work", "busy:1ms", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(BUSY_LINE)  # said once, above the tables
    assert "gap 0.004 s, gap work busy:1ms: " in r.stdout  # the attribution line says it too
    doc = _saved(out)
    assert doc["settings"]["gap_work"] == BUSY
    assert [c["info"]["gap_work"] for c in doc["conditions"]] == [IDLE, BUSY]
    assert [c["gap_work"] for c in doc["conditions"]] == ["none", "busy:1ms"]
    loaded = trtpace.load(out)
    base, gap = loaded.conditions
    assert (base.records["gap_work_ns"] == 0).all()
    assert (gap.records["gap_work_ns"] >= 1_000_000).all()
    assert gap.summary()["gap_work_us"]["p50"] >= 1000 and base.summary()["gap_work_us"]["n"] == 0
    # the gap stays the gap asked for: the work fills its end, and the issue follows it at once
    measured = ~gap.is_warmup[1:]
    gaps = (gap.records["issue_ns"][1:] - gap.records["done_ns"][:-1])[measured]
    assert np.median(gaps) == pytest.approx(4_000_000, rel=0.1)
    # the penalty is against the plain back-to-back baseline
    assert loaded.baseline(gap) is base
    html = (out / "report.html").read_text()
    assert '<p class="gap">' + BUSY_LINE in html
    html_report.write_csv(loaded, tmp_path / "r.csv")
    with (tmp_path / "r.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [row["gap_work"] for row in rows] == ["none", "busy:1ms"]
    assert rows[0]["gap_work_p50_us"] == "" and float(rows[1]["gap_work_p50_us"]) >= 1000


def test_sweep_json_rows_carry_the_gap_work(tmp_path: Path) -> None:
    r = invoke(*SWEEP, "--gaps", "0.003", "--gap-work", "memory:1MB", "--out", str(tmp_path / "r"), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["settings"]["gap_work"]["spec"] == "memory:1MB"
    assert [c["gap_work"] for c in doc["conditions"]] == ["none", "memory:1MB"]
    assert doc["conditions"][1]["attribution"]["gap_work_p50_us"] > 0


def test_a_fresh_process_runs_and_saves_the_gap_work(tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    cmd = [
        sys.executable,
        "-m",
        "trtpace",
        "sweep",
        "-w",
        "host:us=50",
        "--gaps",
        "0,0.005",
        "--iterations",
        "20",
        "--gap-work",
        "busy:1ms",
        "--out",
        str(out),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "80"})
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == BUSY_LINE + " without it"
    assert "Traceback" not in p.stderr and "results saved in" in p.stderr
    doc = _saved(out)
    assert doc["settings"]["gap_work"] == BUSY
    base, gap = doc["conditions"]
    assert base["pacing"]["gap_s"] == 0 and base["info"]["gap_work"] == IDLE and base["gap_work"] == "none"
    assert gap["info"]["gap_work"] == BUSY and gap["summary"]["gap_work_us"]["p50"] >= 1000
    with np.load(out / base["file"]) as a:
        assert (a["gap_work_ns"] == 0).all() and (a["staged_ns"] == 0).all()
    with np.load(out / gap["file"]) as a:
        assert (a["gap_work_ns"] >= 1_000_000).all() and a["relaunched"].dtype == bool
    # the terminal keeps its width: no line of the tables is wider than the 80 columns given
    table = p.stdout.split("where the extra time goes")[0].splitlines()[1:]
    assert max(len(line) for line in table) <= 80


@pytest.mark.parametrize("command", [[*SWEEP, "--gaps", "0.001"], COMPARE])
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("busy:0ms", "busy needs a duration"),
        ("warp:9", "unknown kind"),
        ("memory:1", "memory needs a size"),
        ("jpeg:10x10", "jpeg needs"),
    ],
)
def test_a_bad_gap_work_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, command: list[str], spec: str, message: str
) -> None:
    out = tmp_path / "never"
    r = invoke(*command, "--gap-work", spec, "--out", str(out))
    assert r.exit_code == 2, r.output
    line = _one_error_line(r.output)
    assert "--gap-work" in line and message in line
    assert not out.exists()


def test_gap_work_without_a_gap_is_refused(tmp_path: Path) -> None:
    r = invoke(*SWEEP, "--gaps", "0", "--gap-work", "busy:1ms", "--out", str(tmp_path / "r"))
    assert r.exit_code == 2 and "give a gap > 0" in _one_error_line(r.output)
    assert not (tmp_path / "r").exists()
    with pytest.raises(trtpace.UsageError, match="give a gap > 0"):
        trtpace.sweep("host:us=5", gaps_s=[0], iterations=3, gap_work="busy:1ms")


def test_the_idle_default_says_nothing_new(tmp_path: Path) -> None:
    r = invoke(*SWEEP, "--gaps", "0.001", "--out", str(tmp_path / "r"))
    assert r.exit_code == 0, r.output
    assert "gap:" not in r.stdout and "gap work" not in r.stdout
    assert [c["gap_work"] for c in _saved(tmp_path / "r")["conditions"]] == ["none", "none"]
    r = invoke(*SWEEP, "--gaps", "0.001", "--gap-work", "none", "--out", str(tmp_path / "n"))
    assert r.exit_code == 0 and "gap:" not in r.stdout


def test_compare_runs_the_gap_work_in_every_policy_but_the_continuous_rounds(tmp_path: Path) -> None:
    out = tmp_path / "c"
    r = invoke(*COMPARE, "--gap-work", "memory:1MB", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(
        "gap: streamed through 1 MB of memory before each inference (memory:1MB); the "
        "continuous rounds run back to back without it"
    )
    loaded = trtpace.load(out)
    assert loaded.settings["gap_work"]["spec"] == "memory:1MB"
    by_policy = {(c.policy, c.gap_work_spec) for c in loaded.conditions}
    assert by_policy == {("continuous", "none"), ("sleep", "memory:1MB"), ("spin", "memory:1MB")}
    for c in loaded.conditions:
        ran = c.records["gap_work_ns"] > 0
        assert ran.all() if c.policy != "continuous" else not ran.any()
    summaries = {s.policy: s for s in summarize_policies(loaded)}
    assert summaries["sleep"].gap_work == "memory:1MB" and summaries["continuous"].gap_work == "none"
    assert summaries["sleep"].gap_work_us["n"] == 20 and summaries["continuous"].gap_work_us["n"] == 0
    assert summaries["sleep"].label == "sleep"  # one gap work: the labels stay as they were
    assert '<p class="gap">gap: streamed through 1 MB' in (out / "report.html").read_text()
    r = invoke(*COMPARE, "--gap-work", "memory:1MB", "--out", str(tmp_path / "j"), "--json")
    doc = json.loads(r.stdout)
    assert {p["policy"]: p["gap_work"] for p in doc["policies"]} == {
        "continuous": "none",
        "sleep": "memory:1MB",
        "spin": "memory:1MB",
    }


def test_compare_append_with_another_gap_work_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "c"
    assert invoke(*COMPARE, "--gap-work", "busy:1ms", "--out", str(out)).exit_code == 0
    before = (out / "sweep.json").read_bytes()
    for other in ([], ["--gap-work", "busy:2ms"]):
        r = invoke(*COMPARE, *other, "--out", str(out), "--append")
        assert r.exit_code == 2, r.output
        line = _one_error_line(r.output)
        assert "--append:" in line and "--gap-work busy:1ms" in line and "pool" in line
        assert (out / "sweep.json").read_bytes() == before
    r = invoke(*COMPARE, "--gap-work", "busy:1ms", "--out", str(out), "--append")  # the same gap work pools
    assert r.exit_code == 0, r.output
    summaries = {s.policy: s for s in summarize_policies(trtpace.load(out))}
    assert summaries["sleep"].rounds == 4


def test_sweep_append_keeps_rows_of_another_gap_work_apart(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert invoke(*SWEEP, "--gaps", "0.003", "--out", str(out)).exit_code == 0
    r = invoke(*SWEEP, "--gaps", "0.003", "--gap-work", "busy:1ms", "--out", str(out), "--append")
    assert r.exit_code == 0, r.output
    loaded = trtpace.load(out)
    assert [c.gap_work_spec for c in loaded.conditions] == ["none", "none", "none", "busy:1ms"]
    assert [w["spec"] for w in loaded.gap_works()] == ["none", "busy:1ms"]
    r = invoke("report", str(out))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("gap: differs by condition: none: idle; busy:1ms: busy CPU work")
    table = r.stdout.split("trtpace sweep")[1].split("where the extra time goes")[0]
    assert "busy:1ms" in table  # the table says which row had it (its pacing column folds at 80 columns)
    rows = loaded.rows()
    assert row_key(rows[1]) != row_key(rows[3])  # a fleet never matches them either
    assert key_label((*row_key(rows[3]), 1)) == "host:us=50, gap 0.003 s [gap work busy:1ms]"


def test_python_api_takes_a_spec_or_a_gap_work(tmp_path: Path) -> None:
    a = trtpace.sweep("host:us=20", gaps_s=[0.002], iterations=8, warmup=0, gap_work="busy:0.5ms")
    b = trtpace.sweep("host:us=20", gaps_s=[0.002], iterations=8, warmup=0, gap_work=parse_gap_work("busy:0.5ms"))
    for r in (a, b):
        assert [c.gap_work_spec for c in r.conditions] == ["none", "busy:0.5ms"]
        assert (r.conditions[1].records["gap_work_ns"] >= 500_000).all()
    c = trtpace.compare("host:us=20", 0.002, ["sleep"], rounds=1, iterations=5, warmup=0, gap_work="busy:0.5ms")
    assert [(x.policy, x.gap_work_spec) for x in c.conditions] == [("continuous", "none"), ("sleep", "busy:0.5ms")]
    with pytest.raises(trtpace.UsageError, match="gap_work takes a spec"):
        trtpace.sweep("host:us=20", gaps_s=[0.002], iterations=5, gap_work=2)  # type: ignore[arg-type]
    with pytest.raises(trtpace.UsageError, match="--gap-work"):
        trtpace.compare("host:us=20", 0.002, ["sleep"], rounds=1, iterations=5, gap_work="busy", out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(
    importlib.util.find_spec("cv2") is None and importlib.util.find_spec("PIL") is None, reason="needs OpenCV or Pillow"
)
def test_jpeg_gap_work_is_described(tmp_path: Path) -> None:
    r = invoke(
        "sweep",
        "-w",
        "host:us=20",
        "--iterations",
        "4",
        "--warmup",
        "0",
        "--gaps",
        "0.01",
        "--gap-work",
        "jpeg:320x240",
        "--out",
        str(tmp_path / "r"),
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("gap: decoded and preprocessed a 320x240 JPEG before each inference (jpeg:320x240)")
    assert (trtpace.load(tmp_path / "r").conditions[1].records["gap_work_ns"] > 0).all()


def test_results_without_gap_work_load_as_an_idle_gap(tmp_path: Path) -> None:
    """A folder written before gap work: no gap_work in its settings, entries or info, and condition
    files without staged_ns, gap_work_ns and relaunched."""
    out = tmp_path / "old"
    trtpace.sweep("host:us=20", gaps_s=[0.002], iterations=6, warmup=0, out=out, gap_work="busy:0.5ms")
    doc = _saved(out)
    del doc["settings"]["gap_work"]
    for entry in doc["conditions"]:
        del entry["gap_work"], entry["info"]["gap_work"]
        for metric in ("write_us", "gap_work_us"):
            del entry["summary"][metric]
        with np.load(out / entry["file"]) as a:
            arrays = {k: a[k] for k in a.files if k not in ("staged_ns", "gap_work_ns", "relaunched")}
        np.savez(out / entry["file"], **arrays)
    (out / "sweep.json").write_text(json.dumps(doc))
    loaded = trtpace.load(out)
    assert [c.status for c in loaded.conditions] == ["done", "done"]
    assert [c.gap_work for c in loaded.conditions] == [IDLE, IDLE]
    assert "staged_ns" not in loaded.conditions[1].records
    rows = loaded.rows()
    assert [r["gap_work"] for r in rows] == ["none", "none"] and "write" not in rows[1]["attribution"]["parts_us"]
    assert np.isnan(rows[1]["summary"]["gap_work_us"]["p50"])
    r = invoke("report", str(out))
    assert r.exit_code == 0 and "gap:" not in r.stdout


def test_multi_worker_runs_carry_the_gap_work(tmp_path: Path) -> None:
    """Each worker process (multiprocessing spawn) runs the gap work in its own gaps."""
    r = invoke(
        "sweep",
        "-w",
        "host:us=50",
        "--gaps",
        "0,0.003",
        "--iterations",
        "8",
        "--warmup",
        "0",
        "--gpu",
        "0,0",
        "--allow-shared-gpu",
        "--gap-work",
        "busy:0.5ms",
        "--out",
        str(tmp_path / "r"),
        "--no-report",
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("gap: busy CPU work for 0.5 ms before each inference (busy:0.5ms)")
    loaded = trtpace.load(tmp_path / "r")
    assert {(c.gpu_label, c.pacing.gap_s, c.gap_work_spec) for c in loaded.conditions} == {
        (g, gap, "none" if gap == 0 else "busy:0.5ms") for g in ("gpu0", "gpu0#2") for gap in (0.0, 0.003)
    }
    assert all((c.records["gap_work_ns"] >= 500_000).all() for c in loaded.conditions if c.pacing.gap_s)


@pytest.mark.parametrize("command", ["sweep", "compare"])
def test_help_lists_the_kinds(command: str) -> None:
    r = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for kind in (
        "none",
        "busy:2ms",
        "memory:64MB",
        "jpeg:1280x720",
        "the inference is issued when it ends",
        "the gap-0 baseline stays back to back",
    ):
        assert kind in text, kind
