"""Runs one paced condition on a worker thread, so that Ctrl-C stops it cleanly.

The C++ loop runs without the GIL on a worker thread; the calling thread only waits, reports
progress, and turns KeyboardInterrupt into Runner.request_stop(). The loop then ends after the
inference in flight, and every completed record is kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trtpace import _core
from trtpace.errors import UsageError
from trtpace.measure.gap_work import NONE as NO_GAP_WORK
from trtpace.measure.gap_work import GapWork
from trtpace.measure.pacing import Pacing
from trtpace.measure.policies import Policy
from trtpace.measure.records import columns
from trtpace.measure.stability import StableTarget, is_stable
from trtpace.measure.workloads import Workload

WAIT_MODES: tuple[str, ...] = tuple(_core.WAIT_MODES)  # the C++ name tables, the only lists
SYNC_MODES: tuple[str, ...] = tuple(_core.SYNC_MODES)
_POLL_S = 0.1
_STABLE_CHECK_S = 0.5


def make_runner(
    core: _core.Workload,
    schedule: _core.Schedule,
    iterations: int,
    warmup: int = 0,
    wait: str = "hybrid",
    sync: str = "spin",
    **options: Any,
) -> _core.Runner:
    """A paced runner over `core`: the C++ RunConfig with these fields set (its docstring names
    them: keepwarm_*, prewarm_*, armed_gate, nvtx, gap_work, staging, ...); the Runner validates
    them all, so a bad value is a UsageError naming it."""
    config = _core.RunConfig()
    config.schedule, config.iterations, config.warmup, config.wait, config.sync = (
        schedule,
        iterations,
        warmup,
        wait,
        sync,
    )
    for name, value in options.items():
        if name.startswith("_") or not hasattr(config, name):
            raise UsageError(f"unknown run option {name!r}")
        setattr(config, name, value)
    return _core.Runner(core, config)


@dataclass
class RunOutcome:
    records: dict[str, np.ndarray]
    interrupted: KeyboardInterrupt | None  # Ctrl-C or a signal turned into one; None when not interrupted
    error: BaseException | None
    hybrid_margin_ns: int
    cpu_ns: int
    fillers_fired: int
    filler_work_ns: int
    # where the pre-warm went: its target, 'filler' where the workload has no such path, '' without one
    prewarm_path: str = ""
    # --until-stable: the run ended early because its quantiles were known to the target
    stable: bool = False
    # ... judged on this many measured inferences; the loop runs on while it judges (a copy and
    # a sort), so the records hold these and the few completed after them
    stable_at: int = 0


def run_paced(
    workload: Workload,
    pacing: Pacing,
    *,
    iterations: int,
    warmup: int,
    wait: str,
    sync: str,
    on_progress: Callable[[int, int], None] | None = None,
    policy: Policy | None = None,
    nvtx: str | None = None,
    gap_work: GapWork = NO_GAP_WORK,
    until_stable: StableTarget | None = None,
) -> RunOutcome:
    """Runs warmup + iterations inferences of `workload` paced by `pacing`; never raises for
    Ctrl-C or a failing inference: both end the run and come back in the outcome. `nvtx`, when
    given, names the run's NVTX range (and turns on one range per inference, for Nsight Systems).
    `gap_work` runs at the end of each gap (measure.gap_work); a workload with `staging` has its
    input written after each gap, on the critical path. `until_stable`: the run ends (as done, not
    partial) once the measured inferences' quantiles meet the target (measure.stability), checked
    every half second on this thread; `iterations` is then the cap."""
    total = warmup + iterations
    remedies = policy.runner_kwargs() if policy is not None else {}
    if nvtx is not None:
        remedies.update(nvtx=True, nvtx_name=nvtx)
    if gap_work.active:
        remedies["gap_work"] = gap_work.to_core()
    if workload.staging:
        remedies["staging"] = list(workload.staging)
    runner = make_runner(workload.core, pacing.to_core(total), iterations, warmup, wait, sync, **remedies)
    failure: list[BaseException] = []
    finished = threading.Event()

    def target() -> None:
        try:
            runner.run()
        except BaseException as e:  # noqa: BLE001 - handed to the calling thread, which re-raises it
            failure.append(e)
        finally:
            finished.set()

    thread = threading.Thread(target=target, name="trtpace-runner", daemon=True)
    interrupted: KeyboardInterrupt | None = None
    thread.start()
    # The loop's end is read from an Event flag polled between sleeps, never from Thread.join or
    # is_alive: on CPython 3.10-3.12 a KeyboardInterrupt inside join() can leave the thread marked
    # finished while it still runs, and returning then loses the records in flight (and lets the
    # process exit under a running C++ loop). A Ctrl-C asks the loop to stop; more Ctrl-Cs while
    # it winds down (after the inference in flight, or within 50 ms of a gap) change nothing.
    stable_at = 0  # measured inferences --until-stable judged stable; 0: not (yet)
    next_check = time.monotonic() + _STABLE_CHECK_S
    while not finished.is_set():
        try:
            finished.wait(_POLL_S)
            if on_progress:
                on_progress(runner.completed, total)
            if until_stable is not None and not stable_at and time.monotonic() >= next_check:
                next_check = time.monotonic() + _STABLE_CHECK_S
                stable_at = _judged_stable(runner, warmup, until_stable)
        except KeyboardInterrupt as e:
            interrupted = interrupted or e
            runner.request_stop()
    with contextlib.suppress(KeyboardInterrupt):  # the thread has left the loop: its join is immediate
        thread.join()
    if on_progress:
        on_progress(runner.completed, total)
    return RunOutcome(
        records=columns(runner.records()),
        interrupted=interrupted,
        error=failure[0] if failure else None,
        hybrid_margin_ns=runner.hybrid_margin_ns,
        cpu_ns=runner.cpu_ns,
        fillers_fired=runner.fillers_fired,
        filler_work_ns=runner.filler_work_ns,
        prewarm_path=runner.prewarm_path,
        stable=bool(stable_at) and interrupted is None,
        stable_at=stable_at if interrupted is None else 0,
    )


def _judged_stable(runner: _core.Runner, warmup: int, target: StableTarget) -> int:
    """The measured inferences so far when they meet `target` (and the run is asked to stop, after
    the inference in flight: every row is whole); 0 while they do not."""
    seen = runner.latencies_ns(warmup)
    if not is_stable(seen, target):
        return 0
    runner.request_stop()
    return int(seen.size)


_CHOICE_GAP_NS = 20_000_000
_CHOICE_RUNS = 20


def resolve_armed_gate(workload: Workload, policy: Policy) -> tuple[Policy, str | None]:
    """A policy with plain `armed` gets the faster gate for this workload on this GPU, measured once
    per workload (kept on it): the median e2e of 20 armed inferences at 20 ms gaps with each gate
    (the stream wait where the driver supports it). `armed:resident` on a workload that cannot run
    the loop runs the per-frame kernel gate, and the line says why. Returns the policy to run and a
    line saying the choice."""
    if policy.armed_gate == "resident":
        why = workload.core.resident_unavailable_why if isinstance(workload.core, _core.CudaWorkload) else ""
        if not why:
            return policy, None
        return dataclasses.replace(policy, armed_gate="kernel"), f"armed:resident ran per frame (kernel gate): {why}"
    if policy.armed_gate != "auto":
        return policy, None
    if workload.armed_choice is None:
        supported, why = _core.stream_wait_supported(workload.device)
        gates = ["kernel", "wait"] if supported else ["kernel"]
        p50 = {}
        for gate in gates:
            r = make_runner(
                workload.core,
                _core.Schedule.closed_gap(_CHOICE_GAP_NS),
                _CHOICE_RUNS,
                2,
                "hybrid",
                policy.sync,
                armed_gate=gate,
                armed_cancellable=policy.armed_cancellable,
            )
            r.run()
            rec = r.records()
            e2e = (rec["done_ns"][2:] - rec["issue_ns"][2:]) / 1e3
            p50[gate] = float(np.median(e2e))
        best = min(p50, key=lambda g: p50[g])
        said = ", ".join(f"{g} {v:.1f} us" for g, v in p50.items())
        line = f"armed: the {best} gate (median e2e at 20 ms gaps: {said})" + ("" if supported else f"; wait: {why}")
        workload.armed_choice = (best, line)
    gate, line = workload.armed_choice
    return dataclasses.replace(policy, armed_gate=gate), line
