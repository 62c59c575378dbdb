"""The API an application embeds to keep its own loop fast: KeepWarm and Pacer."""

from __future__ import annotations

import atexit
import contextlib
import math
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from trtpace import _core
from trtpace.embed import metrics as metrics_mod
from trtpace.errors import TrtpaceError, UsageError, WaitTimeoutError
from trtpace.measure import pacing as pacing_mod
from trtpace.measure import workloads
from trtpace.measure.gap_work import GapWork, parse_gap_work
from trtpace.measure.policies import ARMED_GATES, ARMED_SYNC, DEFAULT_FILLER_US, Policy
from trtpace.measure.runner import run_paced
from trtpace.platform import device
from trtpace.results import ConditionResult, RunStats


class KeepWarm:
    """Keeps the GPU and its driver path warm from a background C++ thread.

        with trtpace.KeepWarm(period_ms=1, work_us=5, gpu=0) as kw:
            while True:
                frame = camera.read()           # the gap
                with kw.inference():            # steps aside while the app's own work runs
                    run_model(frame)

    Every period it launches work_us of filler (one block, timed on the GPU clock) on the
    lowest-priority stream of the device, and never queues a new filler behind a running one.
    A failure on the thread (a CUDA error) ends it: `running` turns False and the next `pause()`,
    `resume()`, `start()` or `stop()` (so also leaving the `with` block) raises it, once.

    `on_inference(record)` is called once for each `inference()` body that ends without an
    exception, on the thread that leaves it, after keep-warm has resumed: the record (a dict) has
    issue_ns (pause() returned) and done_ns (the body ended), monotonic ns. An exception it raises
    comes out of the `with kw.inference()` block. `metrics=True` reports to the default
    trtpace.metrics (or pass a trtpace.metrics.Metrics): the body's time as trtpace_e2e_seconds
    and the fillers fired, labelled workload="keepwarm" and the GPU.
    """

    def __init__(
        self,
        period_ms: float = 1.0,
        work_us: float = DEFAULT_FILLER_US,
        gpu: int = 0,
        *,
        on_inference: Callable[[dict[str, int]], None] | None = None,
        metrics: bool | metrics_mod.Metrics = False,
    ):
        if (
            not (math.isfinite(period_ms) and math.isfinite(work_us))
            or not period_ms > 0
            or not 0 <= work_us < period_ms * 1e3
        ):
            raise UsageError("KeepWarm needs a finite period_ms > 0 and 0 <= work_us < the period")
        registry = metrics_mod.resolve(metrics)  # before the GPU: a missing prometheus_client says so first
        device.require_gpu(gpu)
        self._thread = _core.KeepWarmThread(gpu, round(period_ms * 1e6), round(work_us * 1e3))
        self.on_inference = on_inference
        self._metrics = registry.bind("keepwarm", gpu) if registry is not None else None
        if self._metrics is not None:
            self._metrics.watch_fires(self, self._thread)

    def start(self) -> KeepWarm:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops the thread and waits for the last filler; safe to call twice. Raises the
        thread's failure if it ended on one that was not raised yet."""
        self._thread.stop()

    def pause(self) -> None:
        """Steps aside: returns once no filler launch is in flight, and none starts until resume()."""
        self._thread.pause()

    def resume(self) -> None:
        self._thread.resume()

    @contextmanager
    def inference(self) -> Iterator[None]:
        """Pauses keep-warm for the body (the app's own inference); on_inference below."""
        self.pause()
        issue = _core.now_ns()
        try:
            yield
            done = _core.now_ns()
        finally:
            self.resume()
        if self._metrics is not None or self.on_inference is not None:
            record = {"issue_ns": issue, "done_ns": done}
            if self._metrics is not None:
                self._metrics.inference(record)
            if self.on_inference is not None:
                self.on_inference(record)

    @property
    def running(self) -> bool:
        return bool(self._thread.running)

    @property
    def fired(self) -> int:
        return int(self._thread.fired)

    def __enter__(self) -> KeepWarm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Kernel gate: how long an arm waits for its release before the gate lets go by itself. An app
# whose thread blocks while armed (a device-wide synchronize, a first launch of a kernel not yet
# loaded) is then held this long at most, not for ever; the release after such a timeout runs
# the inference again on the released input (`relaunched` in its record).
DEFAULT_ARM_TIMEOUT_MS = 10_000.0
DEFAULT_WAIT_TIMEOUT_S = 10.0

