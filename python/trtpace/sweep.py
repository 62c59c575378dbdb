"""`trtpace.sweep`: run workloads across pacing conditions and keep every record."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from trtpace import clocks, device, pacing as pacing_mod, telemetry as telemetry_mod, workloads
from trtpace.errors import UsageError
from trtpace.pacing import Pacing
from trtpace.policies import Policy
from trtpace.results import ConditionResult, ResultWriter, SweepResult
from trtpace.runner import SYNC_MODES, WAIT_MODES, run_paced

DEFAULT_GAPS_S = (0.0, 0.1, 0.2)
DEFAULT_WORKLOADS = ("tiny", "medium", "large")


class Progress(Protocol):
    """What sweep reports while it runs (the CLI draws it as progress bars)."""

    def condition_started(self, workload: str, pacing: Pacing, total: int) -> None: ...
    def advanced(self, completed: int, total: int) -> None: ...
    def condition_finished(self, condition: ConditionResult) -> None: ...
    def calibrating(self, workload: str) -> None: ...


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; `.result` holds every finished condition and the partial one."""

    def __init__(self, result: SweepResult):
        super().__init__("sweep interrupted")
        self.result = result


def validate_counts(iterations: int, warmup: int) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise UsageError(f"iterations must be a whole number >= 1, got {iterations!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise UsageError(f"warm-up must be a whole number >= 0, got {warmup!r}")
    if iterations + warmup > 10_000_000:
        raise UsageError("warm-up + iterations is over the 10,000,000 limit of one condition")


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
    progress: Progress | None = None,
    telemetry: bool = True,
    telemetry_rate_hz: float | None = None,
    lock_clocks: str | None = None,
) -> SweepResult:
    """Runs each workload under each pacing condition and returns every record with statistics.

    Conditions per workload: the continuous baseline (gap 0, added when missing), then each gap
    in `gaps_s` (closed loop, seconds; default 0, 0.1, 0.2) or the open-loop `schedule`
    (`trtpace.pacing.period/poisson/trace`). Each condition runs `warmup` inferences at its own
    pacing, kept but flagged, then `iterations` measured ones. With `out`, results are written
    there as each condition finishes. Ctrl-C raises SweepInterrupted carrying the partial result.
    With `telemetry`, a background thread samples the GPU (NVML, or devfreq on Jetson) at
    `telemetry_rate_hz` (default: the fastest rate costing under 5% of a core) and each condition
    keeps the samples of its time window. With `lock_clocks` (e.g. "max"), each condition runs
    twice, unlocked then with SM clocks locked, interleaved; without permission to lock, a
    warning goes into `result.environment["warnings"]` and only the unlocked runs happen.
    """
    validate_counts(iterations, warmup)
    _validate_mode(wait, WAIT_MODES, "wait mode")
    _validate_mode(sync, SYNC_MODES, "sync mode")
    pacings = plan_pacings(gaps_s, schedule)
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
    uses_gpu = any(isinstance(s, workloads.Workload) and s.device >= 0 or getattr(s, "needs_gpu", False) for s in specs)
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
    }
    result = SweepResult(environment=device.environment(gpu if uses_gpu else None), settings=settings)
    warnings = result.environment.setdefault("warnings", clocks.state_files.stale_warnings())
    variants: list[str | None] = [None]
    if lock_clocks is not None:
        from trtpace.env import may_change_clocks

        clocks.plan(lock_clocks, None, gpu)  # bad values and unsupported GPUs fail here, before any run
        allowed, _ = may_change_clocks()
        if allowed:
            variants.append(lock_clocks)
        else:
            warnings.append(f"--lock-clocks needs root: running unlocked only (sudo trtpace sweep ... "
                            f"--lock-clocks {lock_clocks} runs both)")
    settings["lock_clocks"] = lock_clocks
    sampler = None
    if telemetry and uses_gpu:
        sampler, how = telemetry_mod.open_sampler(gpu, telemetry_rate_hz)
        result.environment["telemetry"] = sampler.describe() if sampler else {"source": None, "reason": how}
    writer = ResultWriter(out, result.environment, settings) if out is not None else None
    result.path = writer.directory if writer else None
    if sampler:
        sampler.start()
    try:
        _run_conditions(result, specs, pacings, writer, sampler, progress, gpu=gpu, iterations=iterations,
                        warmup=warmup, wait=wait, sync=sync, variants=variants)
    finally:
        if sampler:
            sampler.stop()
    return result


def _run_conditions(result: SweepResult, specs: list, pacings: list[Pacing], writer: ResultWriter | None,
                    sampler: telemetry_mod.Sampler | None, progress: Progress | None, *, gpu: int,
                    iterations: int, warmup: int, wait: str, sync: str, variants: list[str | None]) -> None:
    for spec in specs:
        if isinstance(spec, workloads.WorkloadSpec):
            if progress:
                progress.calibrating(spec.text)
            try:
                wl = workloads.build(spec, gpu=gpu)
            except KeyboardInterrupt:
                raise SweepInterrupted(result) from None
        else:
            wl = spec
        for p, clock_lock in ((p, v) for p in pacings for v in variants):
            c = ConditionResult(
                workload=wl.name, pacing=p, wait=wait, sync=sync, warmup=warmup, iterations=iterations,
                records={}, device_timing=wl.device_timing, info=dict(wl.info),
                clocks=f"locked {clock_lock}" if clock_lock else "default",
            )
            run_condition(result, c, wl, writer=writer, sampler=sampler, progress=progress, gpu=gpu,
                          lock_clocks=clock_lock, label=wl.name)


def run_condition(result: SweepResult, c: ConditionResult, wl: workloads.Workload, *, writer: ResultWriter | None,
                  sampler: telemetry_mod.Sampler | None, progress: Progress | None, gpu: int,
                  lock_clocks: str | None = None, policy: Policy | None = None, label: str = "") -> None:
    """Runs condition `c` (its pacing, wait, sync, counts) and records it everywhere: announced to
    the writer first, then its records, telemetry window and status appended and written. A
    failing inference or Ctrl-C ends the sweep after the partial condition is saved."""
    index = writer.begin(c) if writer else -1
    if progress:
        progress.condition_started(label or wl.name, c.pacing, c.warmup + c.iterations)
    with clocks.locked_clocks(sm=lock_clocks, gpu=gpu) if lock_clocks else contextlib.nullcontext():
        outcome = run_paced(wl, c.pacing, iterations=c.iterations, warmup=c.warmup, wait=c.wait, sync=c.sync,
                            policy=policy, on_progress=progress.advanced if progress else None)
    c.records = outcome.records
    c.info.update(hybrid_margin_ns=outcome.hybrid_margin_ns, cpu_ns=outcome.cpu_ns, fillers_fired=outcome.fillers_fired)
    if sampler is not None and c.count:
        c.telemetry = sampler.window(int(c.records["issue_ns"][0]), int(c.records["done_ns"][-1]))
    c.status = "done" if c.count == c.warmup + c.iterations else "partial"
    result.conditions.append(c)
    if writer:
        writer.finish(index, c)
    if progress:
        progress.condition_finished(c)
    if outcome.error is not None:
        raise outcome.error
    if outcome.interrupted:
        raise SweepInterrupted(result)
