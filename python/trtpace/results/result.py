"""All conditions of one run with the environment they were measured in, and the penalty and
attribution each condition gets against its continuous baseline."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from trtpace.measure.launch import PYTHON_PATHS
from trtpace.results.attribution import Attribution, attribute, energy_above_idle_mj, idle_power_w
from trtpace.results.condition import ConditionKey, ConditionResult, KeyField
from trtpace.results.stats import ratio, ratio_interval, summarize

FORMAT = "trtpace-sweep/1"
# A condition's baseline: the continuous run of everything else (its gap work included: the
# baseline runs back to back without it).
_BASELINE_IGNORES: tuple[KeyField, ...] = ("pacing", "gap_work")
# A launch switch: another path of the same workload at the same pacing, wherever it ran.
_SWITCH_IGNORES: tuple[KeyField, ...] = ("launch", "gpu_label", "gpu_mode", "gpu_round", "run")


@dataclass(frozen=True, eq=False)
class ConditionRow(Mapping[str, Any]):
    """One condition as the tables, the CSV and --json show it: the condition, its summary, its
    penalty (p50, with its 95% interval, and p99) against its continuous baseline, its energy above
    idle and, for a gap condition, the attribution of its p50 growth to the parts of e2e.

    Read it by attribute (typed), or like the dict --json prints (`row["summary"]["e2e_us"]`,
    `row["pacing"]["label"]`): the condition's meta keys, then summary, penalty, penalty_ci_low,
    penalty_ci_high, penalty_p99, energy_above_idle_mj and attribution (line, delta_p50_us,
    parts_us, gap_work_p50_us; None for a baseline)."""

    condition: ConditionResult
    summary: Mapping[str, Any]
    penalty: float
    penalty_ci: tuple[float, float]
    penalty_p99: float
    energy_above_idle_mj: float
    attribution: Attribution | None

    @cached_property
    def _json(self) -> dict[str, Any]:
        a = self.attribution
        return {
            **self.condition.meta(),
            "summary": self.summary,
            "penalty": self.penalty,
            "penalty_ci_low": self.penalty_ci[0],
            "penalty_ci_high": self.penalty_ci[1],
            "penalty_p99": self.penalty_p99,
            "energy_above_idle_mj": self.energy_above_idle_mj,
            "attribution": None
            if a is None
            else {
                "line": a.line(),
                "delta_p50_us": a.delta_p50_us,
                "parts_us": a.parts_delta_us,
                "gap_work_p50_us": a.gap_work_p50_us,
            },
        }

    def to_json(self) -> dict[str, Any]:
        """The row as --json prints it (a new dict each call: the caller may change it)."""
        return dict(self._json)

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)


@dataclass
class SweepResult:
    """All conditions of one sweep, with the environment they were measured in."""

    conditions: list[ConditionResult] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def baseline(self, c: ConditionResult) -> ConditionResult | None:
        """The continuous (gap 0) condition of the same workload, launch path, I/O and policy in
        the same run (`ConditionResult.run`: runs appended to one folder each measured their own).

        Whatever the gap work of `c`, its baseline is the plain back-to-back run (which has none):
        the penalty of a condition with gap work says what the app's gap costs against no gap.
        Runs appended to one folder never share a baseline: a workload of the same name may have
        been another model, precision or machine state there."""
        same = c.key(ignoring=_BASELINE_IGNORES)
        for b in self.conditions:
            if b.pacing.is_continuous and b.count and b.key(ignoring=_BASELINE_IGNORES) == same:
                return b
        return None

    def penalty(self, c: ConditionResult, stat: str = "p50") -> float:
        """`stat` (p50 by default, or p90, p99, ...) of e2e of `c` over the same of its continuous
        baseline in the same run."""
        b = self.baseline(c)
        if b is None:
            return math.nan
        return ratio(c.summarized("e2e_us")[stat], b.summarized("e2e_us")[stat])

    def penalty_interval(self, c: ConditionResult) -> tuple[float, float]:
        """95% bootstrap interval of the penalty (seeded: the same data gives the same interval)."""
        b = self.baseline(c)
        if b is None:
            return math.nan, math.nan
        return ratio_interval(c.column("e2e_us"), b.column("e2e_us"))

    def rows(self) -> list[ConditionRow]:
        """One ConditionRow per condition, as the tables and --json show them."""
        rows = []
        idle = idle_power_w(self.conditions)
        for c in self.conditions:
            b = self.baseline(c)
            measured = b is not None and b is not c and c.count > c.warmup and b.count > b.warmup
            rows.append(
                ConditionRow(
                    condition=c,
                    summary=c.summary(),
                    penalty=self.penalty(c),
                    penalty_ci=self.penalty_interval(c),
                    penalty_p99=self.penalty(c, "p99"),
                    energy_above_idle_mj=energy_above_idle_mj(c, idle),
                    attribution=attribute(c, b) if measured and b is not None else None,
                )
            )
        return rows

    def launch_switches(self) -> list[dict[str, Any]]:
        """What an app on a Python launch path (eager, python, replay) would gain by switching to
        another path measured in the same run, per workload and gap: penalties and p50s side by side.

        Paths of one model share the workload name; the switch goes to each faster path measured."""
        out = []
        done = [c for c in self.conditions if c.count > c.warmup and c.launch and not c.pacing.is_continuous]
        for c in done:
            if c.launch not in PYTHON_PATHS:
                continue
            same = c.key(ignoring=_SWITCH_IGNORES)
            for d in done:
                if d.launch == c.launch or d.launch in ("eager", "python") or d.key(ignoring=_SWITCH_IGNORES) != same:
                    continue
                a, b = c.summarized("e2e_us")["p50"], d.summarized("e2e_us")["p50"]
                pa, pb = self.penalty(c), self.penalty(d)
                if not (math.isfinite(a) and math.isfinite(b)) or b >= a:
                    continue
                out.append(
                    {
                        "workload": c.workload,
                        "pacing": c.pacing.label,
                        "from": c.launch,
                        "to": d.launch,
                        "penalty_from": pa,
                        "penalty_to": pb,
                        "p50_from_us": a,
                        "p50_to_us": b,
                        "line": (
                            f"{c.workload}: switching {c.launch} -> {d.launch}: {pa:.2f}x -> {pb:.2f}x at "
                            f"{c.pacing.label}, p50 {a / 1e3:.3g} -> {b / 1e3:.3g} ms "
                            f"({a / b:.1f}x faster)"
                        ),
                    }
                )
        return out

    def gap_works(self) -> list[dict[str, str]]:
        """The gap work of the conditions with a gap, each once, in order of first appearance
        (kind, spec, description; an idle gap where none ran). The continuous baselines are left
        out: they run back to back, without gap work. Two or more: runs appended to one folder
        differed (the rows' gap_work says which is which)."""
        seen: dict[str, dict[str, str]] = {}
        for c in self.conditions:
            if not c.pacing.is_continuous:
                seen.setdefault(c.gap_work_spec, c.gap_work)
        return list(seen.values())

    def gpu_groups(self) -> list[tuple[str, str]]:
        """(GPU worker, together/alone) of a multi-GPU run, in order of first appearance; [("", "")]
        for a run on one GPU."""
        seen: dict[tuple[str, str], tuple[int, int]] = {}
        for c in self.conditions:
            seen.setdefault((c.gpu_label, c.gpu_mode), (c.placement.worker, c.gpu_mode != "together"))
        return sorted(seen, key=lambda k: seen[k]) or [("", "")]

    def subset(self, gpu_label: str, gpu_mode: str) -> SweepResult:
        """The conditions of one GPU worker in one mode (rounds kept), as a result of their own."""
        return SweepResult(
            [c for c in self.conditions if (c.gpu_label, c.gpu_mode) == (gpu_label, gpu_mode)],
            self.environment,
            self.settings,
            self.path,
        )

    def together_vs_alone(self) -> list[dict[str, Any]]:
        """Multi-GPU runs: per GPU worker, did running every GPU at once change its numbers?

        Each condition's measured e2e is pooled over the rounds, together and alone apart; the
        ratio is p50(together) / p50(alone). Per GPU one entry with the geometric mean of its
        conditions' ratios and the conditions themselves ([] for a run on one GPU)."""
        pooled: dict[tuple[str, str, ConditionKey], list[np.ndarray]] = {}
        names: dict[ConditionKey, str] = {}
        for c in self.conditions:
            if not c.gpu_mode or c.count <= c.warmup:
                continue
            # Rounds pool within one run of the folder: an --append's rounds stay apart (`c.run`).
            key = c.key(ignoring=("gpu_label", "gpu_mode", "gpu_round"))
            names[key] = " ".join(
                x
                for x in (
                    c.workload,
                    f"[{c.launch}]" if c.launch else "",
                    c.policy,
                    c.pacing.label,
                    "" if c.clocks == "default" else c.clocks,
                    "" if c.gap_work_spec == "none" else f"gap work {c.gap_work_spec}",
                    f"(run {c.run})" if c.run else "",
                )
                if x
            )
            pooled.setdefault((c.gpu_label, c.gpu_mode, key), []).append(c.column("e2e_us"))
        out = []
        for label in dict.fromkeys(g for g, _ in self.gpu_groups() if any(k[0] == g for k in pooled)):
            conditions = []
            for key, name in names.items():
                both = [pooled.get((label, m, key)) for m in ("together", "alone")]
                if not (both[0] and both[1]):
                    continue
                p50s = [summarize(np.concatenate(arrays))["p50"] for arrays in both if arrays]
                conditions.append(
                    {
                        "condition": name,
                        "p50_together_us": p50s[0],
                        "p50_alone_us": p50s[1],
                        "ratio": ratio(p50s[0], p50s[1]),
                    }
                )
            ratios = [x["ratio"] for x in conditions if math.isfinite(x["ratio"]) and x["ratio"] > 0]
            gm = float(np.exp(np.mean(np.log(ratios)))) if ratios else math.nan
            out.append(
                {
                    "gpu": label,
                    "ratio_p50": gm,
                    "conditions": conditions,
                    "line": (
                        f"{label}: p50 together / alone {gm:.3f}x (geometric mean of {len(ratios)} "
                        f"condition(s); >1: slower while the other GPUs ran)"
                    ),
                }
            )
        return out

    def to_json(self) -> dict[str, Any]:
        doc = {
            "format": FORMAT,
            "environment": self.environment,
            "settings": self.settings,
            "conditions": [r.to_json() for r in self.rows()],
            "launch_switches": self.launch_switches(),
        }
        together = self.together_vs_alone()
        if together:
            doc["together_vs_alone"] = together
        return doc

    def to_dataframe(self) -> Any:
        """One row per condition as a pandas DataFrame, for notebooks: the rows of --json flattened
        with dotted names ("pacing.gap_s", "summary.e2e_us.p99", "penalty", "penalty_p99",
        "energy_above_idle_mj", ...; the workload's info left out, its GPU label kept as "gpu").
        pandas is optional: without it, a one-line UsageError saying how to get it."""
        import importlib

        from trtpace.errors import UsageError

        try:
            pd = importlib.import_module("pandas")  # optional: not a dependency of trtpace
        except ImportError as e:
            raise UsageError("SweepResult.to_dataframe() needs pandas: pip install pandas") from e
        rows = []
        for row in self.rows():
            flat = row.to_json()
            flat.pop("info", None)
            rows.append({**flat, "gpu": row.condition.gpu_label})
        return pd.json_normalize(rows)
