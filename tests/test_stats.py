"""Summary statistics and penalties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trtpace.results.stats import percentile_draws, ratio, ratio_interval, summarize


def test_summary_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    v = rng.gamma(2.0, 50.0, size=1001)
    s = summarize(v)
    assert s["n"] == 1001
    assert s["p50"] == pytest.approx(np.median(v))
    assert s["p90"] == pytest.approx(np.percentile(v, 90))
    assert s["p99"] == pytest.approx(np.percentile(v, 99))
    assert s["max"] == v.max()
    assert s["mean"] == pytest.approx(v.mean())
    assert s["cov"] == pytest.approx(v.std() / v.mean())


def test_known_values() -> None:
    s = summarize(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert (s["p50"], s["max"], s["mean"]) == (3.0, 5.0, 3.0)
    assert s["p90"] == pytest.approx(4.6)


def test_non_finite_values_are_left_out() -> None:
    s = summarize(np.array([1.0, math.nan, 3.0, math.inf]))
    assert s["n"] == 2 and s["p50"] == 2.0


def test_empty_summary_is_nan() -> None:
    s = summarize(np.array([]))
    assert s["n"] == 0 and math.isnan(s["p50"]) and math.isnan(s["cov"])


def test_ratio() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert math.isnan(ratio(1.0, 0.0)) and math.isnan(ratio(math.nan, 1.0))


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate() -> None:
    v = np.random.default_rng(7).gamma(2.0, 50.0, size=400)
    a, b = summarize(v), summarize(v)
    assert a == b  # same data, same interval
    for q in ("p50", "p99"):
        assert a[f"{q}_ci_low"] <= a[q] <= a[f"{q}_ci_high"]
        assert a[f"{q}_ci_low"] < a[f"{q}_ci_high"]
    assert a["p99_reliable"] is False and summarize(np.ones(1000))["p99_reliable"] is True


@pytest.mark.parametrize(("n", "q"), [(25, 50), (200, 99), (1500, 50)])
def test_order_statistic_draws_match_a_brute_force_bootstrap(n: int, q: float) -> None:
    v = np.sort(np.random.default_rng(n).lognormal(0, 0.5, size=n))
    fast = percentile_draws(v, q, np.random.default_rng(0), resamples=20000)
    idx = np.random.default_rng(1).integers(0, n, size=(4000, n))
    slow = np.percentile(v[idx], q, axis=1)
    spread = np.diff(np.percentile(slow, [2.5, 97.5]))[0]
    for p in (2.5, 50, 97.5):
        assert abs(np.percentile(fast, p) - np.percentile(slow, p)) < 0.15 * spread + 1e-12


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.1, 1e6), min_size=1, max_size=300))
def test_intervals_lie_within_the_data(values: list[float]) -> None:
    s = summarize(np.array(values))
    for q in ("p50", "p99"):
        assert min(values) <= s[f"{q}_ci_low"] <= s[f"{q}_ci_high"] <= max(values)


def test_penalty_interval() -> None:
    rng = np.random.default_rng(2)
    base, slow = rng.normal(100, 5, 500), rng.normal(200, 10, 500)
    lo, hi = ratio_interval(slow, base)
    assert lo < np.median(slow) / np.median(base) < hi and hi - lo < 0.2
    assert all(math.isnan(x) for x in ratio_interval(np.array([]), base))


def test_summary_of_a_million_values_stays_fast() -> None:
    import time

    v = np.random.default_rng(0).random(1_000_000)
    t = time.perf_counter()
    summarize(v)
    assert time.perf_counter() - t < 2.0  # sorting dominates; the bootstrap is O(resamples)
