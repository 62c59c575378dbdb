"""GPU tests: a PyTorch module through each launch path (eager, python, replay, direct, graph), with and
without pinned I/O (issue #12); they need PyTorch with CUDA as well as a GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.measure import pacing, workloads
from trtpace.measure.runner import run_paced

pytestmark = pytest.mark.gpu


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
