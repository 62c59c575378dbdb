"""What `trtpace compare` concludes: one pooled summary per policy, and the recommendation.

A policy's rounds are pooled per launch path; its penalty is against the pooled continuous rounds
of the same launch path in the same run (of any path where that path has none).
The recommendation is the policy with the lowest p99 e2e, and the cheapest policy (mean power,
then CPU) whose p99 is within 5% of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trtpace.results.condition import ConditionResult
from trtpace.results.result import SweepResult
from trtpace.results.stats import ratio, summarize

CONTINUOUS = "continuous"
WITHIN = 0.05


@dataclass
class PolicySummary:
    policy: str
    rounds: int
    e2e_us: dict[str, Any]
    submit_us: dict[str, Any]
    launch_us: dict[str, Any]
    device_us: dict[str, Any]
    inband_mhz: dict[str, Any]
    nvml_sm_mhz: dict[str, Any]
    penalty: float
    power_mean_w: float
    energy_per_inference_mj: float
    cpu_pct: float
    sm_held_pct: float = math.nan  # gate and filler kernels, time-averaged SMs held, % of one SM
    launch: str = ""
    switch: bool = False  # a path the app could switch to, run plainly beside the app's own
    label: str = ""       # the policy, with its launch path where a compare measured several
    gap_work: str = "none"  # what ran at the end of each gap (its spec; trtpace.measure.gap_work)
    gap_work_us: dict[str, Any] = field(default_factory=dict)  # how long it ran (summary; n 0 for none)

    def __post_init__(self) -> None:
        self.label = self.label or self.policy

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _pooled(conds: list[ConditionResult], metric: str) -> dict[str, Any]:
    cols = [c.column(metric) for c in conds]
    return summarize(np.concatenate(cols) if cols else np.zeros(0))


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def summarize_policies(result: SweepResult) -> list[PolicySummary]:
    """One pooled summary per policy, in the order first run; penalty against the continuous rounds.

    Rounds pool per policy, launch path and gap work (a compare's folder holds one gap work: an
    --append with another is refused); the continuous rounds, back to back without gap work, are
    the baseline of every gap work."""
    groups: dict[tuple[str, str, str], list[ConditionResult]] = {}
    for c in result.conditions:
        if c.count > c.warmup:
            groups.setdefault((c.policy, c.launch, c.gap_work_spec), []).append(c)
    launches = {launch for _, launch, _ in groups}
    works = {work for name, _, work in groups if name != CONTINUOUS}
    everything = [c for (name, _, _), cs in groups.items() if name == CONTINUOUS for c in cs]
    out = []
    for (name, launch, work), conds in groups.items():
        base = [c for (n, la, _), cs in groups.items() if n == CONTINUOUS and la == launch for c in cs] or everything
        base_p50 = _pooled(base, "e2e_us")["p50"] if base else math.nan
        e2e = _pooled(conds, "e2e_us")
        pe = [c.power_energy() for c in conds]
        wall_ns = [c.wall_ns() for c in conds]
        cpu = [c.info.get("cpu_ns", math.nan) / w if w > 0 else math.nan for c, w in zip(conds, wall_ns, strict=False)]
        out.append(PolicySummary(
            policy=name, rounds=len(conds), e2e_us=e2e, submit_us=_pooled(conds, "submit_us"),
            launch_us=_pooled(conds, "launch_us"), device_us=_pooled(conds, "device_us"),
            inband_mhz=_pooled(conds, "inband_mhz"), nvml_sm_mhz=_pooled(conds, "nvml_sm_mhz"),
            penalty=ratio(e2e["p50"], base_p50), power_mean_w=_mean([p["power_mean_w"] for p in pe]),
            energy_per_inference_mj=_mean([p["energy_per_inference_mj"] for p in pe]),
            cpu_pct=100 * _mean(cpu), sm_held_pct=_mean([c.sm_held_pct() for c in conds]), launch=launch,
            switch=any(c.info.get("switch") for c in conds),
            label=(f"{name} ({launch})" if len(launches) > 1 and launch else name)
            + (f" [gap work {work}]" if len(works) > 1 and name != CONTINUOUS else ""),
            gap_work=work, gap_work_us=_pooled(conds, "gap_work_us"),
        ))
    return out


def recommend(summaries: Sequence[PolicySummary]) -> dict[str, Any] | None:
    """Lowest p99 e2e among the policies, and the cheapest within 5% of that p99.

    Cheapest: lowest mean power where measured (energy per second), then lowest CPU use, then
    the fewest SMs held outside inferences (a kernel gate, fillers)."""
    cands = [s for s in summaries if s.policy != CONTINUOUS and math.isfinite(s.e2e_us["p99"])]
    if not cands:
        return None
    best = min(cands, key=lambda s: s.e2e_us["p99"])
    label = {id(s): s.label for s in cands}
    close = [s for s in cands if s.e2e_us["p99"] <= best.e2e_us["p99"] * (1 + WITHIN)]

    def cost(s: PolicySummary) -> tuple[float, float, float]:
        def known(v: float) -> float:
            return v if math.isfinite(v) else math.inf

        return (known(s.power_mean_w), known(s.cpu_pct), known(s.sm_held_pct))

    cheapest = min(close, key=cost)
    costs = [f"p99 {cheapest.e2e_us['p99'] / 1e3:.3f} ms"]
    if math.isfinite(cheapest.power_mean_w):
        costs.append(f"{cheapest.power_mean_w:.0f} W")
    if math.isfinite(cheapest.cpu_pct):
        costs.append(f"{cheapest.cpu_pct:.0f}% of a core")
    if math.isfinite(cheapest.sm_held_pct) and cheapest.sm_held_pct >= 0.5:
        costs.append(f"{cheapest.sm_held_pct:.0f}% of one SM")
    return {"lowest_p99": best.policy, "cheapest_within_5pct": cheapest.policy,
            "lowest_p99_launch": best.launch, "cheapest_within_5pct_launch": cheapest.launch,
            "line": (f"lowest p99 e2e: {label[id(best)]} ({best.e2e_us['p99'] / 1e3:.3f} ms); cheapest within 5% "
                     f"of it: {label[id(cheapest)]} ({', '.join(costs)})")}


def armed_choices(result: SweepResult) -> list[str]:
    """What plain `armed` chose and why (one line per workload it measured), in run order."""
    lines = [c.info["armed_choice"] for c in result.conditions if c.info.get("armed_choice")]
    return list(dict.fromkeys(lines))


def switch_lines(summaries: Sequence[PolicySummary], plain_policy: str | None) -> list[str]:
    """For an app on a Python launch path (eager, python, replay): what its plain run (the
    compare's first policy naming no path) becomes on another path measured beside it (e.g. the
    graph path, run as "what switching would give")."""
    plain = {s.launch: s for s in summaries if s.policy == plain_policy}
    out = []
    for src in ("eager", "python", "replay"):
        a = plain.get(src)
        for dst in ("replay", "graph"):
            b = plain.get(dst)
            if a is None or b is None or dst == src:
                continue
            if not (math.isfinite(a.e2e_us["p50"]) and math.isfinite(b.e2e_us["p50"])):
                continue
            out.append(f"switching {src} -> {dst}: {a.penalty:.2f}x -> {b.penalty:.2f}x, "
                       f"p50 {a.e2e_us['p50'] / 1e3:.3g} -> {b.e2e_us['p50'] / 1e3:.3g} ms")
    return out
