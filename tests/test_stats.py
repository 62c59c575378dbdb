"""Summary statistics and penalties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trtpace.results.stats import ratio, summarize


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
