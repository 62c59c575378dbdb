"""GPU tests: error paths (injected faults keep the records), the remedies' threads (keep-warm,
pre-warm) failing and cleaning up, and the RAII helpers (issues #10 and #13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import trtpace
from gpu_checks import check_records
from trtpace import _core
from trtpace.measure import pacing, workloads
from trtpace.measure.runner import make_runner, run_paced

pytestmark = pytest.mark.gpu


# ---- issue #10 / #13: error paths, remedies' threads, RAII helpers (written without a GPU at hand) ----


def _wait_for(predicate, timeout_s: float = 5.0) -> bool:
    import time

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def _check_gpu_starts_mapped(r: dict[str, np.ndarray]) -> None:
    # Mapped to the host clock: each probe start lies between its issue (less the sync's
    # uncertainty) and its completion; a raw %globaltimer value (ns since an unrelated epoch) would not.
    start = r["gpu_start_ns"]
    assert (start > 0).all()
    assert (start > r["issue_ns"] - 100_000).all() and (start < r["done_ns"]).all()
    assert np.isfinite(r["inband_mhz"]).all()


@pytest.mark.test_hooks
@pytest.mark.parametrize(("point", "n", "kept"), [("launch", 7, 6), ("wait", 7, 6)])
def test_runner_fault_keeps_mapped_records(point: str, n: int, kept: int) -> None:
    w = workloads.build("tiny", gpu=0)
    w.core._inject_fault(point, n)
    out = run_paced(w, pacing.gap(0.001), iterations=20, warmup=0, wait="spin", sync="spin")
    assert isinstance(out.error, trtpace.TrtpaceError) and f"injected fault at {point}" in str(out.error)
    check_records(out.records, kept)
    _check_gpu_starts_mapped(out.records)


@pytest.mark.test_hooks
def test_runner_filler_fault_keeps_mapped_records() -> None:
    from trtpace.measure.policies import parse_policy

    w = workloads.build("tiny", gpu=0)
    # Keep-warm fires every 200 us in 5 ms gaps: ~20 fires per gap, so the 50th is a few inferences in.
    w.core._inject_fault("filler", 50)
    out = run_paced(
        w, pacing.gap(0.005), iterations=30, warmup=0, wait="hybrid", sync="spin", policy=parse_policy("keepwarm:200us")
    )
    assert isinstance(out.error, trtpace.TrtpaceError) and "injected fault at filler" in str(out.error)
    n = len(out.records["issue_ns"])
    assert 0 < n < 30
    check_records(out.records, n)
    _check_gpu_starts_mapped(out.records)


@pytest.mark.test_hooks
def test_sweep_with_a_gpu_fault_saves_a_partial_condition(tmp_path: Path) -> None:
    w = workloads.build("tiny", gpu=0)
    w.core._inject_fault("wait", 12)
    with pytest.raises(trtpace.TrtpaceError, match="injected fault at wait"):
        trtpace.sweep(w, gaps_s=[0.01], iterations=20, warmup=2, out=tmp_path / "r")
    (c,) = trtpace.load(tmp_path / "r").conditions
    assert c.status == "partial" and c.count == 11
    _check_gpu_starts_mapped(c.records)


@pytest.mark.test_hooks
def test_keepwarm_thread_failure_ends_it_and_is_raised_once() -> None:
    kw = _core.KeepWarmThread(0, 200_000, 1_000)
    kw._inject_fault(3)
    kw.start()
    assert _wait_for(lambda: not kw.running), "the thread must end on its failure, and say so"
    assert 1 <= kw.fired <= 2  # the third fire failed; one before it may have found the last filler busy
    with pytest.raises(trtpace.TrtpaceError, match="injected fault at keep-warm fire"):
        kw.pause()
    kw.resume()  # reported once
    kw.stop()


@pytest.mark.test_hooks
def test_keepwarm_failure_surfaces_from_stop_and_the_with_block() -> None:
    import time

    kw = _core.KeepWarmThread(0, 200_000, 1_000)
    kw._inject_fault(2)
    kw.start()
    assert _wait_for(lambda: not kw.running)
    with pytest.raises(trtpace.TrtpaceError, match="injected fault"):
        kw.stop()
    kw.stop()

    with pytest.raises(trtpace.TrtpaceError, match="injected fault"):  # noqa: PT012, SIM117 - the exit raises
        with trtpace.KeepWarm(period_ms=0.2, work_us=1, gpu=0) as warm:
            warm._thread._inject_fault(2)
            time.sleep(0.05)
            assert not warm.running


def test_keepwarm_pause_returns_with_no_launch_in_flight() -> None:
    import time

    with trtpace.KeepWarm(period_ms=0.05, work_us=1, gpu=0) as kw:
        for _ in range(200):
            kw.pause()
            at = kw.fired
            time.sleep(0.0003)  # several periods: a launch still in flight would land here
            assert kw.fired == at
            kw.resume()
            time.sleep(0.0002)
        assert kw.fired > 100


@pytest.mark.test_hooks
def test_pacer_prewarm_worker_fires_cancels_and_reports_failures() -> None:
    import os

    tiny = workloads.build("tiny", gpu=0)
    before = len(os.listdir("/proc/self/task"))
    with trtpace.Pacer(tiny, prewarm_lead_ms=1.0, prewarm_target="graph") as pacer:
        # Announced and reached: it fires.
        pacer.expect(_core.now_ns() + 2_000_000)
        _core.wait_until_ns(_core.now_ns() + 2_000_000, "hybrid")
        pacer.infer()
        assert pacer.prewarms_fired == 1
        # Announced far ahead, then infer() early: the pending pre-warm is cancelled, never fired.
        pacer.expect(_core.now_ns() + 10**9)
        pacer.infer()
        time_after = pacer.prewarms_fired
        _core.wait_until_ns(_core.now_ns() + 20_000_000, "sleep")
        assert pacer.prewarms_fired == time_after == 1
        # A later expect() replaces an earlier one: one fire for two announcements.
        pacer.expect(_core.now_ns() + 500_000_000)
        pacer.expect(_core.now_ns() + 3_000_000)
        _core.wait_until_ns(_core.now_ns() + 5_000_000, "hybrid")
        pacer.infer()
        assert pacer.prewarms_fired == 2
        # A failing pre-warm is raised by the next call, once.
        tiny.core._inject_fault("filler", 1)
        pacer.expect(_core.now_ns() + 1_500_000)
        _core.wait_until_ns(_core.now_ns() + 3_000_000, "hybrid")
        with pytest.raises(trtpace.TrtpaceError, match="injected fault at filler"):
            pacer.infer()
        pacer.infer()
        # run() settles pre-warm first and still works.
        pacer.expect(_core.now_ns() + 10**9)
        c = pacer.run(10, gap_s=0.002)
        assert c.count == 10
    assert len(os.listdir("/proc/self/task")) == before


def test_prewarm_worker_fallback_and_close() -> None:
    direct = workloads.build("tiny:launch=direct", gpu=0)
    worker = _core.PrewarmWorker(direct.core, "graph", 1_000, "spin")  # no graph: falls back to the filler
    assert worker.path == "filler"
    assert _core.PrewarmWorker(direct.core, "stream", 1_000, "spin").path == "stream"
    worker.schedule(_core.now_ns() + 500_000)
    worker.wait_idle()
    assert worker.fired == 1 and not worker.pending
    worker.schedule(_core.now_ns() + 10**9)
    assert worker.pending
    worker.close()
    worker.close()
    assert worker.fired == 1


@pytest.mark.parametrize(
    ("spec", "target", "path"),
    [
        ("tiny:launch=direct", "graph", "filler"),  # no graph executable: the paced loop falls back as the Pacer does
        ("tiny", "graph", "graph"),
        ("tiny:launch=direct", "stream", "stream"),
        ("tiny:launch=direct", "filler", "filler"),
    ],
)
def test_the_paced_loop_prewarms_where_the_pacer_would_and_says_where(spec: str, target: str, path: str) -> None:
    w = workloads.build(spec, gpu=0)
    runner = make_runner(
        w.core,
        _core.Schedule.closed_gap(2_000_000),
        10,
        0,
        "spin",
        "spin",
        prewarm_lead_ns=500_000,
        prewarm_work_ns=20_000,
        prewarm_target=target,
    )
    runner.run()
    assert runner.prewarm_path == path
    # every gap but the first (due at once) had its pre-warm: filler work where the path has it
    assert runner.filler_work_ns >= (0 if path == "graph" else 9 * 20_000)
    assert runner.fillers_fired >= (9 if path == "filler" else 0)


def test_filler_and_own_path_work_is_bounded() -> None:
    f = _core.Filler(0)
    with pytest.raises(ValueError, match="filler work"):
        f.fire(-1)
    with pytest.raises(ValueError, match="filler work"):
        f.fire(10**10)
    tiny = workloads.build("tiny", gpu=0)
    with pytest.raises(ValueError, match="pre-warm work"):
        tiny.core.prewarm_own_path(-1, False)


def test_device_buffer_upload_needs_a_contiguous_array() -> None:
    buf = _core.DeviceBuffer(0, 32)
    strided = np.arange(16, dtype=np.int32)[::2]  # 8 x 4 bytes = 32, but not contiguous
    with pytest.raises(ValueError, match="C-contiguous"):
        buf.upload(strided)
    with pytest.raises(ValueError, match="C-contiguous"):
        buf.upload(np.arange(8, dtype=np.int32).reshape(2, 4).T)
    buf.upload(np.ascontiguousarray(strided))
    assert np.array_equal(buf.download().view(np.int32), strided)


@pytest.mark.test_hooks
def test_capture_failure_leaves_the_stream_usable() -> None:
    def bad(stream: int) -> None:
        raise RuntimeError("enqueue broke\nsecond line")

    with pytest.raises(trtpace.CaptureError, match="graph capture failed: RuntimeError: enqueue broke$"):
        _core.capture_graph(0, bad)
    with pytest.raises(trtpace.CaptureError, match="returned False"):
        _core.capture_graph(0, lambda stream: False)
    captured = []

    def good(stream: int) -> None:
        assert _core._stream_is_capturing(stream)
        captured.append(stream)
        _core._enqueue_test_work(0, stream, 10_000)

    g = _core.capture_graph(0, good)
    assert g.handle != 0 and captured
    w = workloads.from_graph(g.handle, gpu=0, keepalive=g)
    out = run_paced(w, pacing.gap(0.001), iterations=5, warmup=0, wait="spin", sync="spin")
    check_records(out.records, 5)
