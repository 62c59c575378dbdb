"""`trtpace.sweep`: run workloads across pacing conditions and keep every record."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from trtpace.errors import UsageError
from trtpace.measure import pacing as pacing_mod
from trtpace.measure import workloads
from trtpace.measure.gap_work import GapWork
from trtpace.measure.launch import launch_of
from trtpace.measure.pacing import Pacing
from trtpace.measure.runner import SYNC_MODES, WAIT_MODES
from trtpace.measure.stability import parse_target
from trtpace.platform import clocks, device
from trtpace.platform.privileges import may_change_clocks
from trtpace.results import ConditionResult, SweepResult, split_info
from trtpace.run.session import Progress, RunSession, SweepInterrupted, resolve_gap_work, validate_counts

DEFAULT_GAPS_S = (0.0, 0.1, 0.2)
DEFAULT_WORKLOADS = ("tiny", "medium", "large")


def _validate_mode(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise UsageError(f"unknown {what} {value!r} (expected {', '.join(allowed)})")
    return value


def plan_pacings(gaps_s: Iterable[float] | None, schedule: Pacing | None) -> list[Pacing]:
    """The conditions of one workload: the continuous baseline first, then gaps or the schedule."""
    if schedule is not None:
        if gaps_s is not None:
            raise UsageError("give either gaps (closed loop) or a period, rate or trace (open loop), not both")
        if not schedule.open_loop:
            raise UsageError("schedule must be an open-loop pacing (period, rate or trace)")
        return [pacing_mod.gap(0.0), schedule]
    plan = [pacing_mod.gap(g) for g in (DEFAULT_GAPS_S if gaps_s is None else gaps_s)]
    if not plan:
        raise UsageError("give at least one gap")
    baseline = pacing_mod.gap(0.0)
    return [baseline] + [p for p in plan if p != baseline]


def check_gap_work(work: GapWork, pacings: Sequence[Pacing]) -> None:
    """Gap work needs a gap: refused where every condition is the gap-0 baseline (run without it)."""
    if work.active and all(p.is_continuous for p in pacings):
        raise UsageError(
            f"--gap-work {work.spec} runs in the gaps, and the only gap here is 0 (the baseline, back "
            "to back without it): give a gap > 0"
        )


def sweep(
    workload: str | workloads.Workload | Sequence[str | workloads.Workload] = DEFAULT_WORKLOADS,
    gaps_s: Iterable[float] | None = None,
    *,
    schedule: Pacing | None = None,
    iterations: int = 100,
    warmup: int = 10,
    wait: str = "hybrid",
    sync: str = "spin",
    gpu: int = 0,
    out: str | Path | None = None,
    out_mode: str = "new",
    progress: Progress | None = None,
    telemetry: bool = True,
    telemetry_rate_hz: float | None = None,
    lock_clocks: str | None = None,
    nvtx: bool = False,
    gap_work: str | GapWork | None = None,
    until_stable: str | float | None = None,
) -> SweepResult:
    """Runs each workload under each pacing condition and returns every record with statistics.
    (Long because it validates every argument before any work, then runs one loop.)

    Conditions per workload: the continuous baseline (gap 0, added when missing), then each gap
    in `gaps_s` (closed loop, seconds; default 0, 0.1, 0.2) or the open-loop `schedule`
    (`trtpace.pacing.period/poisson/trace`). Each condition runs `warmup` inferences at its own
    pacing, kept but flagged, then `iterations` measured ones. With `out`, results are written
    there as each condition finishes; `out_mode` "new" refuses a folder that already holds files,
    "unique" appends -2, -3, ... to a taken name, "overwrite" replaces the run there, "append" adds
    to it (a sweep's folder only). Ctrl-C raises SweepInterrupted carrying the partial result.
    With `telemetry`, a background thread samples the GPU (NVML, or devfreq on Jetson) at
    `telemetry_rate_hz` (default: the fastest rate costing under 5% of a core) and each condition
    keeps the samples of its time window. With `lock_clocks` (e.g. "max"), each condition runs
    twice, unlocked then with SM clocks locked, interleaved; without permission to lock, a
    warning goes into `result.environment["warnings"]` and only the unlocked runs happen. With
    `nvtx`, each condition and each inference is an NVTX range for profilers (`nsys profile`).
    `gap_work` ('busy:2ms', 'memory:64MB', 'jpeg:1280x720', or a `trtpace.measure.gap_work.GapWork`)
    is what the app does in the gap: it runs at the end of each gap, and the inference is issued
    when it ends, in every condition but the gap-0 baseline, which stays back to back without it;
    each condition records it (`ConditionResult.gap_work`). `until_stable` ('2%' or 0.02): each condition
    ends once its p50 and p99 are known to within that fraction (95% interval; `iterations` is the
    cap), and records in `stats.until_stable` whether it got there.
    """
    work = resolve_gap_work(gap_work)
    stable = parse_target(until_stable)
    validate_counts(iterations, warmup)
    _validate_mode(wait, WAIT_MODES, "wait mode")
    _validate_mode(sync, SYNC_MODES, "sync mode")
    pacings = plan_pacings(gaps_s, schedule)
    check_gap_work(work, pacings)
    for p in pacings:
        if p.kind == "trace" and len(p.trace_offsets_ns) < warmup + iterations:
            raise UsageError(
                f"the trace holds {len(p.trace_offsets_ns)} due times, fewer than warm-up + iterations = "
                f"{warmup + iterations}"
            )
    items = [workload] if isinstance(workload, (str, workloads.Workload)) else list(workload)
    if not items:
        raise UsageError("give at least one workload")
    specs = [workloads.parse_spec(w) if isinstance(w, str) else w for w in items]
    uses_gpu = any(
        (isinstance(s, workloads.Workload) and s.device >= 0) or getattr(s, "needs_gpu", False) for s in specs
    )
    if uses_gpu:
        device.require_gpu(gpu)
    settings: dict[str, Any] = {
        "workloads": [s.text if isinstance(s, workloads.WorkloadSpec) else s.name for s in specs],
        "pacings": [p.to_json() for p in pacings],
        "iterations": iterations,
        "warmup": warmup,
        "wait": wait,
        "sync": sync,
        "gpu": gpu if uses_gpu else None,
        "lock_clocks": lock_clocks,
        "command": "sweep",
        "nvtx": nvtx,
        "gap_work": work.to_json(),
    }
    variants: list[str | None] = [None]
    lock_warning = None
    if lock_clocks is not None:
        clocks.plan(lock_clocks, None, gpu)  # bad values and unsupported GPUs fail here, before any run
        if may_change_clocks()[0]:
            variants.append(lock_clocks)
        else:
            lock_warning = (
                f"--lock-clocks needs root: running unlocked only (sudo trtpace sweep ... "
                f"--lock-clocks {lock_clocks} runs both)"
            )
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
    if lock_warning:
        session.warnings.append(lock_warning)
    with session:
        for spec in specs:
            if isinstance(spec, workloads.WorkloadSpec):
                session.calibrating(spec.text)
                try:
                    wl = workloads.build(spec, gpu=gpu)
                except KeyboardInterrupt as e:
                    raise SweepInterrupted(session.result) from e
            else:
                wl = spec
            described = split_info(wl.info)
            if launch_of(wl.info):  # in the one vocabulary (TensorRT's fallback: python)
                described["workload_meta"] = replace(described["workload_meta"], launch=launch_of(wl.info))
            for p, clock_lock in ((p, v) for p in pacings for v in variants):
                c = ConditionResult(
                    workload=wl.name,
                    pacing=p,
                    wait=wait,
                    sync=sync,
                    warmup=warmup,
                    iterations=iterations,
                    records={},
                    device_timing=wl.device_timing,
                    **described,
                    clocks=f"locked {clock_lock}" if clock_lock else "default",
                )
                session.run_condition(c, wl, lock_clocks=clock_lock, label=wl.name, gap_work=work, until_stable=stable)
    return session.result
