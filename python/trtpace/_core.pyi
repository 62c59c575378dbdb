"""
trtpace's compiled core: waits, schedules, workloads and the paced runner (private; use trtpace).
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.dtypes
import numpy.typing
import typing
import typing_extensions
__all__: list[str] = ['CallableWorkload', 'CaptureError', 'CapturedGraph', 'CudaError', 'CudaWorkload', 'DeviceBuffer', 'DeviceScope', 'Filler', 'GapWork', 'GraphExecWorkload', 'GraphWorkload', 'HostWorkload', 'KeepWarmThread', 'LAUNCH_MODES', 'MAX_HORIZON_NS', 'MAX_HYBRID_MARGIN_NS', 'MAX_INFERENCES', 'PREWARM_TARGETS', 'PrewarmWorker', 'RECORD_COLUMNS', 'RECORD_DTYPE', 'RECORD_UNITS', 'RunConfig', 'Runner', 'SYNC_MODES', 'Schedule', 'SyntheticWorkload', 'TrtpaceError', 'UsageError', 'WAIT_MODES', 'WaitTimeoutError', 'Workload', 'armed_fast_path', 'calibrate_hybrid_margin_ns', 'calibrate_synthetic', 'capture_graph', 'check_remedy_combination', 'continuous_device_us', 'decide_features', 'default_hybrid_margin_ns', 'device_info', 'features', 'globaltimer_resolution_ns', 'infer_once', 'load_kernels', 'module_loading_mode', 'now_ns', 'probe_cuda', 'probe_waits', 'stream_wait_supported', 'sync_globaltimer', 'wait_until_ns']
class TrtpaceError(Exception):
    """
    Base of every error trtpace raises on purpose (trtpace.errors documents the tree).
    """
class CudaError(TrtpaceError):
    pass
class CaptureError(TrtpaceError):
    pass
class WaitTimeoutError(TrtpaceError):
    pass
class UsageError(TrtpaceError, ValueError):
    """
    An argument is malformed or out of range (exit code 2 on the command line).
    """
class Schedule:
    """
    When each inference is due: closed-loop gap or open-loop due times (at most 10 years out).
    """
    @staticmethod
    def closed_gap(gap_ns: typing.SupportsInt | typing.SupportsIndex) -> Schedule:
        """
        Idle gap_ns from observed completion to the next issue. Units: ns.
        """
    @staticmethod
    def periodic(period_ns: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex) -> Schedule:
        """
        Inference i due at t0 + i * period_ns. Units: ns.
        """
    @staticmethod
    def poisson(rate_hz: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex) -> Schedule:
        """
        Poisson arrivals at rate_hz, reproducible from seed; the first is due at t0.
        """
    @staticmethod
    def trace(offsets_ns: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> Schedule:
        """
        Inference i due at t0 + offsets_ns[i] (non-negative, non-decreasing). Units: ns.
        """
    def __repr__(self) -> str:
        ...
    def due_ns(self, i: typing.SupportsInt | typing.SupportsIndex, t0_ns: typing.SupportsInt | typing.SupportsIndex, prev_done_ns: typing.SupportsInt | typing.SupportsIndex) -> int:
        """
        Due time of inference i given the run's start and the previous completion. Units: ns.
        """
    @property
    def gap_ns(self) -> int:
        ...
    @property
    def offsets_ns(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def open_loop(self) -> bool:
        ...
class Workload:
    """
    One inference, as the paced runner drives it.
    """
    def describe(self) -> str:
        ...
    def prewarm_own_path(self, work_ns: typing.SupportsInt | typing.SupportsIndex, graph_upload: bool) -> bool:
        """
        Pre-warm: work_ns of filler on this workload's stream, or cudaGraphUpload of its graph.
        Returns False where the workload has no such path.
        """
    @property
    def device(self) -> int:
        """
        CUDA device ordinal, or -1 for a host workload.
        """
    @property
    def device_timing(self) -> str:
        """
        How device_us is measured: 'graph-event-nodes', 'stream-events', 'host' or
        'resident-globaltimer' (the resident loop's GPU stamps, release seen to done).
        """
    @property
    def has_probe(self) -> bool:
        """
        Whether launches carry the in-band clock probe.
        """
class CudaWorkload(Workload):
    def arm(self) -> None:
        """
        Queues the next inference behind the gate (the launch cost is paid now, off the critical path).
        """
    def cancel(self) -> None:
        """
        Ends an armed inference (skipped when cancellable, else run and discarded) and waits for the stream;
        harmless when nothing is armed.
        """
    def enable_arming(self, gate: str = 'kernel', cancellable: bool = False, timeout_ns: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        """
        Prepares armed launch: gate 'wait' (stream wait on a host flag), 'kernel' (a polling one-thread kernel)
        or 'resident' (the kernel gate in a loop launched once: no launch per frame; per-frame 'kernel' where
        resident_unavailable_why says why not); cancellable puts the model in a conditional graph node a cancel
        skips; timeout_ns (kernel gate) lets the gate go by itself after that long armed (resident: ends the
        loop after that long without a release).
        """
    def last_copies_us(self) -> typing.Any:
        """
        (copy_in_us, copy_out_us) of the last completed inference, or None where the copies are not timed apart.
        """
    def last_device_us(self) -> float:
        """
        Device time of the last completed inference (its graph's or stream's events). Units: us.
        """
    def last_stamps(self) -> dict:
        """
        Where the last inference's time went, with no driver call (reads of mapped memory): gate_gt_ns, when
        the gate saw the release, and done_gt_ns, when the done word was written (GPU %globaltimer, ns; 0
        when not armed / not sync flag; map with sync_globaltimer); wait_driver_calls and wait_driver_ns, the
        driver calls the completion wait made and the time inside them.
        """
    def release(self) -> None:
        """
        Opens the gate: one release-ordered store. Raises if nothing is armed.
        """
    def release_and_wait(self, timeout_ns: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[int, int, int, bool]:
        """
        release() then wait_complete() in one call, the GIL released once: after a gap the interpreter's
        path between the two is cold. Returns (issue_ns, submitted_ns, done_ns, relaunched).
        """
    def set_sync(self, sync: str) -> None:
        """
        How wait_complete waits from now on (a SYNC_MODES name); a paced run sets its own.
        """
    def wait_complete(self, timeout_ns: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[int, bool]:
        """
        Waits (by the workload's sync mode) for the last launched or released inference; returns
        (done_ns on the monotonic clock, relaunched). No driver call is made after the wait: device time
        is last_device_us(), read when the caller wants it. timeout_ns > 0 bounds the wait (WaitTimeoutError).
        relaunched: the gate had let go by itself before the release, so the inference ran again plainly.
        """
    @property
    def armed(self) -> bool:
        ...
    @property
    def arming_enabled(self) -> bool:
        ...
    @property
    def gate_state(self) -> dict:
        """
        The gate's shared words: armed, released and last seen sequence numbers, the last arm that timed out,
        and when the gate saw the last release (GPU clock); programmatic: the armed graph releases the model
        through programmatic (PDL) edges. Resident loop: running, launches, next_frame, release_seq, done_seq,
        exits and the last exit_reason ('idle': its timeout, 'stop'), gate_timeouts (releases that found it ended).
        """
    @property
    def resident_fallback_why(self) -> str:
        """
        Why enable_arming('resident') armed per frame instead; '' where it did not.
        """
    @property
    def resident_unavailable_why(self) -> str:
        """
        Why this workload cannot run the resident armed loop; '' where it can.
        """
    @property
    def stream_handle(self) -> int:
        """
        The cudaStream_t this workload runs on, as an integer.
        """
class SyntheticWorkload(CudaWorkload):
    """
    A chain of kernels that fill every SM, as a CUDA graph ('graph') or eager launches ('direct').
    """
    def __init__(self, device: typing.SupportsInt | typing.SupportsIndex, kernels: typing.SupportsInt | typing.SupportsIndex, iters_per_kernel: typing.SupportsInt | typing.SupportsIndex, launch: str = 'graph', blocks_per_sm: typing.SupportsInt | typing.SupportsIndex = 4, threads_per_block: typing.SupportsInt | typing.SupportsIndex = 256) -> None:
        ...
    @property
    def graph_exec_handle(self) -> int:
        """
        The cudaGraphExec_t (graph launch only; 0 otherwise), as an integer.
        """
    @property
    def iters_per_kernel(self) -> int:
        ...
    @property
    def kernels(self) -> int:
        ...
    @property
    def launch(self) -> str:
        ...
class GraphExecWorkload(CudaWorkload):
    """
    A borrowed cudaGraphExec_t (e.g. torch.cuda.CUDAGraph.raw_cuda_graph_exec()); the owner must keep it alive.
    Device time is measured by events around the launch, so it can include host submission.
    """
    def __init__(self, device: typing.SupportsInt | typing.SupportsIndex, graph_exec: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class GraphWorkload(CudaWorkload):
    """
    A borrowed cudaGraph_t (e.g. torch.cuda.CUDAGraph(keep_graph=True).raw_cuda_graph()), cloned as a child graph
    between two event record nodes, so device time excludes host submission. The owner must keep the memory
    the graph uses alive. copy_in/copy_out: graphs of the input and output copies, run before and after the
    model as their own timed parts (the records' copy_in_us and copy_out_us).
    """
    def __init__(self, device: typing.SupportsInt | typing.SupportsIndex, graph: typing.SupportsInt | typing.SupportsIndex, copy_in: typing.SupportsInt | typing.SupportsIndex = 0, copy_out: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    @property
    def graph_exec_handle(self) -> int:
        ...
class CallableWorkload(CudaWorkload):
    """
    Calls fn(stream_handle: int) once per inference; fn enqueues its work on that stream.
    The call takes the GIL, so its cost is part of the measured submission time.
    """
    def __init__(self, device: typing.SupportsInt | typing.SupportsIndex, fn: collections.abc.Callable, name: str = 'python callable', stream: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        """
        stream: a CUDA stream handle the caller owns and keeps alive longer than the workload, to run on instead of the workload's own (0).
        """
class HostWorkload(Workload):
    """
    Busy work on the host for busy_us (0 to one hour): runs the paced loop on a machine with no GPU.
    """
    def __init__(self, busy_us: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class GapWork:
    """
    What the app does during the gap (gap_work.hpp): made by none(), busy(ns), memory(bytes) or
    callable(fn, label); the runner runs it at the end of each gap and issues when it ends.
    """
    @staticmethod
    def busy(ns: typing.SupportsInt | typing.SupportsIndex, label: str = 'busy') -> GapWork:
        ...
    @staticmethod
    def callable(fn: collections.abc.Callable, label: str = 'callable') -> GapWork:
        ...
    @staticmethod
    def memory(bytes: typing.SupportsInt | typing.SupportsIndex, label: str = 'memory') -> GapWork:
        ...
    def __init__(self) -> None:
        ...
    @property
    def kind(self) -> str:
        ...
    @property
    def label(self) -> str:
        ...
class RunConfig:
    """
    What one paced run does (runner.hpp): set its fields, then Runner(workload, config).
    keepwarm_*: filler work every period during gaps, ending before each due time; prewarm_*: once,
    lead_ns before each due time: filler on its own stream ('filler'), filler on the inference's
    stream ('stream') or cudaGraphUpload of its graph ('graph'). GPU workloads only; 0 = off.
    armed_gate: 'off', 'wait', 'kernel' or 'resident' (the loop of resident.hpp). nvtx: NVTX ranges for
    profilers, one per run named nvtx_name (default 'trtpace: ' + the workload) and 'inference i' from
    issue to done; off: no
    NVTX call in the loop. gap_work: a GapWork run at the end of each gap, the inference issued when
    it ends; staging: (dst, src0, src1, bytes) host copies made after the issue, from src0 and src1
    in turn (the input write; the caller keeps the buffers alive). The Runner validates it all.
    """
    armed_cancellable: bool
    armed_gate: str
    gap_work: GapWork
    nvtx: bool
    nvtx_name: str
    prewarm_target: str
    schedule: Schedule
    sync: str
    wait: str
    def __init__(self) -> None:
        ...
    @property
    def arm_timeout_ns(self) -> int:
        ...
    @arm_timeout_ns.setter
    def arm_timeout_ns(self, arg1: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def hybrid_margin_ns(self) -> int:
        ...
    @hybrid_margin_ns.setter
    def hybrid_margin_ns(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def iterations(self) -> int:
        ...
    @iterations.setter
    def iterations(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def keepwarm_period_ns(self) -> int:
        ...
    @keepwarm_period_ns.setter
    def keepwarm_period_ns(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def keepwarm_work_ns(self) -> int:
        ...
    @keepwarm_work_ns.setter
    def keepwarm_work_ns(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def prewarm_lead_ns(self) -> int:
        ...
    @prewarm_lead_ns.setter
    def prewarm_lead_ns(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def prewarm_work_ns(self) -> int:
        ...
    @prewarm_work_ns.setter
    def prewarm_work_ns(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def staging(self) -> list[tuple[int, int, int, int]]:
        ...
    @staging.setter
    def staging(self, arg1: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]]) -> None:
        ...
    @property
    def start_delay_ns(self) -> int:
        ...
    @start_delay_ns.setter
    def start_delay_ns(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def warmup(self) -> int:
        ...
    @warmup.setter
    def warmup(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class Runner:
    """
    The paced loop over one workload and schedule.
    """
    def __init__(self, workload: Workload, config: RunConfig) -> None:
        """
        Validates the config (std::invalid_argument: UsageError) and prepares the loop.
        """
    def latencies_ns(self, start: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.int64]:
        """
        done_ns - issue_ns of the completed inferences from `start` on, while the loop runs or after.
        """
    def records(self) -> numpy.ndarray:
        """
        A copy of the completed rows, warm-up included, as one numpy structured array of RECORD_DTYPE
        (records.hpp's column table; host times on the monotonic clock):
          due_ns [ns]: when the schedule wanted it issued
          issue_ns [ns]: the wait ended, submission starts
          submitted_ns [ns]: the submission call returned
          done_ns [ns]: the host observed completion
          device_us [us]: device execution (Workload::last_device_us)
          gpu_start_ns [ns]: in-band probe start on the host clock; 0 when unknown (no probe, or no clock mapping)
          inband_mhz [MHz]: SM clock the probe measured; NaN when unknown
          armed_ns [ns]: armed launch: when the inference was queued; 0 when not armed
          gate_ns [ns]: armed launch: the gate saw the release (mapped like gpu_start_ns); 0 when unknown
          staged_ns [ns]: the input write ended (RunConfig::staging); 0 when there is none
          gap_work_ns [ns]: how long the gap's work ran before the issue; 0 when there is none
          relaunched: armed: the gate had timed out before the release, so the inference ran again
          copy_in_us [us]: the input copy's part of device_us (Workload::last_copies_us); NaN when unknown
          copy_out_us [us]: the output copy's part of device_us; NaN when unknown
        """
    def request_stop(self) -> None:
        """
        Ends the run after the inference in flight (thread-safe).
        """
    def run(self) -> None:
        """
        Runs the paced loop on this thread without the GIL; returns when done or after request_stop()
        (at once, with no records, when the stop came first). On a failure the completed records are kept.
        """
    @property
    def clock_sync(self) -> tuple[dict, dict]:
        """
        The %globaltimer syncs before and after the loop (zeros without a probe).
        """
    @property
    def completed(self) -> int:
        """
        Inferences finished so far, warm-up included.
        """
    @property
    def cpu_ns(self) -> int:
        """
        CPU time of the runner's thread during the loop. Units: ns.
        """
    @property
    def filler_work_ns(self) -> int:
        """
        Filler kernel work launched, in ns (each filler holds one SM while it runs).
        """
    @property
    def fillers_fired(self) -> int:
        """
        Keep-warm and pre-warm launches made.
        """
    @property
    def hybrid_margin_ns(self) -> int:
        ...
    @property
    def prewarm_path(self) -> str:
        """
        Where the pre-warm went: its target, or 'filler' where the workload has no such path; '' without one.
        """
    @property
    def total(self) -> int:
        ...
class DeviceBuffer:
    """
    Device memory owned by trtpace.
    """
    def __init__(self, device: typing.SupportsInt | typing.SupportsIndex, nbytes: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def download(self) -> numpy.typing.NDArray[numpy.uint8]:
        """
        The buffer's bytes, copied to the host.
        """
    def upload(self, data: typing_extensions.Buffer) -> None:
        """
        Copies a C-contiguous host array of exactly nbytes into the buffer.
        """
    @property
    def nbytes(self) -> int:
        ...
    @property
    def ptr(self) -> int:
        ...
class CapturedGraph:
    """
    A cudaGraph_t trtpace captured.
    """
    @property
    def handle(self) -> int:
        ...
class KeepWarmThread:
    """
    Fires work_ns of filler on a lowest-priority stream every period_ns from a C++ thread (no GIL).
    A failure on the thread ends it (running turns False) and is raised, once, by the next
    start(), pause(), resume() or stop().
    """
    def __init__(self, device: typing.SupportsInt | typing.SupportsIndex, period_ns: typing.SupportsInt | typing.SupportsIndex, work_ns: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def pause(self) -> None:
        """
        Steps aside (around the app's own inference): returns once no filler launch is in flight.
        """
    def resume(self) -> None:
        ...
    def start(self) -> None:
        ...
    def stop(self) -> None:
        """
        Joins the thread and waits for the last filler; safe to call twice.
        """
    @property
    def fired(self) -> int:
        ...
    @property
    def running(self) -> bool:
        """
        False once stopped or ended by a failure.
        """
class Filler:
    """
    Filler work on a lowest-priority stream (pre-warm).
    """
    def __init__(self, device: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def fire(self, work_ns: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Launches work_ns of filler unless the previous one still runs.
        """
    def wait_idle(self) -> None:
        ...
    @property
    def fired(self) -> int:
        ...
class PrewarmWorker:
    """
    One C++ thread that pre-warms a workload at scheduled times: cudaGraphUpload of its graph ('graph'),
    filler on its stream ('stream') or on a low-priority stream ('filler', and the fallback where the
    workload has no such path). A failure on the thread is raised, once, by the next call.
    """
    def __init__(self, workload: Workload, target: str = 'graph', work_ns: typing.SupportsInt | typing.SupportsIndex = 0, wait: str = 'hybrid') -> None:
        ...
    def cancel(self) -> None:
        """
        Drops a pending pre-warm; returns once none is in flight.
        """
    def close(self) -> None:
        """
        Cancels, joins the thread and waits for the last filler; safe to call twice.
        """
    def schedule(self, fire_at_ns: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Pre-warms at fire_at_ns (monotonic), replacing a pending pre-warm not yet started.
        """
    def wait_idle(self) -> None:
        """
        Returns once the pending pre-warm, if any, has fired.
        """
    @property
    def fired(self) -> int:
        ...
    @property
    def path(self) -> str:
        """
        The pre-warm target used: the one asked for, or 'filler' where the workload cannot take it.
        """
    @property
    def pending(self) -> bool:
        """
        Whether a pre-warm is scheduled or firing.
        """
class _CountingGraph:
    """
    Test hook: a graph of one kernel counting its runs.
    """
    def __init__(self, device: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def count(self) -> int:
        ...
    @property
    def handle(self) -> int:
        ...
class DeviceScope:
    """
    Context manager: makes `device` the current CUDA device inside the block and restores the
    previous one on exit (for libraries that work on the current device, such as TensorRT).
    """
    @staticmethod
    def current() -> int:
        """
        The current CUDA device of this thread (cudaGetDevice).
        """
    def __enter__(self) -> DeviceScope:
        ...
    def __exit__(self, exc_type: typing.Any, exc_value: typing.Any, traceback: typing.Any) -> None:
        ...
    def __init__(self, device: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def device(self) -> int:
        ...
def _bench_bare_graph_loop(device: typing.SupportsInt | typing.SupportsIndex, graph_exec: typing.SupportsInt | typing.SupportsIndex, iterations: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.int64]:
    """
    Benchmark baseline: per-iteration ns of a bare cudaGraphLaunch + cudaStreamSynchronize loop.
    """
def _has_test_hooks() -> bool:
    """
    Whether this build has the test hooks (TRTPACE_TEST_HOOKS=ON: tests and CI; never a user's wheel).
    """
def _raise_pending() -> None:
    """
    Internal: raises the C++ exception a fast-path function caught, through pybind11's translators.
    """
def armed_fast_path(workload: typing.Any) -> tuple[typing.Any, typing.Any, typing.Any, typing.Any]:
    """
    (release, wait, release_and_wait, armed): the workload's armed release and wait as plain C functions, for
    the path between an app's input and its output (no pybind11 dispatch: after a gap it is cold).
    release() -> issue_ns; wait(timeout_ns) and release_and_wait(timeout_ns) -> (issue_ns, submitted_ns,
    done_ns, relaunched), the GIL released while waiting; timeout_ns <= 0 waits without bound; armed() ->
    bool. Each keeps the workload alive. Not thread-safe: one thread arms, releases and waits.
    """
def calibrate_hybrid_margin_ns(samples: typing.SupportsInt | typing.SupportsIndex = 100) -> int:
    """
    Measures sleep overshoot here and returns a hybrid-wait spin margin. Units: ns.
    """
def calibrate_synthetic(device: typing.SupportsInt | typing.SupportsIndex, target_us: typing.SupportsFloat | typing.SupportsIndex, kernels: typing.SupportsInt | typing.SupportsIndex) -> dict:
    """
    Finds iters_per_kernel so one graph run of `kernels` kernels takes target_us under continuous load.
    """
def capture_graph(device: typing.SupportsInt | typing.SupportsIndex, fn: collections.abc.Callable) -> CapturedGraph:
    """
    Captures fn(stream_handle) into a CUDA graph (thread-local capture mode). Raises CaptureError when
    the work cannot be captured (fn raised, returned False, or used an API capture forbids).
    """
def check_remedy_combination(armed: bool, prewarm_lead_ns: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Raises UsageError when armed launch and pre-warm are both asked for (they exclude each other).
    """
def continuous_device_us(workload: Workload, runs: typing.SupportsInt | typing.SupportsIndex = 51, warmup_ms: typing.SupportsFloat | typing.SupportsIndex = 100.0) -> float:
    """
    Median device time of back-to-back runs after warmup_ms of continuous load. Units: us.
    """
def decide_features(driver_version: typing.SupportsInt | typing.SupportsIndex, runtime_version: typing.SupportsInt | typing.SupportsIndex, cc_major: typing.SupportsInt | typing.SupportsIndex, cc_minor: typing.SupportsInt | typing.SupportsIndex) -> dict:
    """
    The feature table's pure decision for these versions (CUDA's 1000*major+10*minor) and compute capability (0.0: no device); no CUDA call.
    """
def default_hybrid_margin_ns() -> int:
    """
    The hybrid margin calibrated once per process. Units: ns.
    """
def device_info(device: typing.SupportsInt | typing.SupportsIndex) -> dict:
    """
    Name, PCI bus id, compute capability, SM count and maximum clocks of a CUDA device.
    """
def features(device: typing.SupportsInt | typing.SupportsIndex) -> dict:
    """
    What this driver, runtime and device allow: {'features': {name: {'on', 'why'}}, the versions, the compute capability}. Never raises for a missing driver or device (the features are off and say why). Test hooks: TRTPACE_FAKE_DRIVER_VERSION, TRTPACE_FAKE_RUNTIME_VERSION, TRTPACE_FAKE_COMPUTE_CAPABILITY.
    """
def globaltimer_resolution_ns(device: typing.SupportsInt | typing.SupportsIndex) -> int:
    """
    Smallest step of the GPU's %globaltimer. Units: ns.
    """
def infer_once(workload: Workload, sync: str = 'spin', timeout_ns: typing.SupportsInt | typing.SupportsIndex = 0, device_time: bool = True) -> dict:
    """
    Runs one inference now and returns its host times and device time; timeout_ns > 0 bounds a GPU
    workload's completion wait (WaitTimeoutError). device_time=False: device_us is NaN and no driver call
    follows the wait (read it later with the workload's last_device_us()).
    """
def load_kernels(device: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Loads every trtpace kernel into the device's context (done for you before any gate spins).
    """
def module_loading_mode() -> str:
    """
    The driver's module loading mode for this process: 'lazy', 'eager' or 'unknown'.
    """
def now_ns() -> int:
    """
    The monotonic clock every trtpace timestamp uses (same as time.monotonic_ns()). Units: ns.
    """
def probe_cuda() -> dict:
    """
    What the CUDA runtime sees, without raising: driver_version is 0 when no driver is installed.
    """
def probe_waits(method: str, wait_ns: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex) -> tuple[numpy.typing.NDArray[numpy.int64], int, int]:
    """
    Benchmark support: (overshoot_ns array, thread cpu_ns, wall_ns) of `count` waits of wait_ns by
    method 'sleep', 'spin', 'hybrid' or 'sleep_for' (std::this_thread::sleep_for).
    """
def stream_wait_supported(device: typing.SupportsInt | typing.SupportsIndex) -> tuple[bool, str]:
    """
    (supported, why not): whether armed:wait can use stream memory waits here.
    """
def sync_globaltimer(device: typing.SupportsInt | typing.SupportsIndex, rounds: typing.SupportsInt | typing.SupportsIndex = 16) -> dict:
    """
    %globaltimer minus the host monotonic clock, by ping-pong through mapped memory (1 to 1000 rounds).
    """
def wait_until_ns(deadline_ns: typing.SupportsInt | typing.SupportsIndex, mode: str = 'hybrid', hybrid_margin_ns: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
    """
    Waits until the monotonic clock reaches deadline_ns (never earlier), without the GIL.
    
    mode is 'sleep', 'spin' or 'hybrid'; hybrid_margin_ns=0 uses the calibrated margin.
    """
LAUNCH_MODES: tuple = ('graph', 'direct')
MAX_HORIZON_NS: int = 315360000000000000
MAX_HYBRID_MARGIN_NS: int = 5000000
MAX_INFERENCES: int = 100000000
PREWARM_TARGETS: tuple = ('filler', 'stream', 'graph')
RECORD_COLUMNS: tuple = ('due_ns', 'issue_ns', 'submitted_ns', 'done_ns', 'device_us', 'gpu_start_ns', 'inband_mhz', 'armed_ns', 'gate_ns', 'staged_ns', 'gap_work_ns', 'relaunched', 'copy_in_us', 'copy_out_us')
RECORD_DTYPE: numpy.dtypes.VoidDType
RECORD_UNITS: dict = {'due_ns': 'ns', 'issue_ns': 'ns', 'submitted_ns': 'ns', 'done_ns': 'ns', 'device_us': 'us', 'gpu_start_ns': 'ns', 'inband_mhz': 'MHz', 'armed_ns': 'ns', 'gate_ns': 'ns', 'staged_ns': 'ns', 'gap_work_ns': 'ns', 'relaunched': '', 'copy_in_us': 'us', 'copy_out_us': 'us'}
SYNC_MODES: tuple = ('spin', 'block', 'yield', 'flag')
WAIT_MODES: tuple = ('sleep', 'spin', 'hybrid')
__version__: str
