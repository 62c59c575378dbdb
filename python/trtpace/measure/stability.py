"""The stopping rule of `--until-stable`: a condition ends once its latency quantiles are known to
within a target, instead of after a guessed `--iterations` (which stays the cap).

The interval is the distribution-free one of a quantile from order statistics (the ranks a
binomial puts around n*q, normal approximation): no resampling, so checking it while the loop runs
costs a partial sort of the latencies so far, on the coordinating thread, twice a second. The
reports' bootstrap intervals (results.stats) agree with it to within a rank or two at these n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trtpace.errors import UsageError

Z95 = 1.959963984540054
# A quantile's interval needs samples beyond it: at least this many before p50 / p99 are judged.
MIN_SAMPLES = {0.5: 100, 0.99: 1_000}
MIN_TARGET, MAX_TARGET = 0.001, 0.5


@dataclass(frozen=True)
class StableTarget:
    """Stop when the 95% interval of every quantile in `quantiles` is within +-`rel` of it."""

    rel: float
    quantiles: tuple[float, ...] = (0.5, 0.99)

    def __post_init__(self) -> None:
        if not (MIN_TARGET <= self.rel <= MAX_TARGET):
            raise UsageError(
                f"--until-stable must be {MIN_TARGET:.1%} to {MAX_TARGET:.0%} (the interval's half "
                f"width relative to the quantile), got {self.rel:g}"
            )

    def to_json(self) -> dict[str, object]:
        return {"rel": self.rel, "quantiles": list(self.quantiles)}


def parse_target(text: str | float | None) -> StableTarget | None:
    """'2%', '0.02' or 0.02 -> StableTarget(0.02); None or '' -> None (run every iteration)."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return StableTarget(float(text))
    s = str(text).strip()
    try:
        rel = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise UsageError(f"--until-stable: {text!r} is not a fraction or a percentage (e.g. 2% or 0.02)") from None
    if not math.isfinite(rel):
        raise UsageError(f"--until-stable: {text!r} is not a finite number")
    return StableTarget(rel)


def quantile_interval(x: np.ndarray, q: float) -> tuple[float, float, float]:
    """(low, estimate, high) of quantile `q` of `x`, 95%, distribution-free."""
    n = x.size
    half = Z95 * math.sqrt(n * q * (1 - q))
    ranks = [max(0, math.floor(n * q - half)), min(n - 1, int(n * q)), min(n - 1, math.ceil(n * q + half))]
    lo, mid, hi = np.partition(x, ranks)[ranks]
    return float(lo), float(mid), float(hi)


def is_stable(latencies: np.ndarray, target: StableTarget) -> bool:
    """Whether every quantile's interval is within the target (and each has enough samples)."""
    for q in target.quantiles:
        if latencies.size < MIN_SAMPLES.get(q, 100):
            return False
        lo, mid, hi = quantile_interval(latencies, q)
        if mid <= 0 or max(mid - lo, hi - mid) > target.rel * mid:
            return False
    return True
