"""What every measuring command shares: the run's environment and warnings, the telemetry sampler,
the results writer, and running one condition into all of them."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from trtpace import _core
from trtpace.errors import UsageError
from trtpace.measure import host_cpu
from trtpace.measure import telemetry as telemetry_mod
from trtpace.measure.gap_work import NONE as NO_GAP_WORK
from trtpace.measure.gap_work import GapWork, parse_gap_work
from trtpace.measure.pacing import Pacing
from trtpace.measure.policies import Policy
from trtpace.measure.runner import RunOutcome, resolve_armed_gate, run_paced
from trtpace.measure.stability import StableTarget
from trtpace.measure.workloads import Workload
from trtpace.platform import clocks, cpu, device
from trtpace.results import ConditionResult, GpuIdentity, ResultWriter, SweepResult
from trtpace.signals import stop_signals_held


class Progress(Protocol):
    """What a run reports while it goes (the CLI draws it as progress bars)."""

    def condition_started(self, workload: str, pacing: Pacing, total: int) -> None: ...
    def advanced(self, completed: int, total: int) -> None: ...
    def condition_finished(self, condition: ConditionResult) -> None: ...
    def calibrating(self, workload: str) -> None: ...


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a run; `.result` holds every finished condition and the partial one."""

    def __init__(self, result: SweepResult):
        super().__init__("sweep interrupted")
        self.result = result


