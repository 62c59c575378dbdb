"""GPU tests (marker `gpu`; skipped where CUDA sees none): the paced runner, synthetic workloads,
timers and the in-band probe, sweeps end to end, the CLI, remedies and policies. The PyTorch launch
paths are in test_gpu_torch_paths.py, the error paths in test_gpu_error_paths.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import trtpace
from gpu_checks import check_records
from trtpace import _core
from trtpace.cli import app
from trtpace.measure import pacing, workloads
from trtpace.measure.runner import run_paced

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def tiny() -> workloads.Workload:
    return workloads.build("tiny", gpu=0)


@pytest.mark.parametrize("sync", ["spin", "block", "yield", "flag"])
def test_runner_records_complete_and_ordered(tiny: workloads.Workload, sync: str) -> None:
    out = run_paced(tiny, pacing.gap(0.001), iterations=40, warmup=5, wait="hybrid", sync=sync)
    assert out.error is None and not out.interrupted
    check_records(out.records, 45)
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
    check_records(out.records, 35)


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
    check_records(out.records, 32)
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
    check_records(out.records, 32)
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
