"""Summary statistics of one latency column."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SUMMARY_KEYS = ("n", "p50", "p90", "p99", "max", "mean", "cov")


def summarize(values: np.ndarray) -> dict[str, Any]:
    """n, p50, p90, p99, max, mean and CoV (std / mean) of the finite values; NaN where undefined.

    Percentiles interpolate linearly between order statistics (numpy's default), so p99 of
    fewer than 100 samples lies between the two largest.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0, **dict.fromkeys(SUMMARY_KEYS[1:], math.nan)}
    p50, p90, p99 = np.percentile(v, [50, 90, 99])
    mean = float(v.mean())
    return {
        "n": int(v.size),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(v.max()),
        "mean": mean,
        "cov": float(v.std() / mean) if mean > 0 else math.nan,
    }


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when either is missing or the denominator is not positive."""
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator <= 0:
        return math.nan
    return numerator / denominator
