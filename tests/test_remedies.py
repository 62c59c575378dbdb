"""KeepWarm and Pacer parts that run without a GPU (the rest is in test_gpu.py and test_gpu_error_paths.py)."""

from __future__ import annotations

import threading

import pytest

import trtpace
from trtpace import _core
from trtpace.errors import UsageError
from trtpace.measure import workloads


def test_keepwarm_thread_never_started_stops_pauses_and_resumes_quietly() -> None:
    kw = _core.KeepWarmThread(0, 1_000_000, 5_000)  # no CUDA call until start()
    assert not kw.running and kw.fired == 0
    kw.pause()  # no fire in flight: returns at once
    kw.resume()
    kw.stop()
    kw.stop()  # twice is fine
    assert not kw.running


@pytest.mark.parametrize(
    "kwargs",
    [
        {"period_ms": float("nan")},
        {"period_ms": float("inf")},
        {"period_ms": 0},
        {"work_us": float("nan")},
        {"period_ms": 1, "work_us": 1000},
        {"work_us": -1},
    ],
)
def test_keepwarm_rejects_bad_arguments_before_touching_the_gpu(kwargs: dict) -> None:
    with pytest.raises(UsageError, match="KeepWarm needs"):
        trtpace.KeepWarm(**kwargs)


def test_pacer_on_a_host_workload_runs_and_infers() -> None:
    threads = threading.active_count()
    with trtpace.Pacer(workloads.host(20)) as pacer:
        c = pacer.run(15, gap_s=0.0002, warmup=2)
        assert c.count == 17 and c.status == "done"
        pacer.expect(_core.now_ns() + 1_000_000)  # no pre-warm configured: nothing to schedule
        rec = pacer.infer()
        assert rec["done_ns"] >= rec["submitted_ns"] >= rec["issue_ns"] and rec["device_us"] >= 20
        assert pacer.prewarms_fired == 0
    pacer.close()  # twice is fine
    with pytest.raises(UsageError, match="closed"):
        pacer.infer()
    assert threading.active_count() == threads


@pytest.mark.test_hooks
def test_pacer_run_raises_the_runner_error() -> None:
    w = workloads.host(10)
    w.core._inject_fault("launch", 3)
    with trtpace.Pacer(w) as pacer, pytest.raises(trtpace.TrtpaceError, match="injected fault at launch"):
        pacer.run(10, gap_s=0.0001)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prewarm_lead_ms": float("nan")}, "prewarm_lead_ms"),
        ({"prewarm_work_us": float("inf")}, "prewarm_work_us"),
        ({"keepwarm_period_ms": -1.0}, "keepwarm_period_ms"),
        ({"prewarm_target": "upload"}, "prewarm_target"),
        ({"prewarm_lead_ms": 1.0}, "pre-warm needs a GPU workload"),
    ],
)
def test_pacer_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        trtpace.Pacer(workloads.host(10), **kwargs)
