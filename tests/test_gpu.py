"""Tests that need an NVIDIA GPU (marker `gpu`; skipped where CUDA sees none)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import trtpace
from trtpace import _core
from trtpace.cli import app
from trtpace.measure import pacing, workloads
from trtpace.measure.runner import make_runner, run_paced

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def tiny() -> workloads.Workload:
    return workloads.build("tiny", gpu=0)


def _check_records(r: dict[str, np.ndarray], n: int) -> None:
    for col in ("due_ns", "issue_ns", "submitted_ns", "done_ns", "device_us"):
        assert len(r[col]) == n, col
    assert (r["issue_ns"] >= r["due_ns"]).all()
    assert (r["submitted_ns"] > r["issue_ns"]).all()
    assert (r["done_ns"] > r["submitted_ns"]).all()
    assert (np.diff(r["issue_ns"]) > 0).all()
    e2e_us = (r["done_ns"] - r["issue_ns"]) / 1e3
    assert (r["device_us"] > 0).all() and (r["device_us"] < e2e_us).all()


@pytest.mark.parametrize("sync", ["spin", "block", "yield", "flag"])
def test_runner_records_complete_and_ordered(tiny: workloads.Workload, sync: str) -> None:
    out = run_paced(tiny, pacing.gap(0.001), iterations=40, warmup=5, wait="hybrid", sync=sync)
    assert out.error is None and not out.interrupted
    _check_records(out.records, 45)
    assert tiny.device_timing == "graph-event-nodes"


@pytest.mark.parametrize(
    ("preset", "target_us", "kernels"), [("tiny", 100, 12), ("medium", 2000, 24), ("large", 25000, 60)]
)
def test_synthetic_calibration_within_10_percent(preset: str, target_us: float, kernels: int) -> None:
    w = workloads.build(preset, gpu=0)
    assert w.core.kernels == kernels
    measured = _core.continuous_device_us(w.core, runs=max(9, int(200_000 / target_us)), warmup_ms=200)
    assert measured == pytest.approx(target_us, rel=0.10)


def test_direct_launch_runs_the_same_kernels(tiny: workloads.Workload) -> None:
    direct = workloads.build("tiny:launch=direct", gpu=0)
    assert direct.device_timing == "stream-events" and direct.core.launch == "direct"
    out = run_paced(direct, pacing.gap(0), iterations=30, warmup=5, wait="spin", sync="spin")
    _check_records(out.records, 35)


def test_open_loop_on_gpu(tiny: workloads.Workload) -> None:
    out = run_paced(tiny, pacing.period(0.002), iterations=50, warmup=0, wait="hybrid", sync="spin")
    r = out.records
    assert np.array_equal(np.diff(r["due_ns"]), np.full(49, 2_000_000))
    assert np.median(r["issue_ns"] - r["due_ns"]) < 50_000  # issued on time: the GPU work is far shorter


def _torch_graph():
    torch = pytest.importorskip("torch")
    if not hasattr(torch.cuda.CUDAGraph, "raw_cuda_graph_exec"):
        pytest.skip("this PyTorch has no CUDAGraph.raw_cuda_graph_exec (needs 2.9+)")
    from trtpace.measure.workloads.torch_module import capture_graph

    torch.manual_seed(0)
    net = (
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(16, 16, 3, padding=1),
            torch.nn.ReLU(),
        )
        .cuda()
        .eval()
    )
    x = torch.randn(1, 3, 64, 64, device="cuda")
    g, y = capture_graph(net, (x,))
    return torch, net, g, x, y


def test_torch_graph_exec_handle_runs_through_runner() -> None:
    torch, net, g, x, y = _torch_graph()
    w = workloads.from_graph_exec(g.raw_cuda_graph_exec(), gpu=0, keepalive=g, name="torch conv")
    x.copy_(torch.randn_like(x))
    torch.cuda.synchronize()
    out = run_paced(w, pacing.gap(0.0005), iterations=30, warmup=2, wait="spin", sync="spin")
    _check_records(out.records, 32)
    assert w.device_timing == "stream-events"
    with torch.no_grad():
        torch.testing.assert_close(y, net(x))  # the runner really replayed the captured graph


def test_torch_graph_wrapped_with_event_nodes() -> None:
    torch, net, g, x, y = _torch_graph()
    w = workloads.from_graph(g.raw_cuda_graph(), gpu=0, keepalive=g)
    assert w.device_timing == "graph-event-nodes"
    x.copy_(torch.randn_like(x))
    torch.cuda.synchronize()
    out = run_paced(w, pacing.gap(0.0005), iterations=30, warmup=2, wait="spin", sync="spin")
    _check_records(out.records, 32)
    with torch.no_grad():
        torch.testing.assert_close(y, net(x))


def test_python_callable_workload_and_its_errors() -> None:
    torch = pytest.importorskip("torch")
    a = torch.randn(512, 512, device="cuda")
    calls = []

    def enqueue(stream_handle: int) -> None:
        calls.append(stream_handle)
        with torch.cuda.stream(torch.cuda.ExternalStream(stream_handle)):
            a.copy_(torch.tanh(a @ a / 512))
        if len(calls) == 12:
            raise RuntimeError("model failed")

    w = workloads.from_callable(enqueue, gpu=0, name="torch matmul")
    out = run_paced(w, pacing.gap(0.0005), iterations=20, warmup=0, wait="spin", sync="spin")
    assert isinstance(out.error, RuntimeError) and "model failed" in str(out.error)
    assert len(out.records["issue_ns"]) == 11  # the 12th launch failed; the 11 before it are kept
    assert set(calls) == {w.core.stream_handle}


def test_sweep_end_to_end(tmp_path: Path) -> None:
    result = trtpace.sweep("tiny", gaps_s=[0.05], iterations=30, warmup=5, out=tmp_path / "r")
    rows = result.rows()
    assert [r["pacing"]["label"] for r in rows] == ["gap 0 s", "gap 0.05 s"]
    assert rows[0]["penalty"] == 1.0 and np.isfinite(rows[1]["penalty"])
    assert result.environment["gpu"]["name"]
    assert trtpace.load(tmp_path / "r").rows()[1]["penalty"] == pytest.approx(rows[1]["penalty"])


def test_cli_sweep_on_gpu(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["sweep", "-w", "tiny", "--gaps", "0,0.02", "--iterations", "20", "--out", str(tmp_path), "--json"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["conditions"][1]["summary"]["device_us"]["n"] == 20


def test_gpu_index_out_of_range_is_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["sweep", "-w", "tiny", "--gpu", "64", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "out of range" in r.output


def test_globaltimer_sync_and_resolution() -> None:
    s = _core.sync_globaltimer(0)
    assert 0 < s["uncertainty_ns"] < 50_000
    assert 0 < _core.globaltimer_resolution_ns(0) <= 1_000


def test_inband_clock_matches_nvml_under_continuous_load() -> None:
    result = trtpace.sweep("medium", gaps_s=[0], iterations=150, warmup=50)
    c = result.conditions[0]
    inband = c.column("inband_mhz")
    nvml_mhz = c.column("nvml_sm_mhz")
    assert np.isfinite(inband).all(), "every graph inference carries a probe reading"
    assert np.nanmedian(inband) == pytest.approx(np.nanmedian(nvml_mhz), rel=0.05)


@pytest.fixture(scope="module")
def tiny_gap_sweep() -> trtpace.SweepResult:
    return trtpace.sweep("tiny", gaps_s=[0.1], iterations=60, warmup=10)


def test_launch_latency_positive_and_below_e2e(tiny_gap_sweep: trtpace.SweepResult) -> None:
    for c in tiny_gap_sweep.conditions:
        launch, e2e = c.column("launch_us"), c.column("e2e_us")
        assert np.isfinite(launch).all()
        assert (launch > 0).all() and (launch < e2e).all()


def test_attribution_adds_up_to_the_penalty(tiny_gap_sweep: trtpace.SweepResult) -> None:
    (row,) = [r for r in tiny_gap_sweep.rows() if r["attribution"]]
    a = row["attribution"]
    assert a["delta_p50_us"] > 0
    assert sum(a["parts_us"].values()) == pytest.approx(a["delta_p50_us"], rel=0.05)
    assert "SM clock" in a["line"]
    env = tiny_gap_sweep.environment["telemetry"]
    assert env["source"] == "nvml" and env["rate_hz"] >= 100


def test_clock_show_and_dry_run_on_real_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Read-only: show and --dry-run never change the GPU's clocks.
    from trtpace.platform import clocks

    monkeypatch.setenv("TRTPACE_STATE_DIR", str(tmp_path))
    (facts,) = clocks.show(0)
    assert isinstance(facts["sm_mhz"], int) and facts["max_sm_mhz"] >= facts["sm_mhz"] > 0
    (lp,) = clocks.plan("max", None, 0).nvidia
    assert lp.sm_mhz == (facts["max_sm_mhz"], facts["max_sm_mhz"]) or lp.sm_mhz[0] <= facts["max_sm_mhz"]
    r = CliRunner().invoke(app, ["clocks", "lock", "--sm", "max", "--dry-run"])
    assert r.exit_code == 0 and "nvmlDeviceSetGpuLockedClocks" in r.output and "nothing was changed" in r.output
    assert list(tmp_path.iterdir()) == []


# The C++ threads KeepWarm and Pacer start (cpp/src/warm.cpp names them).
_CPP_THREADS = ("trtpace-warm", "trtpace-prewarm")


def _trtpace_threads() -> int:
    """trtpace's C++ worker threads, by name: other libraries may start and keep threads of their
    own (CUDA's), so the process's thread count proves nothing; and Python 3.14 gives the OS
    thread of trtpace's Python samplers (trtpace-telemetry, trtpace-host-cpu) their names too."""
    import contextlib
    import os

    names = []
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            names.append(Path(f"/proc/self/task/{tid}/comm").read_text().strip())
    return sum(n in _CPP_THREADS for n in names)


def test_every_policy_runs() -> None:
    from trtpace.results.policies import recommend, summarize_policies

    policies = [
        "sleep",
        "spin",
        "hybrid",
        "sync-block",
        "sync-yield",
        "keepwarm:1ms",
        "prewarm:2ms",
        "direct",
        "spin+keepwarm:200us",
    ]
    result = trtpace.compare("tiny", 0.02, policies, rounds=1, iterations=15, warmup=3)
    summaries = summarize_policies(result)
    assert [s.policy for s in summaries] == ["continuous", *policies]
    for s in summaries:
        assert s.e2e_us["n"] == 15 and np.isfinite(s.e2e_us["p50"]) and np.isfinite(s.cpu_pct)
    assert recommend(summaries) is not None
    fired = {c.policy: c.info["fillers_fired"] for c in result.conditions}
    assert fired["keepwarm:1ms"] > 15 and fired["prewarm:2ms"] >= 15 and fired["spin"] == 0
    # Each filler is 5 us of one SM: the SM time a policy holds is what it fired, nothing else.
    work = {c.policy: c.info["filler_work_ns"] for c in result.conditions}
    assert work["keepwarm:1ms"] == fired["keepwarm:1ms"] * 5_000 and work["spin"] == 0
    held = {s.policy: s.sm_held_pct for s in summaries}
    assert held["spin"] == 0 and 0 < held["keepwarm:1ms"] < 1


def test_keepwarm_never_delays_an_inference(tiny: workloads.Workload) -> None:
    from trtpace.measure.policies import parse_policy

    p = pacing.gap(0.01)
    plain = run_paced(tiny, p, iterations=60, warmup=5, wait="hybrid", sync="spin")
    warm = run_paced(
        tiny, p, iterations=60, warmup=5, wait="hybrid", sync="spin", policy=parse_policy("keepwarm:200us")
    )
    assert warm.fillers_fired > 60 * 10
    late = lambda out: (out.records["issue_ns"] - out.records["due_ns"]) / 1e3
    # Keep-warm stops before each due time: issues are as punctual as without it (pacing tolerance 20 us).
    assert np.percentile(late(warm), 99) <= np.percentile(late(plain), 99) + 20
    assert np.median(late(warm)) < 5


def test_keepwarm_and_pacer_start_stop_and_clean_up() -> None:
    assert _trtpace_threads() == 0
    with trtpace.KeepWarm(period_ms=0.5, work_us=5, gpu=0) as kw:
        import time

        assert _trtpace_threads() == 1
        time.sleep(0.05)
        with kw.inference():
            paused_at = kw.fired
            time.sleep(0.02)
            assert kw.fired <= paused_at + 1
        time.sleep(0.02)
        assert kw.running and kw.fired > paused_at
    assert not kw.running and _trtpace_threads() == 0
    kw.stop()  # twice is fine

    tiny = workloads.build("tiny", gpu=0)
    with trtpace.Pacer(tiny, prewarm_lead_ms=1.0) as pacer:
        assert _trtpace_threads() == 1
        c = pacer.run(20, gap_s=0.005, warmup=2)
        assert c.count == 22 and np.isfinite(c.column("e2e_us")).all()
        for _ in range(5):
            pacer.expect(_core.now_ns() + 3_000_000)
            _core.wait_until_ns(_core.now_ns() + 3_000_000, "hybrid")
            rec = pacer.infer()
            assert rec["done_ns"] > rec["submitted_ns"] > rec["issue_ns"] and rec["device_us"] > 0
    assert _trtpace_threads() == 0


def test_cli_torch_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    (tmp_path / "mymodel.py").write_text(
        "import torch\n"
        "def make():\n"
        "    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU()).cuda().eval()\n"
        "    return net, (torch.randn(1, 3, 32, 32, device='cuda'),)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    r = CliRunner().invoke(
        app,
        [
            "sweep",
            "--torch",
            "mymodel:make",
            "--launch",
            "graph",
            "--gaps",
            "0.01",
            "--iterations",
            "10",
            "--out",
            str(tmp_path / "r"),
            "--json",
            "--no-report",
        ],
    )
    assert r.exit_code == 0, r.output
    cond = json.loads(r.stdout)["conditions"][1]
    assert cond["workload"] == "mymodel:make" and cond["device_timing"] == "graph-event-nodes"
    r = CliRunner().invoke(app, ["sweep", "--torch", "mymodel:missing", "--out", str(tmp_path / "r2")])
    assert r.exit_code == 2 and "has no 'missing'" in r.output


# --- launch paths of a PyTorch module (issue #12); need torch with CUDA as well as a GPU ---------


def _torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")
    return torch


@pytest.mark.parametrize("io", ["none", "pinned"])
def test_torch_module_through_every_launch_path(io: str, tmp_path: Path) -> None:
    _torch_cuda()
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.models import conv_net

    module, inputs = conv_net()
    wls = workloads.from_torch_paths(module, inputs, ["eager", "replay", "graph"], name="conv", io=io)
    assert [w.info["launch"] for w in wls] == ["eager", "replay", "graph"]
    result = trtpace.sweep(wls, gaps_s=[0.02], iterations=40, warmup=5, out=tmp_path / "r")
    rows = result.rows()
    assert [(r["launch"], r["pacing"]["gap_s"]) for r in rows] == [
        (p, g) for p in ("eager", "replay", "graph") for g in (0, 0.02)
    ]
    assert all(r["io"] == io for r in rows)
    p50 = {r["launch"]: r["summary"]["e2e_us"]["p50"] for r in rows if r["pacing"]["gap_s"] == 0}
    submit = {r["launch"]: r["summary"]["submit_us"]["p50"] for r in rows if r["pacing"]["gap_s"] == 0}
    # one graph launch from C++ submits far faster than ~40 ops launched one by one from Python
    assert submit["graph"] < submit["eager"] and p50["graph"] < p50["eager"]
    for r in rows:
        assert r["status"] == "done" and r["summary"]["e2e_us"]["n"] == 40
    assert any("switching eager -> graph" in s["line"] for s in result.launch_switches())


def test_pinned_io_python_paths_exit_cleanly(tmp_path: Path) -> None:
    """PyTorch's pinned-memory allocator records events on the streams its buffers were copied on
    when it frees them, at exit too: the runner's stream must still exist then (it crashed when
    the workload owned it)."""
    _torch_cuda()
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, '.')\n"
        "from bench.models import conv_net\n"
        "from trtpace.measure import pacing\n"
        "from trtpace.measure.runner import run_paced\n"
        "from trtpace.measure.workloads import from_torch\n"
        "module, inputs = conv_net()\n"
        "for launch in ('eager', 'replay'):\n"
        "    w = from_torch(module, inputs, launch=launch, io='pinned')\n"
        "    o = run_paced(w, pacing.gap(0.002), iterations=10, warmup=2, wait='hybrid', sync='spin')\n"
        "    assert o.error is None, o.error\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parent.parent
    p = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", code], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stdout + p.stderr[-3000:]


