"""Results land on disk as each condition finishes, load back whole, and survive interruptions."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import trtpace
from trtpace.measure import pacing
from trtpace.results import ConditionResult, ResultWriter, save


def _host_sweep(tmp_path: Path) -> trtpace.SweepResult:
    return trtpace.sweep("host:us=30", gaps_s=[0.0005, 0.001], iterations=40, warmup=4, out=tmp_path / "r")


def test_sweep_adds_baseline_and_computes_penalty(tmp_path: Path) -> None:
    result = _host_sweep(tmp_path)
    assert [c.pacing.gap_s for c in result.conditions] == [0.0, 0.0005, 0.001]
    rows = result.rows()
    assert rows[0]["penalty"] == 1.0
    for row, c in zip(rows, result.conditions, strict=False):
        assert row["summary"]["e2e_us"]["n"] == 40
        e2e = c.column("e2e_us")
        assert row["penalty"] == pytest.approx(np.median(e2e) / np.median(result.conditions[0].column("e2e_us")))
        assert c.column("e2e_us", include_warmup=True).size == 44


def test_save_load_round_trip(tmp_path: Path) -> None:
    result = _host_sweep(tmp_path)
    loaded = trtpace.load(tmp_path / "r")
    assert len(loaded.conditions) == 3
    for a, b in zip(result.conditions, loaded.conditions, strict=False):
        assert (a.workload, a.pacing, a.status, a.warmup) == (b.workload, b.pacing, b.status, b.warmup)
        for k in a.records:
            assert np.array_equal(a.records[k], b.records[k], equal_nan=True)
    assert loaded.rows()[1]["penalty"] == pytest.approx(result.rows()[1]["penalty"])
    # save() elsewhere writes the same thing
    copy = trtpace.load(save(result, tmp_path / "copy"))
    assert copy.to_json()["conditions"][2]["summary"] == loaded.to_json()["conditions"][2]["summary"]
    doc = json.loads((tmp_path / "r" / "sweep.json").read_text())
    assert doc["environment"]["trtpace_version"] == trtpace.__version__
    assert doc["conditions"][1]["summary"]["e2e_us"]["n"] == 40


def test_condition_running_at_a_crash_loads_as_lost(tmp_path: Path) -> None:
    records = {k: np.arange(5, dtype=np.int64) for k in ("due_ns", "issue_ns", "submitted_ns", "done_ns")}
    records["device_us"] = np.ones(5)
    done = ConditionResult("w", pacing.gap(0), "spin", "spin", 0, 5, records)
    writer = ResultWriter(tmp_path, {}, {})
    writer.add(done)
    writer.begin(ConditionResult("w", pacing.gap(0.1), "spin", "spin", 0, 5, {}))  # then the process dies
    loaded = trtpace.load(tmp_path)
    assert [c.status for c in loaded.conditions] == ["done", "lost"]
    assert loaded.conditions[1].count == 0
    assert math.isnan(loaded.rows()[1]["summary"]["e2e_us"]["p50"])


def test_load_reports_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(trtpace.UsageError, match="sweep.json is missing"):
        trtpace.load(tmp_path)


def test_ctrl_c_keeps_finished_and_partial_conditions(tmp_path: Path) -> None:
    out = tmp_path / "r"
    cmd = [
        sys.executable,
        "-m",
        "trtpace",
        "sweep",
        "-w",
        "host:us=20",
        "--gaps",
        "0,0.01",
        "--iterations",
        "3000",
        "--warmup",
        "0",
        "--out",
        str(out),
        "--json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the second (30 s long) condition is running
        try:
            doc = json.loads((out / "sweep.json").read_text())
            if len(doc["conditions"]) == 2:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    loaded = trtpace.load(out)
    assert [c.status for c in loaded.conditions] == ["done", "partial"]
    assert loaded.conditions[0].count == 3000
    assert 0 < loaded.conditions[1].count < 3000
    assert json.loads(stdout)["conditions"][1]["status"] == "partial"
    assert not any(name.startswith(".") for name in os.listdir(out))  # no temporary files left


def test_samplers_of_different_lengths_load_as_done(tmp_path: Path) -> None:
    # NVML columns, the driver's clock samples and the host CPU sampler each have their own length.
    from trtpace.measure import telemetry as tel

    result = trtpace.sweep("host:us=20", gaps_s=[0.001], iterations=10, warmup=0)
    for c in result.conditions:
        t0 = int(c.records["issue_ns"][0])
        c.telemetry = {f"tel_{k}": np.full(5, 1.0) for k in tel.COLUMNS}
        c.telemetry["tel_t_ns"] = t0 + np.arange(5, dtype=np.int64)
        c.telemetry |= {
            "tel_clk_t_ns": np.arange(2, dtype=np.int64),
            "tel_clk_sm_mhz": np.ones(2),
            "tel_cpu_t_ns": np.arange(3, dtype=np.int64),
            "tel_cpu_core": np.zeros(3, dtype=np.int64),
            "tel_cpu_khz": np.ones(3),
        }
    loaded = trtpace.load(save(result, tmp_path / "r"))
    assert [c.status for c in loaded.conditions] == ["done", "done"]
    assert loaded.rows()[1]["penalty"] == pytest.approx(result.rows()[1]["penalty"])


def test_the_runners_newer_record_columns_round_trip(tmp_path: Path) -> None:
    """staged_ns, gap_work_ns and relaunched (a bool column) are saved and load back as they were."""
    result = trtpace.sweep(
        "host:us=20", gaps_s=[0.002], iterations=6, warmup=1, out=tmp_path / "r", gap_work="busy:0.2ms"
    )
    loaded = trtpace.load(tmp_path / "r")
    for a, b in zip(result.conditions, loaded.conditions, strict=True):
        for k in ("staged_ns", "gap_work_ns", "relaunched"):
            assert np.array_equal(a.records[k], b.records[k]), k
        assert b.records["relaunched"].dtype == bool
        assert b.info["gap_work"] == a.info["gap_work"]
    assert (loaded.conditions[1].records["gap_work_ns"] >= 200_000).all()
