"""What `trtpace compare` concludes: one pooled summary per policy, and the recommendation.

A policy's rounds are pooled per launch path; its penalty is against the pooled continuous rounds
of the same launch path in the same run (of any path where that path has none).
The ranking uses the intervals (`rank`): on p99 where every policy has 1,000 inferences, else on
p50 (said so); a policy wins only where its 95% interval lies below every other's, else the
policies that cannot be told apart are said to be the same and the cheapest of them (mean power,
then CPU, then SMs held) is recommended, never named the winner.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trtpace.results.attribution import energy_above_idle_mj, idle_power_w
from trtpace.results.condition import ConditionKey, ConditionResult
from trtpace.results.result import SweepResult
from trtpace.results.stats import P99_MIN_SAMPLES, ratio, summarize
from trtpace.results.verdict import deployment

CONTINUOUS = "continuous"
MATTERS = 0.01  # closer to the fastest than this (1%): no difference worth a ranking


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
    label: str = ""  # the policy, with its launch path where a compare measured several
    gap_work: str = "none"  # what ran at the end of each gap (its spec; trtpace.measure.gap_work)
    gap_work_us: dict[str, Any] = field(default_factory=dict)  # how long it ran (summary; n 0 for none)
    energy_above_idle_mj: float = math.nan  # energy per inference less the GPU's idle power over the same time
    armed_gate: str = ""  # the gate an armed policy ran with (plain `armed` picks kernel or wait per machine)

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
    groups: dict[ConditionKey, list[ConditionResult]] = {}
    for c in result.conditions:
        if c.count > c.warmup:
            groups.setdefault(c.key(only=("policy", "launch", "gap_work")), []).append(c)
    launches = {k.launch for k in groups}
    works = {k.gap_work for k in groups if k.policy != CONTINUOUS}
    everything = [c for k, cs in groups.items() if k.policy == CONTINUOUS for c in cs]
    out = []
    idle = idle_power_w(result.conditions)
    for key, conds in groups.items():
        name, launch, work = str(key.policy), str(key.launch), str(key.gap_work)
        base = [
            c for k, cs in groups.items() if k.policy == CONTINUOUS and k.launch == launch for c in cs
        ] or everything
        base_p50 = _pooled(base, "e2e_us")["p50"] if base else math.nan
        e2e = _pooled(conds, "e2e_us")
        pe = [c.power_energy() for c in conds]
        wall_ns = [c.wall_ns() for c in conds]
        cpu = [
            (c.stats.cpu_ns if c.stats.cpu_ns is not None else math.nan) / w if w > 0 else math.nan
            for c, w in zip(conds, wall_ns, strict=False)
        ]
        out.append(
            PolicySummary(
                policy=name,
                rounds=len(conds),
                e2e_us=e2e,
                submit_us=_pooled(conds, "submit_us"),
                launch_us=_pooled(conds, "launch_us"),
                device_us=_pooled(conds, "device_us"),
                inband_mhz=_pooled(conds, "inband_mhz"),
                nvml_sm_mhz=_pooled(conds, "nvml_sm_mhz"),
                penalty=ratio(e2e["p50"], base_p50),
                power_mean_w=_mean([p["power_mean_w"] for p in pe]),
                energy_per_inference_mj=_mean([p["energy_per_inference_mj"] for p in pe]),
                cpu_pct=100 * _mean(cpu),
                sm_held_pct=_mean([c.sm_held_pct() for c in conds]),
                launch=launch,
                switch=any(c.compare_tag is not None and c.compare_tag.switch for c in conds),
                label=(f"{name} ({launch})" if len(launches) > 1 and launch else name)
                + (f" [gap work {work}]" if len(works) > 1 and name != CONTINUOUS else ""),
                gap_work=work,
                gap_work_us=_pooled(conds, "gap_work_us"),
                energy_above_idle_mj=_mean([energy_above_idle_mj(c, idle) for c in conds]),
                armed_gate=next((c.stats.armed_gate for c in conds if c.stats.armed_gate), ""),
            )
        )
    return out


def ranking_stat(cands: Sequence[PolicySummary]) -> tuple[str, str]:
    """The statistic a compare ranks on, and why: p99 where every ranked policy has at least
    P99_MIN_SAMPLES (1,000) inferences, else p50 (a p99 of fewer rests on under 10 samples)."""
    if cands and all(s.e2e_us.get("p99_reliable", False) for s in cands):
        return "p99", ""
    n = min(int(s.e2e_us.get("n", 0)) for s in cands) if cands else 0
    return "p50", (
        f"ranked on p50: a p99 of {n:,} inferences per policy rests on {max(0, n // 100)} sample(s) "
        f"beyond it; {P99_MIN_SAMPLES:,} per policy (--rounds x --iterations) rank on p99"
    )


def _interval(s: PolicySummary, stat: str) -> tuple[float, float]:
    lo, hi = s.e2e_us.get(f"{stat}_ci_low", math.nan), s.e2e_us.get(f"{stat}_ci_high", math.nan)
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else (-math.inf, math.inf)


def rank(summaries: Sequence[PolicySummary]) -> dict[str, Any] | None:
    """The policies (not the continuous baseline) ranked on `ranking_stat`, with the outcome:
    "winner" where the fastest one's 95% interval lies wholly below every other's, else "same":
    the policies whose intervals overlap the fastest's cannot be told apart at this n (as NVBench's
    compare says SAME), and none of them is named the winner. A policy within MATTERS (1%) of the
    fastest counts as the same too, however narrow the intervals: a difference that small is no
    reason to pick one."""
    cands = [s for s in summaries if s.policy != CONTINUOUS and math.isfinite(s.e2e_us["p50"])]
    if not cands:
        return None
    stat, why = ranking_stat(cands)
    if not all(math.isfinite(s.e2e_us[stat]) for s in cands):
        stat, why = "p50", "ranked on p50: a policy has no p99"
    order = sorted(cands, key=lambda s: s.e2e_us[stat])
    best = order[0]
    best_hi = _interval(best, stat)[1]
    tied = [
        s
        for s in order
        if s is best or _interval(s, stat)[0] <= best_hi or s.e2e_us[stat] <= best.e2e_us[stat] * (1 + MATTERS)
    ]
    return {"stat": stat, "why": why, "order": order, "tied": tied, "outcome": "winner" if len(tied) == 1 else "same"}


def _cost(s: PolicySummary) -> tuple[float, float, float]:
    def known(v: float) -> float:
        return v if math.isfinite(v) else math.inf

    return (known(s.power_mean_w), known(s.cpu_pct), known(s.sm_held_pct))


def _costs(s: PolicySummary, stat: str, digits: int = 3) -> str:
    costs = [f"{stat} {s.e2e_us[stat] / 1e3:.{digits}f} ms"]
    if math.isfinite(s.power_mean_w):
        costs.append(f"{s.power_mean_w:.0f} W")
    if math.isfinite(s.cpu_pct):
        costs.append(f"{s.cpu_pct:.0f}% of a core")
    if math.isfinite(s.sm_held_pct) and s.sm_held_pct >= 0.5:
        costs.append(f"{s.sm_held_pct:.0f}% of one SM")
    return ", ".join(costs)


def _with_interval(s: PolicySummary, stat: str, digits: int = 3) -> str:
    lo, hi = _interval(s, stat)
    iv = f" [{lo / 1e3:.{digits}f}, {hi / 1e3:.{digits}f}]" if math.isfinite(lo) and math.isfinite(hi) else ""
    return f"{s.label} {s.e2e_us[stat] / 1e3:.{digits}f} ms{iv}"


def _digits(order: list[PolicySummary], stat: str) -> int:
    """Decimals (of ms) that show the fastest's upper bound apart from the next one's lower bound
    where they differ: 3, up to 6 for intervals a few hundred ns apart."""
    if len(order) < 2:
        return 3
    a, b = _interval(order[0], stat)[1] / 1e3, _interval(order[1], stat)[0] / 1e3
    d = 3
    while d < 6 and math.isfinite(a) and math.isfinite(b) and a != b and f"{a:.{d}f}" == f"{b:.{d}f}":
        d += 1
    return d


def recommend(summaries: Sequence[PolicySummary]) -> dict[str, Any] | None:
    """What compare recommends, ranked with the intervals (`rank`): the clear winner where there
    is one; where the fastest policies' intervals overlap, no winner: the cheapest of those that
    cannot be told apart (lowest mean power where measured, then CPU, then SMs held outside
    inferences), said as such. With the deployment lines of the recommended policy
    (`trtpace.results.verdict.deployment`: the Pacer call and the C++ RunConfig fields)."""
    ranked = rank(summaries)
    if ranked is None:
        return None
    stat, order, tied = ranked["stat"], ranked["order"], ranked["tied"]
    best = order[0]
    d = _digits(order, stat)
    if ranked["outcome"] == "winner":
        pick = best
        nxt = f", clear of the next: {_with_interval(order[1], stat, d)}" if len(order) > 1 else ""
        line = (
            f"{best.label} is fastest on {stat}: {_with_interval(best, stat, d)}{nxt}; use {best.label} "
            f"({_costs(best, stat, d)})"
        )
    else:
        pick = min(tied, key=_cost)
        names = ", ".join(s.label for s in tied)
        line = (
            f"no difference at this n on {stat} between {names} (95% intervals overlap the fastest, "
            f"{_with_interval(best, stat, d)}, or lie within 1% of it): none is a winner; the cheapest of "
            f"them: {pick.label} ({_costs(pick, stat, d)})"
        )
    if ranked["why"]:
        line += f"; {ranked['why']}"
    return {
        "outcome": ranked["outcome"],
        "ranked_on": stat,
        "why": ranked["why"],
        "recommended": pick.policy,
        "recommended_label": pick.label,
        "recommended_launch": pick.launch,
        "tied": [s.label for s in tied] if ranked["outcome"] == "same" else [],
        "ranking": [
            {
                "policy": s.label,
                stat: s.e2e_us[stat],
                "ci_low": s.e2e_us.get(f"{stat}_ci_low", math.nan),
                "ci_high": s.e2e_us.get(f"{stat}_ci_high", math.nan),
            }
            for s in order
        ],
        "lowest_p99": min(order, key=lambda s: s.e2e_us["p99"]).policy,
        "deploy": deployment(pick.policy, pick.launch, pick.armed_gate),
        "line": line,
    }


def armed_choices(result: SweepResult) -> list[str]:
    """What plain `armed` chose and why (one line per workload it measured), in run order."""
    lines = [c.stats.armed_choice for c in result.conditions if c.stats.armed_choice]
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
            out.append(
                f"switching {src} -> {dst}: {a.penalty:.2f}x -> {b.penalty:.2f}x, "
                f"p50 {a.e2e_us['p50'] / 1e3:.3g} -> {b.e2e_us['p50'] / 1e3:.3g} ms"
            )
    return out
