"""All conditions of one run with the environment they were measured in, and the penalty and
attribution each condition gets against its continuous baseline."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trtpace.results.attribution import attribute
from trtpace.results.condition import ConditionResult
from trtpace.results.stats import ratio, summarize

FORMAT = "trtpace-sweep/1"


@dataclass
class SweepResult:
    """All conditions of one sweep, with the environment they were measured in."""

    conditions: list[ConditionResult] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def baseline(self, c: ConditionResult) -> ConditionResult | None:
        """The continuous (gap 0) condition of the same workload and policy in this sweep."""
        for b in self.conditions:
            same = (b.workload, b.wait, b.sync, b.clocks, b.policy) == (c.workload, c.wait, c.sync, c.clocks, c.policy)
            if same and b.pacing.is_continuous and b.count:
                return b
        return None

    def penalty(self, c: ConditionResult, stat: str = "p50") -> float:
        """`stat` (p50 by default, or p90, p99, ...) of e2e of `c` over the same of its continuous
        baseline in the same run."""
        b = self.baseline(c)
        if b is None:
            return math.nan
        return ratio(summarize(c.column("e2e_us"))[stat], summarize(b.column("e2e_us"))[stat])

    def rows(self) -> list[dict[str, Any]]:
        """One summary dict per condition, as the table and --json show them."""
        rows = []
        for c in self.conditions:
            row = {**c.meta(), "summary": c.summary(), "penalty": self.penalty(c), "attribution": None}
            b = self.baseline(c)
            if b is not None and b is not c and c.count > c.warmup and b.count > b.warmup:
                a = attribute(c, b)
                row["attribution"] = {"line": a.line(), "delta_p50_us": a.delta_p50_us, "parts_us": a.parts_delta_us}
            rows.append(row)
        return rows

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "environment": self.environment, "settings": self.settings, "conditions": self.rows()}
