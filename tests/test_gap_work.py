"""Gap work (what the app does during the gap) and the input write after it, on host workloads."""

from __future__ import annotations

import importlib.util
import threading
import time

import numpy as np
import pytest

import trtpace
from trtpace import _core
from trtpace.measure import gap_work, pacing, workloads
from trtpace.measure.runner import make_runner, run_paced

GAP_NS = 4_000_000


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("busy:2ms", "busy:2ms"),
        ("BUSY:500us", "busy:0.5ms"),
        ("memory:64MB", "memory:64MB"),
        ("memory:1MiB", "memory:1.04858MB"),
        ("none", "none"),
        ("", "none"),
    ],
)
def test_specs_parse_and_normalise(text: str, spec: str) -> None:
    assert gap_work.parse_gap_work(text).spec == spec


@pytest.mark.parametrize(
    "text",
    [
        "busy",
        "busy:0ms",
        "busy:2",
        "busy:61s",
        "busy:nanms",
        "memory:1",
        "memory:17GiB",
        "memory:-1MB",
        "jpeg:10x10",
        "jpeg:1280",
        "jpeg:9000x9000",
        "decode:1",
        "busy:1e999ms",
        "none:3",
    ],
)
def test_bad_specs_are_one_line_usage_errors(text: str) -> None:
    with pytest.raises(trtpace.UsageError) as e:
        gap_work.parse_gap_work(text)
    assert "\n" not in str(e.value) and "--gap-work" in str(e.value)


def _run(work: gap_work.GapWork, n: int = 12, staging: tuple = ()) -> dict[str, np.ndarray]:
    w = workloads.host(20.0)
    w.staging = staging
    out = run_paced(w, pacing.gap(GAP_NS / 1e9), iterations=n, warmup=0, wait="hybrid", sync="spin", gap_work=work)
    assert out.error is None
    return out.records


def test_busy_work_ends_when_the_inference_is_issued() -> None:
    r = _run(gap_work.parse_gap_work("busy:1ms"))
    took = r["gap_work_ns"]
    assert (took >= 1_000_000).all()
    # The gap (completion to issue) stays the gap asked for: the work fills its end, not more
    # (medians, and loose: a busy CI machine may stretch a run or two).
    gap = r["issue_ns"][1:] - r["done_ns"][:-1]
    assert np.median(gap) >= GAP_NS * 0.9
    # The work ran inside the gap, before the issue.
    assert (took[1:] <= gap).all()


def test_memory_work_streams_the_buffer_each_gap() -> None:
    r = _run(gap_work.parse_gap_work("memory:8MB"))
    assert (r["gap_work_ns"] > 0).all()


def test_idle_gap_records_no_work_and_no_staging() -> None:
    r = _run(gap_work.NONE)
    assert (r["gap_work_ns"] == 0).all() and (r["staged_ns"] == 0).all()


def test_callable_work_runs_once_per_gap_plus_two_to_seed_its_estimate() -> None:
    calls: list[int] = []
    core = _core.GapWork.callable(lambda: calls.append(1), "py")
    r = make_runner(
        _core.HostWorkload(10.0), _core.Schedule.closed_gap(1_000_000), 5, 1, "hybrid", "spin", gap_work=core
    )
    r.run()
    assert len(calls) == 6 + 2
    assert core.kind == "callable" and core.label == "py"


def test_python_gap_work_keeps_the_gil_until_the_inference_is_launched() -> None:
    """As in an app's own loop, no other Python thread runs between the end of the Python gap work
    and the launch: the runner's thread keeps the GIL through the issue, the staging copy (made
    long here, 16 MB) and the launch. Given back in between, the sampler below would get it."""
    ends: list[int] = []
    samples: list[int] = []
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            samples.append(time.monotonic_ns())

    dst = np.zeros(16 << 20, dtype=np.uint8)
    src = np.ones_like(dst)
    r = make_runner(
        _core.HostWorkload(10.0),
        _core.Schedule.closed_gap(2_000_000),
        8,
        0,
        "sleep",
        "spin",
        gap_work=_core.GapWork.callable(lambda: ends.append(time.monotonic_ns()), "py"),
        staging=[(dst.ctypes.data, src.ctypes.data, src.ctypes.data, dst.nbytes)],
    )
    t = threading.Thread(target=sampler)
    t.start()
    try:
        r.run()
    finally:
        stop.set()
        t.join()
    rec = r.records()
    stamps = np.array(samples)
    windows = list(zip(ends[2:], rec["submitted_ns"], strict=True))  # the first 2 seed the estimate
    assert all((rec["staged_ns"] - rec["issue_ns"]) > 0)
    inside = [int(((stamps > a) & (stamps < b)).sum()) for a, b in windows]
    assert inside == [0] * len(windows), inside
    assert len(stamps) > 100  # the sampler did run, in the gaps


def test_an_exception_in_callable_work_ends_the_run_with_it() -> None:
    def boom() -> None:
        raise RuntimeError("decode failed")

    r = make_runner(
        _core.HostWorkload(10.0),
        _core.Schedule.closed_gap(0),
        5,
        0,
        "spin",
        "spin",
        gap_work=_core.GapWork.callable(boom),
    )
    with pytest.raises(RuntimeError, match="decode failed"):
        r.run()


def test_staging_writes_the_whole_input_from_alternating_sources_after_the_issue() -> None:
    dst = np.zeros(1 << 20, dtype=np.uint8)
    a = np.full_like(dst, 1)
    b = np.full_like(dst, 2)
    r = _run(gap_work.NONE, n=5, staging=((dst.ctypes.data, a.ctypes.data, b.ctypes.data, dst.nbytes),))
    assert (dst == 1).all()  # inference 4 wrote source 0
    assert (r["staged_ns"] >= r["issue_ns"]).all() and (r["submitted_ns"] >= r["staged_ns"]).all()
    assert ((r["staged_ns"] - r["issue_ns"]) > 0).all()


def test_bad_staging_is_refused_before_the_run() -> None:
    with pytest.raises(ValueError, match="staging"):
        make_runner(_core.HostWorkload(1.0), _core.Schedule.closed_gap(0), 1, 0, "spin", "spin", staging=[(0, 0, 0, 4)])


def test_pacer_run_takes_gap_work_and_records_it() -> None:
    with trtpace.Pacer(workloads.host(20.0)) as p:
        c = p.run(6, gap_s=0.002, gap_work="busy:0.5ms")
    assert c.info["gap_work"]["spec"] == "busy:0.5ms"
    assert (c.records["gap_work_ns"] >= 500_000).all()


@pytest.mark.skipif(
    importlib.util.find_spec("cv2") is None and importlib.util.find_spec("PIL") is None, reason="needs OpenCV or Pillow"
)
def test_jpeg_work_decodes_and_preprocesses_a_real_frame() -> None:
    work = gap_work.parse_gap_work("jpeg:320x240")
    decode = gap_work.jpeg_decoder(320, 240)
    decode()  # one frame decoded and normalised without error
    r = _run(work, n=4)
    assert (r["gap_work_ns"] > 0).all()
    assert "JPEG" in work.describe()