def validate_counts(iterations: int, warmup: int) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise UsageError(f"iterations must be a whole number >= 1, got {iterations!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise UsageError(f"warm-up must be a whole number >= 0, got {warmup!r}")
    if iterations + warmup > _core.MAX_INFERENCES:  # the core's limit (checked.hpp), typed once
        raise UsageError(f"warm-up + iterations is over the {_core.MAX_INFERENCES:,} limit of one condition")


def resolve_gap_work(value: str | GapWork | None) -> GapWork:
    """`gap_work=` of sweep and compare: a spec ('busy:2ms', 'memory:64MB', 'jpeg:1280x720', 'none'),
    a GapWork, or None (an idle gap); a bad spec is a one-line UsageError, before anything runs."""
    if value is None or isinstance(value, GapWork):
        return value or NO_GAP_WORK
    if not isinstance(value, str):
        raise UsageError(f"gap_work takes a spec such as 'busy:2ms' or a GapWork, got {type(value).__name__}")
    return parse_gap_work(value)


def nvtx_name(c: ConditionResult) -> str:
    """The condition's NVTX range on a profiler's timeline: "trtpace: tiny, gap 0.1 s", then the
    policy, locked clocks and compare's round where they apply."""
    parts = [c.workload, c.pacing.label]
    if c.policy:
        parts.append(c.policy)
    if c.clocks != "default":
        parts.append(c.clocks)
    if c.gap_work_spec != "none":
        parts.append(f"gap work {c.gap_work_spec}")
    if c.round is not None:
        parts.append(f"round {c.round + 1}")
    return "trtpace: " + ", ".join(parts)


class RunSession:
    """One measuring run: its result, environment and warnings, sampler and results folder.

        with RunSession(settings, gpu=0, out=path) as session:
            session.run_condition(condition, workload)

    The sampler runs from entering to leaving; each condition is announced to the writer before
    it runs and written as it ends, so an interruption keeps everything finished. `out_mode` says
    how the results folder is taken (trtpace.results.ResultWriter: new, unique, overwrite, append).
    """

    def __init__(
        self,
        settings: dict[str, Any],
        *,
        gpu: int | None,
        out: str | Path | None = None,
        out_mode: str = "new",
        telemetry: bool = True,
        telemetry_rate_hz: float | None = None,
        progress: Progress | None = None,
        host_cpu_rate_hz: float | None = host_cpu.DEFAULT_RATE_HZ,
        nvtx: bool = False,
    ):
        self.gpu = gpu
        self.nvtx = nvtx  # an NVTX range per condition and per inference (trtpace.measure.runner)
        self.progress = progress
        self.result = SweepResult(environment=device.environment(gpu), settings=settings)
        self.identity = device.identity(gpu)  # stamped into every condition's placement
        self.warnings: list[str] = self.result.environment.setdefault("warnings", clocks.reap_stale())
        self.sampler: telemetry_mod.Sampler | None = None
        if telemetry and gpu is not None:
            self.sampler, how = telemetry_mod.open_sampler(gpu, telemetry_rate_hz)
            self.result.environment["telemetry"] = (
                self.sampler.describe() if self.sampler else {"source": None, "reason": how}
            )
        # The loop thread's core and its clock, sampled off the timed loop (None: off).
        self.host_sampler = host_cpu.HostCpuSampler(host_cpu_rate_hz) if host_cpu_rate_hz else None
        self.cores = host_cpu.cores_in_use()
        shown = cpu.exposed(self.cores[0] if self.cores else 0)
        self.result.environment["host_cpu"] = {
            **shown,
            "cores": len(self.cores),
            "note": None if any(shown.values()) else cpu.NOT_EXPOSED,
        }
        # The folder is made last, after everything that can refuse the run.
        self.writer = ResultWriter(out, self.result.environment, settings, out_mode) if out is not None else None
        self.result.path = self.writer.directory if self.writer else None

    def __enter__(self) -> RunSession:
        # A multi-GPU worker (trtpace.run.workers) hands its run's environment and settings to the
        # coordinating process, which writes the one results folder.
        try:
            started = getattr(self.progress, "session_started", None)
            if started is not None:
                started(self.result.environment, self.result.settings)
            if self.sampler:
                self.sampler.start()
            if self.host_sampler:
                self.host_sampler.start()
        except BaseException as e:
            self.__exit__(type(e), e, e.__traceback__)  # a failed start gives the folder up too
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if self.sampler:
                self.sampler.stop()
        finally:
            try:
                if self.writer is not None:
                    if exc_type is not None and not self.writer.finished:
                        # Failed or interrupted before any condition landed: no empty results folder
                        # stays behind (discard never raises).
                        self.writer.discard()
                        self.result.path = None
                    self.writer.close()  # the next writer may take the folder, on every way out
            finally:
                if self.host_sampler:
                    self.host_sampler.stop()

    def calibrating(self, workload: str) -> None:
        if self.progress:
            self.progress.calibrating(workload)

    def run_condition(
        self,
        c: ConditionResult,
        wl: Workload,
        *,
        lock_clocks: str | None = None,
        policy: Policy | None = None,
        label: str = "",
        gap_work: GapWork = NO_GAP_WORK,
        until_stable: StableTarget | None = None,
    ) -> None:
        """Runs condition `c` (its pacing, wait, sync, counts) and records it everywhere: announced
        to the writer first, then its records, telemetry window and status appended and written.
        A failing inference or Ctrl-C ends the run after the partial condition is saved.

        `gap_work` runs at the end of each gap of every condition but the continuous baseline,
        which stays back to back without it (penalties stay against plain back to back, as an app
        compares its camera loop with its decode against a dummy loop run back to back); what
        ran goes into `c.gap_work_recorded`. `until_stable`: the condition ends once its p50 and p99
        are known to the target (`iterations` is the cap); `c.stats.until_stable` says whether it
        got there and after how many."""
        awake = host_cpu.CpuAwake() if policy is not None and policy.cpu_awake else None
        if awake is not None and self.host_sampler is None:
            raise UsageError("cpu-awake follows the loop's core through the host CPU sampler, which is off")
        work = NO_GAP_WORK if c.pacing.is_continuous else gap_work
        c.gap_work_recorded = work.to_json()
        if c.placement.gpu is None:
            c.placement = replace(c.placement, gpu=GpuIdentity.from_json(self.identity))
        index = self.writer.begin(c) if self.writer else -1
        progress = self.progress
        if progress:
            progress.condition_started(label or wl.name, c.pacing, c.warmup + c.iterations)
        gpu = self.gpu if self.gpu is not None else 0
        if policy is not None:
            policy, choice = resolve_armed_gate(wl, policy)
            c.stats = replace(c.stats, armed_choice=choice or None, armed_gate=policy.armed_gate or None)
        if self.host_sampler is not None:
            self.host_sampler.on_core = awake.follow if awake else None
        idle_before = host_cpu.idle_snapshot(self.cores) if self.result.environment["host_cpu"]["cpuidle"] else {}
        try:
            with clocks.locked_clocks(sm=lock_clocks, gpu=gpu) if lock_clocks else contextlib.nullcontext():
                outcome = run_paced(
                    wl,
                    c.pacing,
                    iterations=c.iterations,
                    warmup=c.warmup,
                    wait=c.wait,
                    sync=c.sync,
                    policy=policy,
                    on_progress=progress.advanced if progress else None,
                    nvtx=nvtx_name(c) if self.nvtx else None,
                    gap_work=work,
                    until_stable=until_stable,
                )
        except BaseException:
            self._end_awake(awake, c)
            raise
        # Measured: a signal from here on (a coordinator stopping this worker, Ctrl-C) takes effect
        # once the condition is recorded, written and sent, never losing it half way.
        with stop_signals_held():
            self._record(c, outcome, self._end_awake(awake, c), idle_before, index, until_stable)
        if outcome.error is not None:
            raise outcome.error
        if outcome.interrupted is not None:
            raise SweepInterrupted(self.result) from outcome.interrupted

    def _end_awake(self, awake: host_cpu.CpuAwake | None, c: ConditionResult) -> int:
        """Stops the cpu-awake spinner (noting it in `c`); returns its CPU time in ns."""
        if self.host_sampler is not None:
            self.host_sampler.on_core = None
        if awake is None:
            return 0
        awake_cpu_ns = awake.cpu_ns()
        c.stats = replace(c.stats, cpu_awake={**awake.describe(), "cpu_ns": awake_cpu_ns})
        awake.stop()
        return awake_cpu_ns

    def _record(
        self,
        c: ConditionResult,
        outcome: RunOutcome,
        awake_cpu_ns: int,
        idle_before: dict[int, Any],
        index: int,
        until_stable: StableTarget | None = None,
    ) -> None:
        progress = self.progress
        idle_after = host_cpu.idle_snapshot(self.cores) if idle_before else {}
        c.records = outcome.records
        # cpu_ns: all host CPU the condition cost, the cpu-awake spinner's included; loop_cpu_ns: the loop's own.
        c.stats = replace(
            c.stats,
            hybrid_margin_ns=outcome.hybrid_margin_ns,
            cpu_ns=outcome.cpu_ns + awake_cpu_ns,
            loop_cpu_ns=outcome.cpu_ns,
            fillers_fired=outcome.fillers_fired,
            filler_work_ns=outcome.filler_work_ns,
            # where the pre-warm went: its target, or filler where the path has none
            prewarm_path=outcome.prewarm_path or None,
            until_stable=None
            if until_stable is None
            else {
                **until_stable.to_json(),
                "stopped": outcome.stable,
                "judged_on": outcome.stable_at,  # measured inferences the stop was decided on
                "measured": int(max(0, c.records["done_ns"].size - c.warmup)),
            },
        )
        if self.sampler is not None and c.count:
            c.telemetry = self.sampler.window(int(c.records["issue_ns"][0]), int(c.records["done_ns"][-1]))
        if self.host_sampler is not None and c.count:
            c.telemetry.update(self.host_sampler.window(int(c.records["issue_ns"][0]), int(c.records["done_ns"][-1])))
            c.stats = replace(
                c.stats, host_cpu=host_cpu.condition_summary(c.telemetry, idle_before, idle_after, c.wall_ns())
            )
        # done: every planned inference ran, or --until-stable ended it on purpose (stats.until_stable)
        c.status = "done" if c.count == c.warmup + c.iterations or outcome.stable else "partial"
        self.result.conditions.append(c)
        if self.writer:
            self.writer.finish(index, c)
        if progress:
            progress.condition_finished(c)
