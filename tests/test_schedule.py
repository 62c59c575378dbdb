"""Closed-loop gaps and open-loop period, Poisson and trace schedules."""

from __future__ import annotations

import numpy as np
import pytest

from trtpace import _core


def test_closed_gap_counts_from_previous_completion() -> None:
    s = _core.Schedule.closed_gap(5_000)
    assert not s.open_loop and s.gap_ns == 5_000
    assert s.due_ns(0, 100, 0) == 100
    assert s.due_ns(3, 100, 1_000) == 6_000


def test_periodic_due_times_ignore_completion() -> None:
    s = _core.Schedule.periodic(1_000, 5)
    assert s.open_loop
    assert list(s.offsets_ns) == [0, 1_000, 2_000, 3_000, 4_000]
    assert s.due_ns(2, 50, 10**9) == 2_050


def test_poisson_is_reproducible_and_has_the_asked_rate() -> None:
    a = _core.Schedule.poisson(200.0, 7, 20_000).offsets_ns
    b = _core.Schedule.poisson(200.0, 7, 20_000).offsets_ns
    c = _core.Schedule.poisson(200.0, 8, 20_000).offsets_ns
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a[0] == 0 and (np.diff(a) >= 0).all()
    intervals_s = np.diff(a) / 1e9
    assert intervals_s.mean() == pytest.approx(1 / 200.0, rel=0.03)
    # Exponential inter-arrival times: standard deviation equals the mean.
    assert intervals_s.std() == pytest.approx(intervals_s.mean(), rel=0.05)


def test_trace_keeps_offsets() -> None:
    s = _core.Schedule.trace([0, 10, 10, 25])
    assert list(s.offsets_ns) == [0, 10, 10, 25]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _core.Schedule.closed_gap(-1), "gap must be >= 0"),
        (lambda: _core.Schedule.periodic(0, 3), "period must be > 0"),
        (lambda: _core.Schedule.poisson(0.0, 1, 3), "rate must be"),
        (lambda: _core.Schedule.poisson(float("nan"), 1, 3), "rate must be"),
        (lambda: _core.Schedule.trace([]), "at least one"),
        (lambda: _core.Schedule.trace([5, 3]), "must not decrease"),
        (lambda: _core.Schedule.trace([-1]), ">= 0"),
    ],
)
def test_invalid_schedules_are_rejected(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
