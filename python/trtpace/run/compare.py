"""`trtpace compare`: remedy policies on one workload and gap, interleaved, with their cost.

Each round runs the continuous baseline (gap 0) and then every policy at the gap, so drift of a
shared machine hits all of them alike. `trtpace.results.policies` pools the rounds and recommends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

from trtpace.errors import UsageError
from trtpace.measure import pacing as pacing_mod
from trtpace.measure import workloads
from trtpace.measure.gap_work import GapWork
from trtpace.measure.launch import ARMABLE_PATHS, launch_of
from trtpace.measure.policies import Policy, parse_policy
from trtpace.measure.stability import parse_target
from trtpace.platform import clocks, device
from trtpace.results import CompareTag, ConditionResult, SweepResult, split_info
from trtpace.results.policies import CONTINUOUS
from trtpace.run.session import Progress, RunSession, SweepInterrupted, resolve_gap_work, validate_counts

# The plain baseline, then the best remedies measured so far (bench/README.md): keep-warm alone,
# the inference's own graph uploaded ahead of time, both, and armed launch (the gate measured
# faster on this GPU).
DEFAULT_POLICIES = ("sleep", "spin", "keepwarm:1ms", "prewarm-graph:100us", "keepwarm:1ms+prewarm-graph:100us", "armed")


def compare(
    workload: str | workloads.Workload | Sequence[workloads.Workload] = "tiny",
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
    switch_to: workloads.Workload | None = None,
    nvtx: bool = False,
    gap_work: str | GapWork | None = None,
    until_stable: str | float | None = None,
) -> SweepResult:
    """Runs each policy at `gap_s` (and the continuous baseline) in `rounds` interleaved rounds.
    (Long because it validates every argument before any work, then runs one interleaved loop.)

    `workload` may be a list of workloads, one per launch path of the same model (e.g. from
    `workloads.from_torch_paths`): a policy naming a path (`graph`, `eager+spin`) runs on that
    one, any other policy on each. `switch_to` (e.g. the model's graph path, for an app on the
    eager or python path) runs plainly beside them, with its own continuous rounds, as "what
    switching would give". Returns the per-round conditions (policy names in
    `ConditionResult.policy`, launch paths in `.launch`); summarize them with
    `summarize_policies` and `recommend`. With `nvtx`, each condition and each inference is an
    NVTX range for profilers (`nsys profile`). `gap_work` ('busy:2ms', 'memory:64MB',
    'jpeg:1280x720' or a GapWork) runs at the end of each gap of every policy, the inference
    issued when it ends; the continuous rounds stay back to back without it. `until_stable` ('2%'
    or 0.02): each round of each policy ends once its p50 and p99 are known to within that fraction
    (`iterations` is the cap).
    """
    work = resolve_gap_work(gap_work)
    stable = parse_target(until_stable)
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
    paths: dict[str, workloads.Workload] = {}
    if spec is None:
        given: list[workloads.Workload] = (
            [workload]
            if isinstance(workload, workloads.Workload)
            else list(cast(Sequence[workloads.Workload], workload))
        )
        if not given:
            raise UsageError("give at least one workload")
        for w in given:
            key = launch_of(w.info)
            if key in paths:
                raise UsageError(f"two workloads on launch path {key!r}: give one per path")
            paths[key] = w
        for p in plan:
            if p.launch and p.launch not in paths:
                raise UsageError(
                    f"policy {p.name!r} needs launch path {p.launch!r}, not measured here "
                    f"(measured: {', '.join(k or 'host' for k in paths)})"
                )
            if p.armed_gate and p.launch and p.launch not in ARMABLE_PATHS:
                raise UsageError(
                    f"policy {p.name!r}: armed launch queues a whole inference behind a gate, which "
                    f"the {p.launch} path cannot; it applies to {', '.join(ARMABLE_PATHS)}"
                )
        workload = given[0]
    uses_gpu = spec.needs_gpu if spec else workload.device >= 0  # type: ignore[union-attr]
    if uses_gpu:
        device.require_gpu(gpu)
    elif any(p.uses_filler or p.armed_gate for p in plan):
        raise UsageError("keep-warm, pre-warm and armed launch need a GPU workload")
    for p in plan:
        if p.lock_clocks:
            clocks.plan(p.lock_clocks, None, gpu)
    settings = {
        "workload": spec.text if spec else workload.name,  # type: ignore[union-attr]
        "gap_s": gap_s,
        "policies": [p.to_json() for p in plan],
        "rounds": rounds,
        "iterations": iterations,
        "warmup": warmup,
        "gpu": gpu if uses_gpu else None,
        "command": "compare",
        "launch": list(paths) if paths else None,
        "switch_to": launch_of(switch_to.info) if switch_to is not None else None,
        "nvtx": nvtx,
        "gap_work": work.to_json(),
        # the host copies around each inference: an --append must match them (results.store)
        "io": sorted({_copies(w.info) for w in paths.values()}) if paths else ["none"],
    }
    built: dict[str | None, workloads.Workload] = {}

    def workload_for(p: Policy) -> workloads.Workload:
        if not isinstance(workload, str):
            return workload  # type: ignore[return-value]
        assert spec is not None
        key = p.launch if spec.kind == "synthetic" else None
        if key not in built:
            session.calibrating(spec.text)
            s = spec if key is None else workloads.WorkloadSpec(spec.text, spec.kind, spec.us, spec.kernels, key)
            built[key] = workloads.build(s, gpu=gpu)
        return built[key]

    steps, plain = plan_steps(plan, gap, paths, switch_to)
    settings["plain_policy"] = plain.name
    session = RunSession(
        settings,
        gpu=gpu if uses_gpu else None,
        out=out,
        out_mode=out_mode,
        telemetry=telemetry,
        telemetry_rate_hz=telemetry_rate_hz,
        progress=progress,
        nvtx=nvtx,
    )
    try:
        with session:
            for r in range(rounds):
                for p, pacing, given_wl, switch in steps:
                    wl = given_wl if given_wl is not None else workload_for(p)
                    described = split_info(wl.info)
                    described["compare_tag"] = CompareTag(round=r, policy=p.to_json(), switch=True if switch else None)
                    if launch_of(wl.info):
                        described["workload_meta"] = replace(described["workload_meta"], launch=launch_of(wl.info))
                    c = ConditionResult(
                        wl.name,
                        pacing,
                        p.wait,
                        p.sync,
                        warmup,
                        iterations,
                        {},
                        device_timing=wl.device_timing,
                        policy=p.name,
                        **described,
                    )
                    session.run_condition(
                        c,
                        wl,
                        lock_clocks=p.lock_clocks,
                        policy=p,
                        gap_work=work,
                        until_stable=stable,
                        label=f"round {r + 1}/{rounds} {p.name}" + (f" ({c.launch})" if paths or switch else ""),
                    )
    except SweepInterrupted:
        raise
    except KeyboardInterrupt as e:  # during calibration
        raise SweepInterrupted(session.result) from e
    return session.result


def _copies(info: dict[str, object]) -> str:
    """A workload's host copies around each inference (--io); "none" where it makes none (a
    TensorRT workload's info["io"] describes its tensors instead)."""
    io = info.get("io")
    return io if isinstance(io, str) else "none"