# Pacers still open: cancelled at interpreter exit, so no gate is left spinning while the CUDA
# runtime tears the context down.
_open_pacers: weakref.WeakSet[Pacer] = weakref.WeakSet()


@atexit.register
def _cancel_open_pacers() -> None:
    for pacer in list(_open_pacers):
        with contextlib.suppress(Exception):  # exiting: nothing left to report to
            pacer.cancel()


class InferenceRecord(Mapping[str, Any]):
    """One inference's record, read like a dict: armed_ns, issue_ns, submitted_ns, done_ns (the
    monotonic clock), device_us, relaunched, and copy_in_us/copy_out_us where the copies are timed
    apart (NaN otherwise). Where the time between release and done went: gate_gt_ns (the gate saw
    the release) and done_gt_ns (the done word was written) on the GPU's %globaltimer, 0 where
    there is none (map them to the monotonic clock with Pacer.gpu_clock_offset()), and
    wait_driver_calls / wait_driver_us, the driver calls of the completion wait.

    wait() and infer() return it the moment the output is on the host: the device times come
    from the GPU's events, read on first access of one of them or by the Pacer before its next
    inference (during the gap), because after a gap the first driver call costs tens of us and
    would otherwise sit between the output and the app.
    """

    _LAZY = (
        "device_us",
        "copy_in_us",
        "copy_out_us",
        "gate_gt_ns",
        "done_gt_ns",
        "wait_driver_calls",
        "wait_driver_us",
    )

    __slots__ = ("_device", "_raw", "_times")

    def __init__(self, times: dict[str, Any] | None, device: Any = None, raw: tuple[int, Any] | None = None):
        # device: the CudaWorkload whose last inference this is, its device times read on demand;
        # raw: (armed_ns, (issue_ns, submitted_ns, done_ns, relaunched)) from the armed fast path,
        # made into the dict on first read (not between the output and the app).
        self._times: dict[str, Any] = {} if times is None else times
        self._device = device
        self._raw = raw

    def _stamped(self) -> dict[str, Any]:
        if self._raw is not None:
            armed_ns, (issue, submitted, done, relaunched) = self._raw
            self._raw = None
            self._times.update(
                armed_ns=armed_ns, issue_ns=issue, submitted_ns=submitted, done_ns=done, relaunched=bool(relaunched)
            )
        return self._times

    def resolve(self) -> None:
        times = self._stamped()
        if self._device is not None:
            core, self._device = self._device, None
            times.update(_device_times(core))

    def __getitem__(self, key: str) -> Any:
        if key in self._LAZY:
            self.resolve()
        return self._stamped()[key]

    def __iter__(self) -> Iterator[str]:
        self.resolve()
        return iter(self._times)

    def __len__(self) -> int:
        self.resolve()
        return len(self._times)

    def __repr__(self) -> str:
        self.resolve()
        return f"InferenceRecord({self._times!r})"


def _seconds_to_ns(value: Any, name: str) -> int:
    """A timeout in s, checked (a finite number > 0: else UsageError), in ns."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise UsageError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return max(1, round(value * 1e9))


def _device_times(core: Any) -> dict[str, float]:
    """The last inference's device-side times: its events (a driver call) and mapped-memory stamps."""
    copies = core.last_copies_us()
    c_in, c_out = copies if copies is not None else (math.nan, math.nan)
    stamps = core.last_stamps()
    return {
        "device_us": float(core.last_device_us()),
        "copy_in_us": c_in,
        "copy_out_us": c_out,
        "gate_gt_ns": int(stamps["gate_gt_ns"]),
        "done_gt_ns": int(stamps["done_gt_ns"]),
        "wait_driver_calls": int(stamps["wait_driver_calls"]),
        "wait_driver_us": stamps["wait_driver_ns"] / 1e3,
    }


def _as_workload(work: Any, gpu: int) -> workloads.Workload:
    if isinstance(work, workloads.Workload):
        return work
    if isinstance(work, int):
        return workloads.from_graph_exec(work, gpu=gpu)
    if callable(work):
        return workloads.from_callable(work, gpu=gpu)
    raise UsageError("Pacer takes a trtpace workload, a cudaGraphExec_t handle (int) or a callable(stream)")


