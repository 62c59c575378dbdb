"""`trtpace compare`: remedy policies on one workload and gap, interleaved, with their cost.

Each round runs the continuous baseline (gap 0) and then every policy at the gap, so drift of a
shared machine hits all of them alike; a policy's statistics pool its rounds. The recommendation
is the policy with the lowest p99 e2e, and the cheapest policy (mean power, then CPU) whose p99
is within 5% of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trtpace import clocks, device, pacing as pacing_mod, telemetry as telemetry_mod, workloads
from trtpace.errors import UsageError
from trtpace.policies import Policy, parse_policy
from trtpace.results import ConditionResult, ResultWriter, SweepResult
from trtpace.stats import ratio, summarize
from trtpace.sweep import Progress, SweepInterrupted, validate_counts, run_condition

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

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _pooled(conds: list[ConditionResult], metric: str) -> dict[str, Any]:
    cols = [c.column(metric) for c in conds]
    return summarize(np.concatenate(cols) if cols else np.zeros(0))


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def summarize_policies(result: SweepResult) -> list[PolicySummary]:
    """One pooled summary per policy, in the order first run; penalty against the continuous rounds."""
    groups: dict[str, list[ConditionResult]] = {}
    for c in result.conditions:
        if c.count > c.warmup:
            groups.setdefault(c.policy, []).append(c)
    base = groups.get(CONTINUOUS, [])
    base_p50 = _pooled(base, "e2e_us")["p50"] if base else math.nan
    out = []
    for name, conds in groups.items():
        e2e = _pooled(conds, "e2e_us")
        pe = [c.power_energy() for c in conds]
        wall_ns = [int(c.records["done_ns"][-1] - c.records["issue_ns"][0]) for c in conds]
        cpu = [c.info.get("cpu_ns", math.nan) / w if w > 0 else math.nan for c, w in zip(conds, wall_ns)]
        out.append(PolicySummary(
            policy=name, rounds=len(conds), e2e_us=e2e, submit_us=_pooled(conds, "submit_us"),
            launch_us=_pooled(conds, "launch_us"), device_us=_pooled(conds, "device_us"),
            inband_mhz=_pooled(conds, "inband_mhz"), nvml_sm_mhz=_pooled(conds, "nvml_sm_mhz"),
            penalty=ratio(e2e["p50"], base_p50), power_mean_w=_mean([p["power_mean_w"] for p in pe]),
            energy_per_inference_mj=_mean([p["energy_per_inference_mj"] for p in pe]),
            cpu_pct=100 * _mean(cpu),
        ))
    return out


def recommend(summaries: Sequence[PolicySummary]) -> dict[str, Any] | None:
    """Lowest p99 e2e among the policies, and the cheapest within 5% of that p99.

    Cheapest: lowest mean power where measured (energy per second), then lowest CPU use."""
    cands = [s for s in summaries if s.policy != CONTINUOUS and math.isfinite(s.e2e_us["p99"])]
    if not cands:
        return None
    best = min(cands, key=lambda s: s.e2e_us["p99"])
    close = [s for s in cands if s.e2e_us["p99"] <= best.e2e_us["p99"] * (1 + WITHIN)]

    def cost(s: PolicySummary) -> tuple[float, float]:
        power = s.power_mean_w if math.isfinite(s.power_mean_w) else math.inf
        return (power, s.cpu_pct if math.isfinite(s.cpu_pct) else math.inf)

    cheapest = min(close, key=cost)
    costs = [f"p99 {cheapest.e2e_us['p99'] / 1e3:.3f} ms"]
    if math.isfinite(cheapest.power_mean_w):
        costs.append(f"{cheapest.power_mean_w:.0f} W")
    if math.isfinite(cheapest.cpu_pct):
        costs.append(f"{cheapest.cpu_pct:.0f}% of a core")
    return {"lowest_p99": best.policy, "cheapest_within_5pct": cheapest.policy,
            "line": (f"lowest p99 e2e: {best.policy} ({best.e2e_us['p99'] / 1e3:.3f} ms); cheapest within 5% "
                     f"of it: {cheapest.policy} ({', '.join(costs)})")}


def compare(
    workload: str | workloads.Workload = "tiny",
    gap_s: float = 0.1,
    policies: Sequence[str | Policy] = ("sleep", "spin", "keepwarm:1ms", "prewarm:2ms"),
    *,
    rounds: int = 5,
    iterations: int = 40,
    warmup: int = 5,
    gpu: int = 0,
    out: str | Path | None = None,
    progress: Progress | None = None,
    telemetry: bool = True,
) -> SweepResult:
    """Runs each policy at `gap_s` (and the continuous baseline) in `rounds` interleaved rounds.

    Returns the per-round conditions (policy names in `ConditionResult.policy`); summarize them
    with `summarize_policies` and `recommend`.
    """
    validate_counts(iterations, warmup)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise UsageError(f"rounds must be a whole number >= 1, got {rounds!r}")
    gap = pacing_mod.gap(gap_s)
    if gap.is_continuous:
        raise UsageError("compare needs a gap > 0: at gap 0 there is nothing to remedy")
    plan = [p if isinstance(p, Policy) else parse_policy(p) for p in policies]
    if not plan:
        raise UsageError("give at least one policy")
    spec = workloads.parse_spec(workload) if isinstance(workload, str) else None
    uses_gpu = spec.needs_gpu if spec else workload.device >= 0  # type: ignore[union-attr]
    if uses_gpu:
        device.require_gpu(gpu)
    elif any(p.uses_filler for p in plan):
        raise UsageError("keep-warm and pre-warm need a GPU workload")
    for p in plan:
        if p.lock_clocks:
            clocks.plan(p.lock_clocks, None, gpu)
    settings = {"workload": spec.text if spec else workload.name, "gap_s": gap_s,  # type: ignore[union-attr]
                "policies": [p.to_json() for p in plan], "rounds": rounds, "iterations": iterations,
                "warmup": warmup, "gpu": gpu if uses_gpu else None, "command": "compare"}
    result = SweepResult(environment=device.environment(gpu if uses_gpu else None), settings=settings)
    result.environment["warnings"] = clocks.state_files.stale_warnings()
    built: dict[str | None, workloads.Workload] = {}

    def workload_for(p: Policy) -> workloads.Workload:
        if not isinstance(workload, str):
            return workload
        assert spec is not None
        key = p.launch if spec.kind == "synthetic" else None
        if key not in built:
            if progress:
                progress.calibrating(spec.text)
            s = spec if key is None else workloads.WorkloadSpec(spec.text, spec.kind, spec.us, spec.kernels, key)
            built[key] = workloads.build(s, gpu=gpu)
        return built[key]

    sampler = None
    if telemetry and uses_gpu:
        sampler, how = telemetry_mod.open_sampler(gpu)
        result.environment["telemetry"] = sampler.describe() if sampler else {"source": None, "reason": how}
    writer = ResultWriter(out, result.environment, settings) if out is not None else None
    result.path = writer.directory if writer else None
    continuous = Policy(name=CONTINUOUS)
    if sampler:
        sampler.start()
    try:
        for r in range(rounds):
            for p, pacing in [(continuous, pacing_mod.gap(0.0))] + [(p, gap) for p in plan]:
                wl = workload_for(p)
                c = ConditionResult(wl.name, pacing, p.wait, p.sync, warmup, iterations, {},
                                    device_timing=wl.device_timing, policy=p.name,
                                    info={"round": r, "policy": p.to_json()})
                run_condition(result, c, wl, writer=writer, sampler=sampler, progress=progress, gpu=gpu,
                              lock_clocks=p.lock_clocks, policy=p, label=f"round {r + 1}/{rounds} {p.name}")
    except KeyboardInterrupt:
        raise SweepInterrupted(result) from None
    finally:
        if sampler:
            sampler.stop()
    return result