Step = tuple[Policy, pacing_mod.Pacing, "workloads.Workload | None", bool]


def plan_steps(
    plan: Sequence[Policy],
    gap: pacing_mod.Pacing,
    paths: dict[str, workloads.Workload],
    switch_to: workloads.Workload | None,
) -> tuple[list[Step], Policy]:
    """One round's conditions, in order: (policy, pacing, workload or None for the synthetic build,
    is it the switch-to path), and the app's plain policy.

    Per launch path: its continuous baseline, then every policy that names no path or that one;
    armed policies only on paths that can be armed. The first policy that names no path and is
    not armed is the app's plain run; the switch-to path (a graph, for an app on a Python path)
    runs it and the armed policies: what switching to a graph, and arming it, would give.
    """
    continuous = Policy(name=CONTINUOUS)
    steps: list[Step] = []
    if not paths:
        steps += [(continuous, pacing_mod.gap(0.0), None, False)] + [(p, gap, None, False) for p in plan]
    else:
        for key, wl in paths.items():
            steps.append((continuous, pacing_mod.gap(0.0), wl, False))
            steps += [
                (p, gap, wl, False)
                for p in plan
                if p.launch in (None, key) and (not p.armed_gate or key in ARMABLE_PATHS)
            ]
    plain = next((p for p in plan if p.launch is None and not p.armed_gate), Policy(name="default"))
    if switch_to is not None and launch_of(switch_to.info) not in paths:
        steps += [(continuous, pacing_mod.gap(0.0), switch_to, True), (plain, gap, switch_to, True)]
        steps += [(p, gap, switch_to, True) for p in plan if p.armed_gate and p.launch is None]
    return steps, plain
