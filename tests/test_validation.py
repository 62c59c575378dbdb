"""Numbers from Python are checked before the core converts them (issue #10): a NaN, infinite or
huge value is a ValueError, never undefined behaviour. All of these run without a GPU: the checks
come before any CUDA call."""

from __future__ import annotations

import pytest

from trtpace import _core
from trtpace.measure.runner import make_runner

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("busy_us", [NAN, INF, -INF, -1.0, 1e300, 3.6e9 + 1])
def test_host_workload_rejects_bad_durations(busy_us: float) -> None:
    with pytest.raises(ValueError, match="busy_us must be a finite number in"):
        _core.HostWorkload(busy_us)


def test_host_workload_accepts_its_range() -> None:
    assert "0 us" in _core.HostWorkload(0.0).describe()
    assert _core.HostWorkload(3.6e9).describe() == "host busy 3600000000 us"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: _core.wait_until_ns(-1, "spin"), "deadline_ns"),
        (lambda: _core.wait_until_ns(_core.now_ns() + 2**62, "sleep"), "deadline_ns"),
        (lambda: _core.wait_until_ns(0, "hybrid", 10**12), "hybrid margin must be at most"),
        (lambda: _core.wait_until_ns(0, "nap"), r"unknown wait mode 'nap' \(expected sleep, spin or hybrid\)"),
        (lambda: _core.probe_waits("spin", -1, 3), "wait_ns"),
        (lambda: _core.probe_waits("spin", 10, 0), "count > 0"),
        (lambda: _core.sync_globaltimer(0, 0), "1 to 1000 rounds"),
        (lambda: _core.sync_globaltimer(0, -5), "1 to 1000 rounds"),
        pytest.param(lambda: _core._enqueue_test_work(0, 0, -1), "work_ns", marks=pytest.mark.test_hooks),
        (lambda: _core.calibrate_synthetic(0, NAN, 12), "target_us"),
        (lambda: _core.calibrate_synthetic(0, 0.0, 12), "target_us"),
        (lambda: _core.calibrate_synthetic(0, 100.0, 0), "kernels"),
        (lambda: _core.continuous_device_us(_core.HostWorkload(1.0), 5, NAN), "warmup_ms"),
        (lambda: _core.continuous_device_us(_core.HostWorkload(1.0), 5, 1e300), "warmup_ms"),
        (lambda: _core.SyntheticWorkload(0, 0, 64), "kernels must be"),
        (lambda: _core.SyntheticWorkload(0, 12, -1), "iters_per_kernel"),
        (lambda: _core.SyntheticWorkload(0, 12, 64, "graph", 2**30), "blocks_per_sm"),
        (lambda: _core.SyntheticWorkload(0, 12, 64, "graph", 4, 16), "threads_per_block"),
        (
            lambda: _core.SyntheticWorkload(0, 12, 64, "eager"),
            r"unknown launch mode 'eager' \(expected graph or direct\)",
        ),
        (lambda: _core.KeepWarmThread(0, 0, 0), "keep-warm period"),
        (lambda: _core.KeepWarmThread(0, 2**62, 0), "keep-warm period"),
        (lambda: _core.KeepWarmThread(0, 1_000_000, -1), "keep-warm work"),
        (lambda: _core.KeepWarmThread(0, 1_000_000, 2 * 10**9), "keep-warm work"),
        (lambda: _core.PrewarmWorker(_core.HostWorkload(1.0)), "needs a GPU workload"),
        (
            lambda: _core.PrewarmWorker(_core.HostWorkload(1.0), "upload"),
            r"unknown pre-warm target 'upload' \(expected filler, stream or graph\)",
        ),
        (
            lambda: _core.infer_once(_core.HostWorkload(1.0), "poll"),
            r"unknown sync mode 'poll' \(expected spin, block, yield or flag\)",
        ),
    ],
)
def test_bad_arguments_are_value_errors(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def _runner(**kw):
    args = {"iterations": 3, "warmup": 0, "wait": "spin", "sync": "spin"}
    args.update(kw)
    return make_runner(_core.HostWorkload(1.0), _core.Schedule.closed_gap(0), **args)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"start_delay_ns": -1}, "start delay"),
        ({"start_delay_ns": 2**62}, "start delay"),
        ({"hybrid_margin_ns": 10**10, "wait": "hybrid"}, "hybrid margin"),
        ({"keepwarm_period_ns": -1}, "keep-warm period"),
        ({"keepwarm_work_ns": 2**62}, "keep-warm work"),
        ({"prewarm_lead_ns": 2**62}, "pre-warm lead"),
        ({"prewarm_work_ns": -5}, "pre-warm work"),
        ({"prewarm_target": "upload"}, r"unknown pre-warm target 'upload' \(expected filler, stream or graph\)"),
        ({"iterations": 10**9}, "at most 100000000"),
        # warm-up + iterations would wrap around size_t.
        ({"iterations": 2**63, "warmup": 2**63}, "at most 100000000"),
    ],
)
def test_runner_config_out_of_range_is_rejected(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _runner(**kw)


def test_enum_names_round_trip() -> None:
    # One name table per enum: what parses is what prints, and Python's lists are the C++ tables.
    from trtpace.measure import runner

    assert runner.WAIT_MODES == _core.WAIT_MODES == ("sleep", "spin", "hybrid")
    assert runner.SYNC_MODES == _core.SYNC_MODES == ("spin", "block", "yield", "flag")
    assert _core.PREWARM_TARGETS == ("filler", "stream", "graph") and _core.LAUNCH_MODES == ("graph", "direct")
    for wait in ("sleep", "spin", "hybrid"):
        _core.wait_until_ns(0, wait)
    for sync in ("spin", "block", "yield", "flag"):
        assert _core.infer_once(_core.HostWorkload(0.0), sync)["done_ns"] > 0


@pytest.mark.test_hooks
def test_fault_point_names_round_trip() -> None:
    w = _core.HostWorkload(0.0)
    for point in ("none", "launch", "wait", "filler"):
        w._inject_fault(point, 1)
    w._inject_fault("none", 0)
    with pytest.raises(ValueError, match=r"unknown fault point 'x' \(expected none, launch, wait or filler\)"):
        w._inject_fault("x", 1)
    with pytest.raises(ValueError, match="n >= 1"):
        w._inject_fault("launch", 0)
