"""Summary statistics of one latency column, with seeded bootstrap confidence intervals.

Confidence intervals are 95% percentile-bootstrap intervals from 1000 resamples with a fixed
seed, so the same data always gives the same interval. A resample's percentile depends only on
two adjacent order statistics of the resampled indexes, and the k-th smallest of n uniform draws
follows a Beta(k, n + 1 - k) law: drawing those two order statistics directly gives exactly the
bootstrap distribution of numpy's (linearly interpolated) percentile in O(resamples), whatever n
is, instead of sorting 1000 copies of the data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SUMMARY_KEYS = ("n", "p50", "p90", "p99", "max", "mean", "cov")
CI_KEYS = ("p50_ci_low", "p50_ci_high", "p99_ci_low", "p99_ci_high")
CI_LEVEL = 0.95
RESAMPLES = 1000
SEED = 20261123
P99_MIN_SAMPLES = 1000  # below this a p99 rests on fewer than 10 samples beyond it: marked unreliable


def percentile_draws(
    sorted_values: np.ndarray, q: float, rng: np.random.Generator, resamples: int = RESAMPLES
) -> np.ndarray:
    """`resamples` bootstrap draws of the q-th percentile (0-100) of `sorted_values` (ascending).

    Exact for the bootstrap: the resample's order statistics k and k+1 (0-based), where numpy's
    linear percentile reads, are drawn as order statistics of n uniform indexes."""
    x = sorted_values
    n = x.size
    if n == 1:
        return np.full(resamples, float(x[0]))
    h = (n - 1) * q / 100.0
    k = min(math.floor(h), n - 2)
    frac = h - k
    # U_(k+1) of n uniforms ~ Beta(k+1, n-k); given it, U_(k+2) is the least of the n-k-1 uniforms above it.
    u1 = rng.beta(k + 1, n - k, size=resamples)
    u2 = u1 + (1.0 - u1) * rng.beta(1, n - k - 1, size=resamples)
    i1 = np.minimum((u1 * n).astype(np.int64), n - 1)
    i2 = np.minimum((u2 * n).astype(np.int64), n - 1)
    return np.asarray(x[i1] + frac * (x[i2] - x[i1]))


def interval(draws: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return math.nan, math.nan
    lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def finite_sorted(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return np.sort(v[np.isfinite(v)])


def summarize(values: np.ndarray) -> dict[str, Any]:
    """n, p50, p90, p99, max, mean and CoV (std / mean) of the finite values; NaN where undefined;
    95% bootstrap intervals of p50 and p99 (`p50_ci_low` ...), and `p99_reliable`: False below
    1000 samples.

    Percentiles interpolate linearly between order statistics (numpy's default), so p99 of
    fewer than 100 samples lies between the two largest.
    """
    v = finite_sorted(values)
    if v.size == 0:
        return {
            "n": 0,
            **dict.fromkeys(SUMMARY_KEYS[1:], math.nan),
            **dict.fromkeys(CI_KEYS, math.nan),
            "p99_reliable": False,
        }
    p50, p90, p99 = np.percentile(v, [50, 90, 99])
    mean = float(v.mean())
    rng = np.random.default_rng(SEED)
    p50_ci = interval(percentile_draws(v, 50, rng))
    p99_ci = interval(percentile_draws(v, 99, rng))
    return {
        "n": int(v.size),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(v[-1]),
        "mean": mean,
        "cov": float(v.std() / mean) if mean > 0 else math.nan,
        "p50_ci_low": p50_ci[0],
        "p50_ci_high": p50_ci[1],
        "p99_ci_low": p99_ci[0],
        "p99_ci_high": p99_ci[1],
        "p99_reliable": bool(v.size >= P99_MIN_SAMPLES),
    }


def ratio_interval(numerator: np.ndarray, denominator: np.ndarray, q: float = 50) -> tuple[float, float]:
    """95% bootstrap interval of percentile q of `numerator` over that of `denominator` (e.g. the
    penalty: p50 of a condition over p50 of its continuous baseline), the two resampled independently."""
    a, b = finite_sorted(numerator), finite_sorted(denominator)
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(SEED + 1)
    da, db = percentile_draws(a, q, rng), percentile_draws(b, q, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(db > 0, da / db, np.nan)
    return interval(r)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when either is missing or the denominator is not positive."""
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator <= 0:
        return math.nan
    return numerator / denominator
