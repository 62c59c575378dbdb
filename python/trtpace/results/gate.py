"""The deployment gate: whether every condition's penalty stays within a limit.

A model's CI pipeline runs `trtpace sweep --max-penalty 1.2` and fails (exit code 3,
`trtpace.errors.EXIT_GATE`) when latency after idle gaps regresses past the limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trtpace.errors import UsageError
from trtpace.results.condition import ConditionResult
from trtpace.results.result import SweepResult


@dataclass(frozen=True)
class GateFailure:
    """One condition over one limit (or one that cannot be checked)."""

    condition: ConditionResult
    stat: str  # "p50" or "p99"
    penalty: float  # NaN: no baseline to compare against
    limit: float

    def line(self) -> str:
        c = self.condition
        where = f"{c.workload}, {c.pacing.label}" + (f", clocks {c.clocks}" if c.clocks != "default" else "")
        if math.isnan(self.penalty):
            return f"{where}: {self.stat} penalty unknown (no usable gap-0 baseline), limit {self.limit:g}x"
        return f"{where}: {self.stat} penalty {self.penalty:.2f}x > {self.limit:g}x"


def check_limit(name: str, limit: float | None) -> float | None:
    """A penalty limit as given on the command line: None (no gate) or a finite number > 0."""
    if limit is not None and not (math.isfinite(limit) and limit > 0):
        raise UsageError(f"{name} must be a number > 0 (a penalty ratio such as 1.2), got {limit:g}")
    return limit


def gate(result: SweepResult, max_p50: float | None = None, max_p99: float | None = None) -> list[GateFailure]:
    """Every condition whose p50 (p99) penalty exceeds `max_p50` (`max_p99`), in run order.

    Baselines are left out (their penalty is 1 by definition). A condition whose penalty cannot be
    computed (no baseline, or a baseline or condition without measured inferences) fails: a gate
    that cannot see the latency must not pass it.
    """
    failures = []
    limits = [(stat, limit) for stat, limit in (("p50", max_p50), ("p99", max_p99)) if limit is not None]
    for c in result.conditions:
        if c.pacing.is_continuous:
            continue
        for stat, limit in limits:
            p = result.penalty(c, stat)
            if math.isnan(p) or p > limit:
                failures.append(GateFailure(c, stat, p, limit))
    return failures