class Pacer:
    """Runs an app's inference with trtpace's wait, sync and pre-warm policy.

    `run()` paces a whole loop and returns the same per-inference records as the runner. For an
    app that drives its own loop, `expect(next_due_ns)` announces the next frame (pre-warm then
    fires prewarm_lead_ms before it, from one C++ worker thread) and `infer()` runs one inference
    now. `run()` and `infer()` first cancel a pre-warm not yet fired and wait for one in flight, so
    pre-warm never overlaps the inference. A pre-warm failure is raised by the next call.

    Armed launch (`armed="kernel"` or `"wait"`): `arm()` queues the next inference on the GPU
    behind a gate while the app waits for its input; when the input is staged (written where the
    armed work reads it, e.g. a pinned buffer the graph copies in), `release()` is one store and the
    whole critical path; `wait()` returns the inference's record. `cancel()` ends an armed
    inference whose input never came (skipped with `armed_cancellable=True`, else run and
    discarded); leaving the `with` block, an exception, `close()` or garbage collection cancel too.
    An armed Pacer waits with sync "flag" unless `sync` says otherwise: `wait()` then spins on a
    word the GPU writes behind the inference and makes no driver call.

    `armed="resident"` arms once for the Pacer's lifetime: one graph, launched at the first
    `arm()`, loops on the GPU running the model once per release, so later `arm()` calls launch
    nothing and `release()`/`wait()` are a store and a poll. While it runs it holds one thread
    block on one SM and the workload's stream; `cancel()`, `close()` or `arm_timeout_ms` without a
    release (default 10 s) end it, and the next `arm()` launches it again. Where the model is no
    CUDA graph (or the GPU has no conditional graph nodes) it arms per frame with the kernel gate,
    and `resident_fallback` says why.

    Nothing waits without bound: `wait()` and `infer()` give up after `wait_timeout_s` (or
    `wait(timeout=...)`) with WaitTimeoutError naming what they waited for, and the kernel gate lets
    go by itself after `arm_timeout_ms` (default 10 s; 0: never); a release after that runs the
    inference again, plainly, on the released input. Where the workload has a host I/O surface
    (`from_torch(..., io="pinned")`, graph path), `inputs` and `outputs` are its pinned host
    tensors: write the preprocessed input into `inputs[...]` and read `outputs[...]` after `wait()`.

    `on_inference(record)` is called once per inference with its complete InferenceRecord (device
    times read), on the thread that calls the Pacer, never inside an inference's timed span: the
    Pacer completes a record before its next inference, so the call for one infer()/wait() comes at
    the start of the next infer(), arm() or run() (before its issue stamp; an unarmed infer() is
    thus issued the callback's own run time later), or in close(); run() calls it for each of its
    records, warm-up included, in order, after the loop. An exception it raises comes out of the
    call that ran it: before that call's own inference (infer(), arm(), run()), after closing
    (close()), or from run() after its loop, the rest of its records not offered and its result
    lost; a record is never offered twice. `metrics=True` also reports every inference and event to
    the default trtpace.metrics (trtpace.embed.metrics; or pass a trtpace.metrics.Metrics): the
    exporter observes each record just before on_inference, and counts releases and timeouts
    after the wait ends, cancels when made.
    """

    # Long because every option is validated here, before anything is created on the GPU.
    def __init__(
        self,
        work: Any,
        *,
        gpu: int = 0,
        wait: str = "hybrid",
        sync: str | None = None,
        prewarm_lead_ms: float = 0.0,
        prewarm_target: str = "graph",
        prewarm_work_us: float = DEFAULT_FILLER_US,
        keepwarm_period_ms: float = 0.0,
        keepwarm_work_us: float = DEFAULT_FILLER_US,
        armed: str | None = None,
        armed_cancellable: bool = False,
        arm_timeout_ms: float | None = None,
        wait_timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
        on_inference: Callable[[InferenceRecord], None] | None = None,
        metrics: bool | metrics_mod.Metrics = False,
    ):
        """prewarm_target: 'graph' (cudaGraphUpload of the inference's own graph: the best remedy
        measured on an H100), 'stream' (filler on its stream) or 'filler' (filler on a
        low-priority stream). A workload without a graph falls back to 'filler'."""
        if sync is None:  # armed: wait on the GPU's word (no driver call after the gap); else poll the stream
            sync = ARMED_SYNC if armed is not None else "spin"
        if sync not in _core.SYNC_MODES:
            raise UsageError(f"sync must be one of {', '.join(_core.SYNC_MODES)}, got {sync!r}")
        if prewarm_target not in _core.PREWARM_TARGETS:
            choices = ", ".join(_core.PREWARM_TARGETS)
            raise UsageError(f"prewarm_target must be one of {choices}, got {prewarm_target!r}")
        if arm_timeout_ms is None:
            arm_timeout_ms = DEFAULT_ARM_TIMEOUT_MS if armed in ("kernel", "resident") else 0.0
        for name, value in (
            ("prewarm_lead_ms", prewarm_lead_ms),
            ("prewarm_work_us", prewarm_work_us),
            ("keepwarm_period_ms", keepwarm_period_ms),
            ("keepwarm_work_us", keepwarm_work_us),
            ("arm_timeout_ms", arm_timeout_ms),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise UsageError(f"{name} must be a finite number >= 0, got {value!r}")
        self.wait_timeout_s = wait_timeout_s
        registry = metrics_mod.resolve(metrics)
        self.on_inference = on_inference
        self.workload = _as_workload(work, gpu)
        self._metrics = registry.bind(self.workload.name, self.workload.device) if registry is not None else None
        self._uncounted_release = False  # a release not yet counted by the metrics
        self.policy = Policy(
            name="pacer",
            wait=wait,
            sync=sync,
            prewarm_lead_ms=prewarm_lead_ms,
            prewarm_work_us=prewarm_work_us if prewarm_lead_ms else 0.0,
            prewarm_target=prewarm_target,
            keepwarm_period_ms=keepwarm_period_ms,
            keepwarm_work_us=keepwarm_work_us if keepwarm_period_ms else 0.0,
            armed_gate=armed,
            armed_cancellable=armed_cancellable,
            arm_timeout_ms=arm_timeout_ms,
        )
        self._armed_ns = 0
        self._last: InferenceRecord | None = None  # its device times are read before the next inference
        # The armed release and wait as plain C functions (bind_fast_path.cpp): after a gap a
        # pybind11 call costs microseconds more than a builtin, and these sit between the app's
        # input and its output. None where the Pacer was made without armed=.
        self._fast: tuple[Callable[[], int], Callable[[int], Any], Callable[[int], Any], Callable[[], bool]] | None = (
            None
        )
        if armed is not None:
            if armed not in ARMED_GATES:
                raise UsageError(f"armed must be one of {', '.join(ARMED_GATES)}, got {armed!r}")
            if armed == "resident" and armed_cancellable:
                raise UsageError("armed='resident' has no cancellable form: the loop runs nothing until released")
            _core.check_remedy_combination(True, round(prewarm_lead_ms * 1e6))
            if not isinstance(self.workload.core, _core.CudaWorkload):
                raise UsageError(f"{self.workload.name} cannot be armed: armed launch needs a GPU workload")
            if arm_timeout_ms and armed == "wait":
                raise UsageError("arm_timeout_ms needs the kernel gate (a stream wait cannot time out on the GPU)")
            self.workload.core.set_sync(sync)  # before arming: sync "flag" queues its word behind each arm
            self.workload.core.enable_arming(armed, armed_cancellable, round(arm_timeout_ms * 1e6))
            self._fast = _core.armed_fast_path(self.workload.core)
        self._prewarm: _core.PrewarmWorker | None = None
        if prewarm_lead_ms > 0:
            if self.workload.device < 0:
                raise UsageError("pre-warm needs a GPU workload")
            self._prewarm = _core.PrewarmWorker(self.workload.core, prewarm_target, round(prewarm_work_us * 1e3), wait)
            if self._metrics is not None:
                self._metrics.watch_fires(self, self._prewarm)
        self._closed = False
        _open_pacers.add(self)

    @property
    def inputs(self) -> dict[str, Any]:
        """The workload's pinned host inputs by name (input0, ...), which each inference copies in
        at its start: write the preprocessed input here, before release() or infer(). Empty where
        the workload has no host I/O surface."""
        return self.workload.host_inputs

    @property
    def outputs(self) -> dict[str, Any]:
        """The workload's pinned host outputs by name (output0, ...), written by each inference
        before it completes: read them after wait() or infer()."""
        return self.workload.host_outputs

    @property
    def wait_timeout_s(self) -> float:
        """How long wait() and infer() wait at most where their timeout is not given. Units: s."""
        return self._wait_timeout_s

    @wait_timeout_s.setter
    def wait_timeout_s(self, value: float) -> None:
        self._wait_timeout_ns = _seconds_to_ns(value, "wait_timeout_s")  # read by every wait: converted once
        self._wait_timeout_s = float(value)

    def _timeout_ns(self, timeout: float | None) -> int:
        return self._wait_timeout_ns if timeout is None else _seconds_to_ns(timeout, "timeout")

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("this Pacer is closed")

    def _settle_prewarm(self) -> None:
        """Cancels a pre-warm not yet fired and waits for one in flight: the workload's stream is
        the caller's again. Raises a pre-warm failure not yet raised."""
        if self._prewarm is not None:
            self._prewarm.cancel()

    def run(
        self,
        iterations: int,
        gap_s: float | None = None,
        *,
        schedule: pacing_mod.Pacing | None = None,
        warmup: int = 0,
        on_progress: Callable[[int, int], None] | None = None,
        gap_work: str | GapWork | None = None,
    ) -> ConditionResult:
        """Runs `iterations` inferences (after `warmup`), closed loop with gap_s or on `schedule`.
        `gap_work` ('busy:2ms', 'memory:64MB', 'jpeg:1280x720'; trtpace.measure.gap_work) is
        what the app does in each gap, ending when the inference is issued."""
        self._check_open()
        if (gap_s is None) == (schedule is None):
            raise UsageError("Pacer.run needs exactly one of gap_s or schedule")
        p = pacing_mod.gap(gap_s) if gap_s is not None else schedule
        assert p is not None
        work = gap_work if isinstance(gap_work, GapWork) else parse_gap_work(gap_work)
        self._settle_prewarm()
        self._resolve_last()
        out = run_paced(
            self.workload,
            p,
            iterations=iterations,
            warmup=warmup,
            wait=self.policy.wait,
            sync=self.policy.sync,
            policy=self.policy,
            on_progress=on_progress,
            gap_work=work,
        )
        if self._metrics is not None and out.fillers_fired:
            self._metrics.fires(out.fillers_fired)
        if out.error is not None:
            raise out.error
        if self._metrics is not None or self.on_inference is not None:
            columns = list(out.records)
            for row in zip(*(out.records[k].tolist() for k in columns), strict=True):
                self._deliver(InferenceRecord(dict(zip(columns, row, strict=True)), None))
        return ConditionResult(
            self.workload.name,
            p,
            self.policy.wait,
            self.policy.sync,
            warmup,
            iterations,
            out.records,
            status="partial" if out.interrupted else "done",
            device_timing=self.workload.device_timing,
            policy=self.policy.name,
            stats=RunStats(cpu_ns=out.cpu_ns),
            gap_work_recorded=work.to_json(),
        )

    def expect(self, next_due_ns: int) -> None:
        """Announces the next inference's due time (monotonic ns); pre-warm fires lead_ms before it,
        replacing a pre-warm announced earlier and not yet fired."""
        self._check_open()
        if self._prewarm is None:
            return
        self._prewarm.schedule(int(next_due_ns) - round(self.policy.prewarm_lead_ms * 1e6))

    def infer(self, timeout: float | None = None) -> InferenceRecord:
        """Runs one inference now: issue_ns, submitted_ns, done_ns (monotonic) and device_us
        (InferenceRecord). Gives up after `timeout` s (default: wait_timeout_s) with WaitTimeoutError."""
        fast = self._fast
        if fast is not None and fast[3]():
            # Armed (during the gap) and open (close() drops the fast path): release and wait in
            # one C call, with as little Python before it as can be (it is cold after a gap).
            self._uncounted_release = True
            return self._armed_record(fast[2], timeout)
        self._check_open()
        self._settle_prewarm()
        core = self.workload.core
        if fast is not None:  # armed launch, nothing armed yet: arm now, on the critical path
            self.arm()
            self._uncounted_release = True
            return self._armed_record(fast[2], timeout)
        self._resolve_last()
        gpu = isinstance(core, _core.CudaWorkload)
        try:
            times = dict(_core.infer_once(core, self.policy.sync, self._timeout_ns(timeout), not gpu))
        except WaitTimeoutError:
            self._count("timeout")
            raise
        self._last = InferenceRecord(times, core if gpu else None)
        return self._last

    def _resolve_last(self) -> None:
        """Completes the last record (its device times) and hands it to on_inference and metrics."""
        self._count_release()
        if self._last is not None:
            last, self._last = self._last, None
            last.resolve()
            self._deliver(last)

    def _deliver(self, record: InferenceRecord) -> None:
        if self._metrics is not None:
            self._metrics.inference(record)
        if self.on_inference is not None:
            self.on_inference(record)

    def _count(self, event: str) -> None:
        if self._metrics is not None:
            self._metrics.count(event)

    def _count_release(self) -> None:
        """Counts the last release once, after its done stamp: in the gap before the next inference,
        never between the release and the app getting its output."""
        if self._uncounted_release:
            self._uncounted_release = False
            self._count("release")

    def arm(self) -> None:
        """Queues the next inference behind the gate; the launch cost is paid now, during the gap."""
        core = self._arming()
        self._resolve_last()  # the last record's events are re-recorded by the next inference
        core.arm()
        self._armed_ns = _core.now_ns()

    def release(self) -> int:
        """The input is staged: opens the gate with one store. Returns the issue time (monotonic ns).
        Where nothing comes between release() and wait(), infer() does both in one call, faster."""
        fast = self._fast
        if fast is None:
            raise self._not_armed()
        issue = fast[0]()
        self._uncounted_release = True
        return issue

    def wait(self, timeout: float | None = None) -> InferenceRecord:
        """Waits for the released inference and returns its record (InferenceRecord): armed_ns,
        issue_ns, submitted_ns, done_ns, device_us, relaunched (its gate had let go by itself before
        the release, so it ran again, plainly). Returns with no driver call after the wait. Gives up
        after `timeout` s (default: wait_timeout_s) with WaitTimeoutError, which says whether the
        inference was never released or the GPU has not finished it."""
        fast = self._fast
        if fast is None:
            raise self._not_armed()
        return self._armed_record(fast[1], timeout)

    def _armed_record(self, wait: Callable[[int], Any], timeout: float | None) -> InferenceRecord:
        """wait (the fast wait or release-and-wait) and the record; as little as can be between the
        output's arrival and the app: the record's dict, device times and metrics come later."""
        try:
            stamps = wait(self._timeout_ns(timeout))
        except WaitTimeoutError:
            self._count_release()
            self._count("timeout")
            raise
        self._last = record = InferenceRecord(None, self.workload.core, (self._armed_ns, stamps))
        return record

    def gpu_clock_offset(self) -> dict[str, int]:
        """The GPU's %globaltimer minus the monotonic clock, measured now by a ping-pong through
        mapped memory: offset_ns, uncertainty_ns, host_ns (when). A record's gate_gt_ns - offset_ns
        is on the monotonic clock. The clocks drift apart by microseconds a second: measure before and
        after a run and interpolate. Not while armed (a spinning kernel gate would skew it)."""
        self._check_open()
        core = self.workload.core
        if not isinstance(core, _core.CudaWorkload):
            raise TrtpaceError(f"{self.workload.name} runs on the host: it has no GPU clock")
        if core.armed:
            raise TrtpaceError("gpu_clock_offset() while armed: release() or cancel() first")
        return {k: int(v) for k, v in _core.sync_globaltimer(core.device, 16).items()}

    def cancel(self) -> None:
        """Ends an armed inference without an input; harmless when nothing is armed."""
        core = self.workload.core
        if isinstance(core, _core.CudaWorkload) and core.arming_enabled:
            armed = core.armed
            core.cancel()
            if armed:
                self._count("cancel")

    @property
    def resident_fallback(self) -> str:
        """Why Pacer(armed='resident') arms per frame instead (the model is no CUDA graph, or the GPU
        has no conditional graph nodes); '' where the resident loop runs, or it was not asked for."""
        core = self.workload.core
        return str(core.resident_fallback_why) if isinstance(core, _core.CudaWorkload) else ""

    @property
    def armed(self) -> bool:
        core = self.workload.core
        return bool(isinstance(core, _core.CudaWorkload) and core.armed)

    def _arming(self) -> _core.CudaWorkload:
        core = self.workload.core
        if not (isinstance(core, _core.CudaWorkload) and core.arming_enabled):
            raise self._not_armed()
        return core

    def _not_armed(self) -> UsageError:
        if self._closed:
            return UsageError("this Pacer is closed")
        return UsageError("this Pacer was made without armed=...: Pacer(work, armed='kernel') arms")

    @property
    def prewarms_fired(self) -> int:
        """Pre-warms fired since the Pacer was made (expect() only; run() counts its own)."""
        return int(self._prewarm.fired) if self._prewarm is not None else 0

    def close(self) -> None:
        """Ends the pre-warm thread and waits for its last filler; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        _open_pacers.discard(self)
        self._fast = None  # release(), wait() and infer() now say it is closed
        try:
            last, self._last = self._last, None
            if last is not None:
                last.resolve()  # before the cancel: its events are re-recorded by any later inference
        finally:
            if self._prewarm is not None:
                self._prewarm.close()
            self.cancel()
        self._count_release()
        if last is not None:
            self._deliver(last)

    def __enter__(self) -> Pacer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
