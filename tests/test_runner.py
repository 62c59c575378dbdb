"""The C++ paced loop, driven through a host workload so it runs on any machine."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from trtpace import _core
from trtpace.measure import pacing, workloads
from trtpace.measure.runner import run_paced


def _run(schedule: _core.Schedule, iterations: int, warmup: int = 0, wait: str = "spin", busy_us: float = 20.0):
    runner = _core.Runner(_core.HostWorkload(busy_us), schedule, iterations, warmup, wait, "spin")
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


@pytest.mark.parametrize("wait", ["sleep", "spin", "hybrid"])
def test_closed_loop_gap_is_idle_time_after_completion(wait: str) -> None:
    _, r = _run(_core.Schedule.closed_gap(500_000), 30, wait=wait)
    idle = r["issue_ns"][1:] - r["done_ns"][:-1]
    assert (idle >= 500_000).all()
    assert np.array_equal(r["due_ns"][1:], r["done_ns"][:-1] + 500_000)


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
    runner = _core.Runner(_core.HostWorkload(10.0), _core.Schedule.closed_gap(2_000_000), 100_000, 0, "sleep", "spin")
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
        _core.Runner(_core.HostWorkload(1.0), _core.Schedule.periodic(1000, 5), 5, 1)


def test_zero_iterations_rejected() -> None:
    with pytest.raises(ValueError, match="iterations must be >= 1"):
        _core.Runner(_core.HostWorkload(1.0), _core.Schedule.closed_gap(0), 0)


def test_run_paced_reports_progress() -> None:
    seen: list[tuple[int, int]] = []
    outcome = run_paced(workloads.host(5), pacing.gap(0.001), iterations=200, warmup=3, wait="hybrid", sync="spin",
                        on_progress=lambda done, total: seen.append((done, total)))
    assert not outcome.interrupted and outcome.error is None
    assert seen[-1] == (203, 203)
    assert len(outcome.records["issue_ns"]) == 203
