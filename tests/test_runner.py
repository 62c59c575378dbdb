"""The C++ paced loop, driven through a host workload so it runs on any machine."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import trtpace
from trtpace import _core
from trtpace.errors import UsageError
from trtpace.measure import pacing, records, workloads
from trtpace.measure.runner import make_runner, run_paced


def _run(schedule: _core.Schedule, iterations: int, warmup: int = 0, wait: str = "spin", busy_us: float = 20.0):
    runner = make_runner(_core.HostWorkload(busy_us), schedule, iterations, warmup, wait, "spin")
    runner.run()
    return runner, runner.records()


def test_records_are_complete_and_ordered() -> None:
    runner, r = _run(_core.Schedule.closed_gap(200_000), 50, warmup=5)
    assert runner.completed == runner.total == 55
    for col in ("due_ns", "issue_ns", "submitted_ns", "done_ns", "device_us"):
        assert len(r[col]) == 55
    assert (r["issue_ns"] >= r["due_ns"]).all()
    assert (r["submitted_ns"] >= r["issue_ns"]).all() and (r["done_ns"] >= r["submitted_ns"]).all()
    assert (np.diff(r["issue_ns"]) > 0).all()
    assert (r["device_us"] >= 20.0).all()


def test_records_are_one_structured_array_of_the_core_table() -> None:
    runner, r = _run(_core.Schedule.closed_gap(100_000), 7, warmup=1)
    assert isinstance(r, np.ndarray) and r.shape == (8,) and r.dtype == _core.RECORD_DTYPE
    assert r.dtype.names == _core.RECORD_COLUMNS == trtpace.results.RECORD_COLUMNS
    assert set(_core.RECORD_UNITS) == set(_core.RECORD_COLUMNS)
    # Times in whole ns, measurements as floats (NaN: unknown), the relaunched flag as bool.
    for name in _core.RECORD_COLUMNS:
        kind = r.dtype[name].kind
        unit = _core.RECORD_UNITS[name]
        assert (kind, unit) in (("i", "ns"), ("f", "us"), ("f", "MHz"), ("b", "")), name
    assert r["relaunched"].dtype == bool and not r["relaunched"].any()
    assert np.isnan(r["copy_in_us"]).all() and (r["armed_ns"] == 0).all()
    # Each call is a copy of its own; the mapping trtpace keeps is views of it (no copy).
    again = runner.records()
    assert not np.shares_memory(r, again) and r.tobytes() == again.tobytes()  # padding zeroed too
    columns = records.columns(r)
    assert list(columns) == list(_core.RECORD_COLUMNS)
    assert all(np.shares_memory(columns[k], r) for k in columns)
    assert np.array_equal(columns["done_ns"], r["done_ns"])
    with pytest.raises(TypeError, match="structured array"):
        records.columns(np.zeros(3))


def test_run_paced_records_are_columns_of_one_array() -> None:
    outcome = run_paced(workloads.host(5), pacing.gap(0.0001), iterations=5, warmup=0, wait="spin", sync="spin")
    r = outcome.records
    assert isinstance(r, dict) and list(r) == list(_core.RECORD_COLUMNS)
    base = r["issue_ns"].base
    assert base is not None and base.dtype == _core.RECORD_DTYPE
    assert all(a.base is base for a in r.values())
    assert "staged_ns" in r and r.get("nonexistent") is None and len(r["issue_ns"]) == 5


@pytest.mark.parametrize("wait", ["sleep", "spin", "hybrid"])
def test_closed_loop_gap_is_idle_time_after_completion(wait: str) -> None:
    _, r = _run(_core.Schedule.closed_gap(500_000), 30, wait=wait)
    idle = r["issue_ns"][1:] - r["done_ns"][:-1]
    assert (idle >= 500_000).all()
    assert np.array_equal(r["due_ns"][1:], r["done_ns"][:-1] + 500_000)


def test_a_given_hybrid_margin_is_a_floor_and_not_shared() -> None:
    def margin_of_a_new_runner() -> int:
        return make_runner(
            _core.HostWorkload(5.0), _core.Schedule.closed_gap(1_000_000), 1, 0, "hybrid", "spin"
        ).hybrid_margin_ns

    before = margin_of_a_new_runner()
    runner = make_runner(
        _core.HostWorkload(5.0),
        _core.Schedule.closed_gap(5_000_000),
        50,
        0,
        "hybrid",
        "spin",
        hybrid_margin_ns=4_000_000,
    )
    runner.run()
    # Every wait spins ~4 ms (less the sleep's overshoot). An adaptive margin would give back 2%
    # per on-time wait: 50 waits would then spin ~127 ms in all, not ~200 ms.
    assert runner.hybrid_margin_ns >= 4_000_000
    assert runner.cpu_ns >= 49 * 3_500_000
    assert margin_of_a_new_runner() == before  # later runners start from the calibrated/learned margin


def test_open_loop_due_times_follow_the_schedule() -> None:
    _, r = _run(_core.Schedule.periodic(1_000_000, 40), 40, wait="hybrid")
    assert np.array_equal(np.diff(r["due_ns"]), np.full(39, 1_000_000))
    assert (r["issue_ns"] >= r["due_ns"]).all()


def test_open_loop_lateness_is_visible() -> None:
    # Work (2 ms) longer than the period (1 ms): each issue falls further behind its due time.
    _, r = _run(_core.Schedule.periodic(1_000_000, 10), 10, busy_us=2000.0)
    late = r["issue_ns"] - r["due_ns"]
    assert late[-1] > late[1] > 0


def test_request_stop_keeps_completed_records() -> None:
    runner = make_runner(_core.HostWorkload(10.0), _core.Schedule.closed_gap(2_000_000), 100_000, 0, "sleep", "spin")
    t = threading.Thread(target=runner.run)
    t.start()
    time.sleep(0.1)
    runner.request_stop()
    t.join(5)
    assert not t.is_alive()
    n = runner.completed
    assert 0 < n < 100_000
    assert len(runner.records()["done_ns"]) == n
    with pytest.raises(RuntimeError, match="runs once"):
        runner.run()


def test_schedule_shorter_than_the_run_is_rejected() -> None:
    with pytest.raises(ValueError, match="fewer than warm-up"):
        make_runner(_core.HostWorkload(1.0), _core.Schedule.periodic(1000, 5), 5, 1)


def test_zero_iterations_rejected() -> None:
    with pytest.raises(ValueError, match="iterations must be >= 1"):
        make_runner(_core.HostWorkload(1.0), _core.Schedule.closed_gap(0), 0)


def test_run_paced_reports_progress() -> None:
    seen: list[tuple[int, int]] = []
    outcome = run_paced(
        workloads.host(5),
        pacing.gap(0.001),
        iterations=200,
        warmup=3,
        wait="hybrid",
        sync="spin",
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert not outcome.interrupted and outcome.error is None
    assert seen[-1] == (203, 203)
    assert len(outcome.records["issue_ns"]) == 203


def test_stop_before_start_returns_with_no_records() -> None:
    runner = make_runner(_core.HostWorkload(10.0), _core.Schedule.closed_gap(0), 50, 0, "spin", "spin")
    runner.request_stop()
    runner.run()  # returns at once: no RuntimeError
    assert runner.completed == 0
    records = runner.records()
    assert records.dtype == _core.RECORD_DTYPE and len(records) == 0
    with pytest.raises(RuntimeError, match="runs once"):
        runner.run()


def _check_consistent(r: dict[str, np.ndarray], n: int) -> None:
    for col in ("due_ns", "issue_ns", "submitted_ns", "done_ns", "device_us", "gpu_start_ns", "inband_mhz"):
        assert len(r[col]) == n, col
    assert (r["issue_ns"] >= r["due_ns"]).all()
    assert (r["submitted_ns"] >= r["issue_ns"]).all() and (r["done_ns"] >= r["submitted_ns"]).all()
    assert (np.diff(r["issue_ns"]) > 0).all()
    assert (r["device_us"] >= 20.0).all()
    # A host workload has no probe: gpu_start_ns is 0 (unknown), inband_mhz NaN.
    assert (r["gpu_start_ns"] == 0).all() and np.isnan(r["inband_mhz"]).all()


@pytest.mark.test_hooks
@pytest.mark.parametrize(("point", "n", "kept"), [("launch", 1, 0), ("launch", 7, 6), ("wait", 1, 0), ("wait", 7, 6)])
def test_injected_fault_keeps_the_inferences_before_it(point: str, n: int, kept: int) -> None:
    w = _core.HostWorkload(20.0)
    w._inject_fault(point, n)
    runner = make_runner(w, _core.Schedule.closed_gap(100_000), 20, 2, "spin", "spin")
    with pytest.raises(trtpace.TrtpaceError, match=f"injected fault at {point}"):
        runner.run()
    assert runner.completed == kept
    _check_consistent(runner.records(), kept)
    # The fault fires once: the same workload runs a whole condition next.
    again = make_runner(w, _core.Schedule.closed_gap(0), 5, 0, "spin", "spin")
    again.run()
    assert again.completed == 5


@pytest.mark.test_hooks
def test_fault_at_a_point_the_run_never_reaches_changes_nothing() -> None:
    w = _core.HostWorkload(20.0)
    w._inject_fault("filler", 1)  # no keep-warm or pre-warm on a host workload: no filler fires
    runner = make_runner(w, _core.Schedule.closed_gap(0), 10, 0, "spin", "spin")
    runner.run()
    assert runner.completed == 10


@pytest.mark.test_hooks
def test_injected_fault_surfaces_through_run_paced() -> None:
    w = workloads.host(20)
    w.core._inject_fault("wait", 5)
    outcome = run_paced(w, pacing.gap(0.0001), iterations=10, warmup=1, wait="spin", sync="spin")
    assert isinstance(outcome.error, trtpace.TrtpaceError) and "injected fault at wait" in str(outcome.error)
    assert outcome.interrupted is None
    _check_consistent(outcome.records, 4)


@pytest.mark.test_hooks
def test_injected_fault_in_a_sweep_saves_a_partial_condition(tmp_path) -> None:
    w = workloads.host(20)
    w.core._inject_fault("launch", 9)
    with pytest.raises(trtpace.TrtpaceError, match="injected fault at launch"):
        trtpace.sweep(w, gaps_s=[0.0002], iterations=10, warmup=2, out=tmp_path / "r", telemetry=False)
    saved = trtpace.load(tmp_path / "r")
    (c,) = saved.conditions  # the baseline failed: the sweep stopped there
    assert c.status == "partial" and c.count == 8
    _check_consistent(c.records, 8)


def test_run_config_is_the_one_set_of_run_options() -> None:
    c = _core.RunConfig()
    c.wait, c.sync, c.prewarm_target, c.armed_gate = "spin", "flag", "graph", "kernel"
    c.staging = [(1, 2, 3, 64)]
    assert (c.wait, c.sync, c.prewarm_target, c.armed_gate, c.staging) == (
        "spin",
        "flag",
        "graph",
        "kernel",
        [(1, 2, 3, 64)],
    )
    c.armed_gate = "off"
    assert c.armed_gate == "off"
    with pytest.raises(UsageError, match="unknown wait mode 'nap'"):
        c.wait = "nap"
    with pytest.raises(UsageError, match="unknown run option 'keepwarm_period_ms'"):
        make_runner(_core.HostWorkload(1.0), _core.Schedule.closed_gap(0), 1, keepwarm_period_ms=1.0)
    with pytest.raises(UsageError, match="armed launch and pre-warm exclude each other"):
        _core.check_remedy_combination(True, 1)
