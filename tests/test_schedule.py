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


TEN_YEARS_NS = 10 * 365 * 24 * 3600 * 10**9


def test_periodic_up_to_the_horizon_is_accepted_and_one_ns_more_is_not() -> None:
    s = _core.Schedule.periodic(TEN_YEARS_NS // 4, 5)
    assert s.offsets_ns[-1] == 4 * (TEN_YEARS_NS // 4) <= TEN_YEARS_NS
    with pytest.raises(ValueError, match="more than 10 years"):
        _core.Schedule.periodic(TEN_YEARS_NS // 4 + 1, 5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # i * period would overflow int64 long before the last due time.
        (lambda: _core.Schedule.periodic(2**62, 3), "more than 10 years"),
        (lambda: _core.Schedule.periodic(10**18, 100), "more than 10 years"),
        (lambda: _core.Schedule.periodic(1, 10**9), "at most 100000000 due times"),
        # The first inter-arrival time at 1e-9 Hz is ~30 years: it used to become INT64_MIN.
        (lambda: _core.Schedule.poisson(1e-9, 1, 3), "more than 10 years"),
        (lambda: _core.Schedule.poisson(float("inf"), 1, 3), "rate must be"),
        (lambda: _core.Schedule.trace([0, 2**62]), "more than 10 years"),
        (lambda: _core.Schedule.closed_gap(2**62), "at most 10 years"),
    ],
)
def test_schedules_past_the_horizon_are_rejected(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_poisson_with_one_due_time_needs_no_horizon() -> None:
    assert list(_core.Schedule.poisson(1e-9, 1, 1).offsets_ns) == [0]


def test_due_ns_checks_its_arguments() -> None:
    s = _core.Schedule.periodic(1_000, 5)
    assert s.due_ns(4, 0, 0) == 4_000
    with pytest.raises(IndexError, match="past the schedule's 5 due times"):
        s.due_ns(5, 0, 0)
    with pytest.raises(ValueError, match="t0_ns"):
        s.due_ns(0, -1, 0)
    with pytest.raises(ValueError, match="prev_done_ns"):
        _core.Schedule.closed_gap(10).due_ns(1, 0, 2**63 - 1)
