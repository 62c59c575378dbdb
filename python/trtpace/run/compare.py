"""`trtpace compare`: remedy policies on one workload and gap, interleaved, with their cost.

Each round runs the continuous baseline (gap 0) and then every policy at the gap, so drift of a
shared machine hits all of them alike. `trtpace.results.policies` pools the rounds and recommends.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trtpace.errors import UsageError
from trtpace.measure import pacing as pacing_mod
from trtpace.measure import workloads
from trtpace.measure.policies import Policy, parse_policy
from trtpace.platform import clocks, device
from trtpace.results import ConditionResult, SweepResult
from trtpace.results.policies import CONTINUOUS
from trtpace.run.session import Progress, RunSession, SweepInterrupted, validate_counts

# The plain baseline, then the best remedies measured so far (bench/README.md): keep-warm alone,
# the inference's own graph uploaded ahead of time, and both.
DEFAULT_POLICIES = ("sleep", "spin", "keepwarm:1ms", "prewarm-graph:100us", "keepwarm:1ms+prewarm-graph:100us")


def compare(
    workload: str | workloads.Workload = "tiny",
    gap_s: float = 0.1,
    policies: Sequence[str | Policy] = DEFAULT_POLICIES,
    *,
    rounds: int = 5,
    iterations: int = 40,
    warmup: int = 5,
    gpu: int = 0,
    out: str | Path | None = None,
    out_mode: str = "new",
    progress: Progress | None = None,
    telemetry: bool = True,
    telemetry_rate_hz: float | None = None,
) -> SweepResult:
    """Runs each policy at `gap_s` (and the continuous baseline) in `rounds` interleaved rounds.

    `out` and `out_mode` as in `trtpace.sweep` (append adds to a compare's folder only).
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
    built: dict[str | None, workloads.Workload] = {}

    def workload_for(p: Policy) -> workloads.Workload:
        if not isinstance(workload, str):
            return workload
        assert spec is not None
        key = p.launch if spec.kind == "synthetic" else None
        if key not in built:
            session.calibrating(spec.text)
            s = spec if key is None else workloads.WorkloadSpec(spec.text, spec.kind, spec.us, spec.kernels, key)
            built[key] = workloads.build(s, gpu=gpu)
        return built[key]

    session = RunSession(settings, gpu=gpu if uses_gpu else None, out=out, out_mode=out_mode, telemetry=telemetry,
                         telemetry_rate_hz=telemetry_rate_hz, progress=progress)
    continuous = Policy(name=CONTINUOUS)
    try:
        with session:
            for r in range(rounds):
                for p, pacing in [(continuous, pacing_mod.gap(0.0))] + [(p, gap) for p in plan]:
                    wl = workload_for(p)
                    c = ConditionResult(wl.name, pacing, p.wait, p.sync, warmup, iterations, {},
                                        device_timing=wl.device_timing, policy=p.name,
                                        info={"round": r, "policy": p.to_json()})
                    session.run_condition(c, wl, lock_clocks=p.lock_clocks, policy=p,
                                          label=f"round {r + 1}/{rounds} {p.name}")
    except SweepInterrupted:
        raise
    except KeyboardInterrupt as e:  # during calibration
        raise SweepInterrupted(session.result) from e
    return session.result