def test_callable_runs_on_a_lent_stream() -> None:
    torch = _torch_cuda()
    s = torch.cuda.Stream()
    seen: list[int] = []
    w = workloads.from_callable(seen.append, stream=s.cuda_stream)
    out = run_paced(w, pacing.gap(0.0), iterations=3, warmup=0, wait="spin", sync="spin")
    assert out.error is None and seen == [s.cuda_stream] * 3


def test_replay_runs_on_trtpaces_stream() -> None:
    torch = _torch_cuda()
    module, inputs = torch.nn.Linear(256, 256).cuda().half(), (torch.randn(8, 256, device="cuda").half(),)
    w = workloads.from_torch(module, inputs, launch="replay")
    out = run_paced(w, pacing.gap(0.001), iterations=20, warmup=2, wait="spin", sync="spin")
    assert out.error is None
    _ = out.records["done_ns"]
    # the replay was waited for by the runner's sync on its own stream: nothing left pending
    assert torch.cuda.current_stream().query()


def test_sweep_cli_torch_launch_paths(tmp_path: Path) -> None:
    _torch_cuda()
    r = CliRunner().invoke(
        app,
        [
            "sweep",
            "--torch",
            "bench.models:transformer_block",
            "--launch",
            "eager,graph",
            "--gaps",
            "0,0.01",
            "--iterations",
            "30",
            "--warmup",
            "3",
            "--json",
            "--out",
            str(tmp_path / "r"),
            "--no-report",
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [c["launch"] for c in doc["conditions"]] == ["eager", "eager", "graph", "graph"]


def test_compare_cli_on_the_eager_path_shows_the_graph_switch(tmp_path: Path) -> None:
    _torch_cuda()
    r = CliRunner().invoke(
        app,
        [
            "compare",
            "--torch",
            "bench.models:conv_net",
            "--launch",
            "eager",
            "--policies",
            "sleep,spin+cpu-awake",
            "--gap",
            "0.02",
            "--rounds",
            "2",
            "--iterations",
            "20",
            "--json",
            "--out",
            str(tmp_path / "c"),
            "--no-report",
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert {(p["policy"], p["launch"]) for p in doc["policies"]} >= {("sleep", "eager"), ("sleep", "graph")}
    assert any(line.startswith("switching eager -> graph") for line in doc["switching"])


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
    _check_records(out.records, kept)
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
    _check_records(out.records, n)
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
    _check_records(out.records, 5)
