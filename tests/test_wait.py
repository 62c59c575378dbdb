"""Waits end at or after their deadline, never before, and spin ends close to it."""

from __future__ import annotations

import numpy as np
import pytest

from trtpace import _core


@pytest.mark.parametrize("mode", ["sleep", "spin", "hybrid"])
@pytest.mark.parametrize("wait_ns", [0, 50_000, 1_000_000])
def test_wait_never_ends_early(mode: str, wait_ns: int) -> None:
    for _ in range(20):
        deadline = _core.now_ns() + wait_ns
        _core.wait_until_ns(deadline, mode)
        assert _core.now_ns() >= deadline


def test_deadline_in_the_past_returns_at_once() -> None:
    start = _core.now_ns()
    _core.wait_until_ns(start - 1_000_000_000, "sleep")
    assert _core.now_ns() - start < 50_000_000


@pytest.mark.parametrize("method", ["sleep", "spin", "hybrid", "sleep_for"])
def test_probe_waits_reports_nonnegative_overshoot(method: str) -> None:
    over, cpu_ns, wall_ns = _core.probe_waits(method, 100_000, 30)
    assert over.shape == (30,) and over.dtype == np.int64
    assert (over >= 0).all()
    assert 0 <= cpu_ns <= wall_ns * 1.05 + 1_000_000
    assert wall_ns >= 30 * 100_000


def test_spin_error_is_small() -> None:
    over, _, _ = _core.probe_waits("spin", 200_000, 200)
    # A spinning thread sees its deadline within a few hundred ns; the median tolerates a
    # shared CI machine preempting us now and then.
    assert np.median(over) < 20_000


def test_hybrid_margin_is_calibrated_and_bounded() -> None:
    margin = _core.calibrate_hybrid_margin_ns(20)
    assert 10_000 <= margin <= 2_000_000
    assert 10_000 <= _core.default_hybrid_margin_ns() <= 2_000_000


def test_hybrid_spends_less_cpu_than_spin() -> None:
    # 20 ms waits: even at its widest (5 ms) the hybrid margin leaves most of each wait asleep.
    _, spin_cpu, spin_wall = _core.probe_waits("spin", 20_000_000, 5)
    _, hybrid_cpu, hybrid_wall = _core.probe_waits("hybrid", 20_000_000, 5)
    assert hybrid_cpu / hybrid_wall < 0.5 * spin_cpu / spin_wall


def test_unknown_wait_mode_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown wait mode"):
        _core.wait_until_ns(0, "nap")
