"""The deployment gate: whether every condition's penalty stays within a limit.

A model's CI pipeline runs `trtpace sweep --max-penalty 1.2` and fails (exit code 3,
`trtpace.errors.EXIT_GATE`) when latency after idle gaps regresses past the limit.

Two modes: "estimate" (the default) fails where the penalty's point estimate exceeds the limit;
"interval" fails only where the whole 95% bootstrap interval of the penalty lies above it, so
a penalty within noise of the limit (its interval reaching below it) passes, said as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trtpace.errors import UsageError
from trtpace.results.condition import ConditionResult
from trtpace.results.result import SweepResult
from trtpace.results.stats import ratio_interval

GATE_MODES = ("estimate", "interval")


@dataclass(frozen=True)
class GateFailure:
    """One condition over one limit (or one that cannot be checked)."""

    condition: ConditionResult
    stat: str  # "p50" or "p99"
    penalty: float  # NaN: no baseline to compare against
    limit: float
    interval: tuple[float, float] = (math.nan, math.nan)  # 95% bootstrap interval of the penalty
    passed: bool = False  # interval mode: over the limit by its estimate only, within noise: passed
    mode: str = "estimate"

    def line(self) -> str:
        c = self.condition
        where = f"{c.workload}, {c.pacing.label}" + (f", clocks {c.clocks}" if c.clocks != "default" else "")
        if math.isnan(self.penalty):
            return f"{where}: {self.stat} penalty unknown (no usable gap-0 baseline), limit {self.limit:g}x"
        lo, hi = self.interval
        shown = self.mode == "interval" and math.isfinite(lo) and math.isfinite(hi)
        iv = f" [95% interval {lo:.2f}, {hi:.2f}]" if shown else ""
        if self.passed:
            return (
                f"{where}: {self.stat} penalty {self.penalty:.2f}x{iv} is over {self.limit:g}x by its estimate "
                "only; its interval reaches below the limit: passed (within noise)"
            )
        return f"{where}: {self.stat} penalty {self.penalty:.2f}x{iv} > {self.limit:g}x"


def check_limit(name: str, limit: float | None) -> float | None:
    """A penalty limit as given on the command line: None (no gate) or a finite number > 0."""
    if limit is not None and not (math.isfinite(limit) and limit > 0):
        raise UsageError(f"{name} must be a number > 0 (a penalty ratio such as 1.2), got {limit:g}")
    return limit


def check_mode(mode: str) -> str:
    if mode not in GATE_MODES:
        raise UsageError(f"--max-penalty-mode must be one of {', '.join(GATE_MODES)}, got {mode!r}")
    return mode


def penalty_interval(result: SweepResult, c: ConditionResult, stat: str) -> tuple[float, float]:
    """The 95% bootstrap interval of `stat`'s penalty (p50, p99, ...) of `c` against its baseline."""
    b = result.baseline(c)
    if b is None:
        return math.nan, math.nan
    return ratio_interval(c.column("e2e_us"), b.column("e2e_us"), q=float(stat.removeprefix("p")))


def gate(
    result: SweepResult, max_p50: float | None = None, max_p99: float | None = None, mode: str = "estimate"
) -> list[GateFailure]:
    """Every condition whose p50 (p99) penalty exceeds `max_p50` (`max_p99`), in run order.

    mode "estimate": the point estimate over the limit fails. mode "interval": only a penalty
    whose whole 95% interval lies above the limit fails; one over it by its estimate alone is
    returned with `passed` True (said, not failed).

    Baselines are left out (their penalty is 1 by definition). A condition whose penalty cannot be
    computed (no baseline, or a baseline or condition without measured inferences) fails: a gate
    that cannot see the latency must not pass it.
    """
    check_mode(mode)
    failures = []
    limits = [(stat, limit) for stat, limit in (("p50", max_p50), ("p99", max_p99)) if limit is not None]
    for c in result.conditions:
        if c.pacing.is_continuous:
            continue
        for stat, limit in limits:
            p = result.penalty(c, stat)
            if math.isnan(p):
                failures.append(GateFailure(c, stat, p, limit, mode=mode))
            elif p > limit:
                iv = penalty_interval(result, c, stat)
                within = mode == "interval" and not (math.isfinite(iv[0]) and iv[0] > limit)
                failures.append(GateFailure(c, stat, p, limit, iv, passed=within, mode=mode))
    return failures
