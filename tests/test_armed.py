"""Armed launch: the API and its errors on any machine; ordering, cancel, leaks and exits on a GPU."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import trtpace
from trtpace import _core, pacing, workloads
from trtpace.measure.policies import parse_policy
from trtpace.measure.runner import make_runner, resolve_armed_gate, run_paced


@pytest.mark.parametrize(
    ("text", "gate", "cancellable", "timeout_ms"),
    [
        ("armed", "auto", False, 0.0),
        ("armed:wait", "wait", False, 0.0),
        ("armed:kernel:cancellable", "kernel", True, 0.0),
        ("spin+armed:kernel:timeout=50ms", "kernel", False, 50.0),
        ("armed:resident:timeout=2s", "resident", False, 2000.0),
    ],
)
def test_armed_policies_parse(text: str, gate: str, cancellable: bool, timeout_ms: float) -> None:
    p = parse_policy(text)
    assert (p.armed_gate, p.armed_cancellable, p.arm_timeout_ms) == (gate, cancellable, timeout_ms)
    assert p.sync == "flag"  # armed inferences wait on the GPU's word unless a sync-* token says otherwise
    kw = p.runner_kwargs()
    assert kw["armed_gate"] == gate and kw["arm_timeout_ns"] == round(timeout_ms * 1e6)


def test_a_named_sync_mode_overrides_the_armed_default() -> None:
    assert parse_policy("armed:kernel+sync-spin").sync == "spin"
    assert parse_policy("sync-block+armed").sync == "block"
    assert parse_policy("sleep").sync == "spin"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("armed:sometimes", "is not wait, kernel, resident, cancellable"),
        ("armed:resident:cancellable", "no cancellable form"),
        ("armed:wait:timeout=1ms", "needs the kernel gate"),
        ("armed+prewarm-graph:100us", "exclude each other"),
    ],
)
def test_bad_armed_policies_say_why(text: str, message: str) -> None:
    with pytest.raises(trtpace.UsageError, match=message):
        parse_policy(text)


def test_unarmed_policy_runs_unarmed() -> None:
    assert parse_policy("spin").runner_kwargs()["armed_gate"] == "off"


def test_a_host_workload_cannot_be_armed() -> None:
    host = workloads.host(5)
    with pytest.raises(trtpace.UsageError, match="cannot be armed"):
        trtpace.Pacer(host, armed="kernel")
    with pytest.raises(ValueError, match="armed launch needs a GPU workload"):
        make_runner(host.core, _core.Schedule.closed_gap(0), 5, 0, "spin", "spin", armed_gate="kernel")


def test_release_and_wait_need_an_armed_pacer() -> None:
    pacer = trtpace.Pacer(workloads.host(5))
    with pytest.raises(trtpace.UsageError, match="without armed"):
        pacer.release()
    with pytest.raises(trtpace.UsageError, match="without armed"):
        pacer.arm()
    pacer.cancel()  # nothing armed: harmless
    with pytest.raises(trtpace.UsageError, match="one of wait, kernel, resident"):
        trtpace.Pacer(workloads.host(5), armed="always")
    with pytest.raises(trtpace.UsageError, match="no cancellable form"):
        trtpace.Pacer(workloads.host(5), armed="resident", armed_cancellable=True)
    with pytest.raises(trtpace.UsageError, match="cannot be armed"):
        trtpace.Pacer(workloads.host(5), armed="resident")
    with pytest.raises(trtpace.UsageError, match="sync must be one of spin, block, yield, flag"):
        trtpace.Pacer(workloads.host(5), sync="poll")


def test_unknown_gate_is_refused_by_the_core() -> None:
    with pytest.raises(ValueError, match="expected wait, kernel or resident"):
        make_runner(workloads.host(5).core, _core.Schedule.closed_gap(0), 5, 0, "spin", "spin", armed_gate="door")


# --- on a GPU ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny() -> workloads.Workload:
    return workloads.build("tiny", gpu=0)


@pytest.mark.gpu
@pytest.mark.parametrize("sync", ["spin", "flag"])
@pytest.mark.parametrize("gate", ["kernel", "wait"])
def test_armed_runner_records_and_gpu_side_ordering(gate: str, sync: str) -> None:
    w = workloads.build("synthetic:us=30,kernels=12", gpu=0)
    policy = parse_policy(f"armed:{gate}+sync-{sync}")
    out = run_paced(w, pacing.gap(0.002), iterations=200, warmup=5, wait="hybrid", sync=sync, policy=policy)
    assert out.error is None
    r = out.records
    assert (r["armed_ns"] > 0).all()
    assert (r["armed_ns"] < r["issue_ns"]).all()  # queued before the input arrived
    assert (r["armed_ns"][1:] >= r["done_ns"][:-1]).all()  # and after the previous one completed
    submit_us = (r["submitted_ns"] - r["issue_ns"]) / 1e3
    assert np.median(submit_us) < 5  # the critical path is one store
    # Ordering on the GPU's own clock: the first kernel never starts before the gate saw the release
    # (both stamps come from %globaltimer and are mapped to the host clock with the same offset).
    if gate == "kernel":
        assert (r["gate_ns"] > 0).all()
        assert (r["gpu_start_ns"] >= r["gate_ns"]).all()
        # compute capability 9.0+: the model's first kernels hang on the gate by programmatic edges
        major = int(_core.device_info(0)["compute_capability"].split(".")[0])
        assert w.core.gate_state["programmatic"] == (major >= 9)
    assert (r["device_us"] > 0).all()
    if gate == "kernel":  # the host saw completion after the GPU finished (GPU clock mapped to the host's)
        assert (r["done_ns"] >= r["gpu_start_ns"] + (r["device_us"] * 1e3).astype(np.int64) - 5_000).all()


@pytest.mark.gpu
def test_resident_loop_runs_every_frame_from_one_launch() -> None:
    w = workloads.build("synthetic:us=30,kernels=12", gpu=0)
    policy = parse_policy("armed:resident:timeout=5s")
    assert resolve_armed_gate(w, policy) == (policy, None)  # a graph workload: no fallback
    out = run_paced(w, pacing.gap(0.002), iterations=200, warmup=5, wait="hybrid", sync="flag", policy=policy)
    assert out.error is None
    r = out.records
    assert (r["armed_ns"] > 0).all() and (r["armed_ns"] < r["issue_ns"]).all()
    assert np.median((r["submitted_ns"] - r["issue_ns"]) / 1e3) < 5  # the critical path is one store
    assert (r["device_us"] > 0).all() and not r["relaunched"].any()
    assert (r["gate_ns"] > 0).all()
    # the GPU saw each release after it was made and before the host saw the frame done
    assert (r["gate_ns"] >= r["issue_ns"] - 5_000).all() and (r["gate_ns"] <= r["done_ns"] + 5_000).all()
    state = w.core.gate_state
    assert state["launches"] == 1 and state["done_seq"] == 205 and not state["running"], state  # ended by the run
    assert w.core.device_timing == "resident-globaltimer"


@pytest.mark.gpu
def test_resident_falls_back_to_per_frame_arming_where_there_is_no_graph() -> None:
    w = workloads.build("synthetic:us=30,kernels=12,launch=direct", gpu=0)
    policy, line = resolve_armed_gate(w, parse_policy("armed:resident"))
    assert policy.armed_gate == "kernel" and line and "per frame" in line and "not a CUDA graph" in line
    out = run_paced(w, pacing.gap(0.002), iterations=50, warmup=2, wait="hybrid", sync="flag", policy=policy)
    assert out.error is None and (out.records["device_us"] > 0).all()


@pytest.mark.gpu
@pytest.mark.parametrize("spec", ["tiny", "synthetic:us=30,kernels=12,launch=direct"])
def test_sync_flag_waits_for_the_whole_inference_on_plain_launches(spec: str) -> None:
    w = workloads.build(spec, gpu=0)
    out = run_paced(w, pacing.gap(0.001), iterations=100, warmup=3, wait="hybrid", sync="flag")
    assert out.error is None
    r = out.records
    assert (r["device_us"] > 0).all() and (r["done_ns"] > r["submitted_ns"]).all()
    # The next inference never starts before the host saw the last one done (closed loop).
    assert (r["issue_ns"][1:] >= r["done_ns"][:-1] + 1_000_000).all()


@pytest.mark.gpu
@pytest.mark.parametrize("gate", ["kernel", "wait"])
def test_cancel_skips_the_cancellable_body(gate: str) -> None:
    counting = _core._CountingGraph(0)
    w = workloads.from_graph(counting.handle, gpu=0, keepalive=counting)
    w.core.enable_arming(gate, True, 0)
    for _ in range(200):
        w.core.arm()
        w.core.cancel()
    assert counting.count == 0  # the counter kernel in the body never ran
    for i in range(50):
        w.core.arm()
        w.core.release()
        w.core.wait_complete()
        assert counting.count == i + 1  # every release ran exactly once
    w.core.cancel()
    w.core.cancel()  # cancelling twice is harmless


@pytest.mark.gpu
def test_a_kernel_gate_holds_one_sm_through_the_gap_and_a_stream_wait_none() -> None:
    from trtpace.results.policies import summarize_policies

    result = trtpace.compare("tiny", 0.01, ["armed:kernel", "armed:wait"], rounds=1, iterations=20, warmup=2)
    held = {s.policy: s.sm_held_pct for s in summarize_policies(result)}
    assert held["continuous"] == 0 and held["armed:wait"] == 0
    assert 80 < held["armed:kernel"] <= 100  # armed through each 10 ms gap, released for ~0.1 ms


@pytest.mark.gpu
def test_arm_release_errors_and_discard() -> None:
    counting = _core._CountingGraph(0)
    w = workloads.from_graph(counting.handle, gpu=0, keepalive=counting)
    with pytest.raises(trtpace.TrtpaceError, match="before enable_arming"):
        w.core.arm()
    w.core.enable_arming("kernel", False, 0)
    with pytest.raises(trtpace.TrtpaceError, match="without an armed inference"):
        w.core.release()
    w.core.arm()
    with pytest.raises(trtpace.TrtpaceError, match="already armed"):
        w.core.arm()
    w.core.cancel()  # not cancellable: the body runs, its output discarded
    assert counting.count == 1


@pytest.mark.gpu
def test_kernel_gate_timeout_lets_go_in_skip_mode() -> None:
    counting = _core._CountingGraph(0)
    w = workloads.from_graph(counting.handle, gpu=0, keepalive=counting)
    w.core.enable_arming("kernel", True, 2_000_000)  # 2 ms
    w.core.arm()
    w.core.wait_complete()  # nobody releases: the gate gives up by itself
    state = w.core.gate_state
    assert counting.count == 0 and state["timed_out_seq"] == state["armed_seq"] == 1
    w.core.cancel()


@pytest.mark.gpu
def test_ten_thousand_arm_release_cycles() -> None:
    pacer = trtpace.Pacer(workloads.build("synthetic:us=5,kernels=2", gpu=0), armed="kernel")
    for _ in range(10_000):
        pacer.arm()
        pacer.release()
        rec = pacer.wait()
    assert rec["done_ns"] > rec["issue_ns"] > rec["armed_ns"] > 0
    state = pacer.workload.core.gate_state
    assert state["seen_seq"] == state["release_seq"] == state["armed_seq"] == 10_000
    pacer.close()


@pytest.mark.gpu
def test_pacer_records_split_release_to_done_on_one_clock() -> None:
    """The gate's and the done word's GPU stamps, mapped with gpu_clock_offset(), fall in order
    between the host's release and its seeing the done word."""
    with trtpace.Pacer(workloads.build("synthetic:us=200,kernels=4", gpu=0), armed="kernel") as pacer:
        pacer.arm()
        with pytest.raises(trtpace.TrtpaceError, match="while armed"):
            pacer.gpu_clock_offset()
        pacer.cancel()
        before = pacer.gpu_clock_offset()
        recs = []
        for _ in range(20):
            pacer.arm()
            time.sleep(0.005)
            pacer.release()
            rec = pacer.wait()
            recs.append(dict(rec))
        after = pacer.gpu_clock_offset()
    slack = (
        max(before["uncertainty_ns"], after["uncertainty_ns"]) + abs(after["offset_ns"] - before["offset_ns"]) + 2_000
    )
    for rec in recs:
        gate = rec["gate_gt_ns"] - before["offset_ns"]
        done = rec["done_gt_ns"] - before["offset_ns"]
        assert rec["issue_ns"] - slack <= gate <= done <= rec["done_ns"] + slack
        # the model (~200 us) runs between the gate and the done word
        assert done - gate >= 0.8 * rec["device_us"] * 1e3
        assert rec["wait_driver_calls"] >= 0 and rec["wait_driver_us"] >= 0


@pytest.mark.gpu
@pytest.mark.parametrize("how", ["exit", "kill", "exception"])
def test_a_process_ending_while_armed_leaves_the_gpu_usable(how: str, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, signal, trtpace
        from trtpace import workloads
        pacer = trtpace.Pacer(workloads.build("synthetic:us=10,kernels=2", gpu=0), armed="kernel")
        pacer.arm()
        if "{how}" == "exit":
            os._exit(0)
        if "{how}" == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        with pacer:
            pacer.arm() if not pacer.armed else None
            raise RuntimeError("the app failed while armed")
    """)
    subprocess.run([sys.executable, "-c", script], timeout=60, check=False, capture_output=True)
    after = subprocess.run(
        [
            sys.executable,
            "-m",
            "trtpace",
            "sweep",
            "-w",
            "tiny",
            "--gaps",
            "0,0.01",
            "--iterations",
            "30",
            "--no-report",
            "--json",
            "--out",
            str(tmp_path / "after"),
        ],
        timeout=120,
        check=False,
        capture_output=True,
        text=True,
    )
    assert after.returncode == 0, after.stderr


@pytest.mark.gpu
@pytest.mark.parametrize("sync", ["spin", "flag"])
def test_pacer_staged_input_pattern_from_python(sync: str) -> None:
    torch = pytest.importorskip("torch")
    from trtpace.measure.workloads.torch_module import capture_graph

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU()).cuda().eval()
    staging = torch.empty(1, 3, 32, 32).pin_memory()  # the app writes each new input here
    x = torch.empty(1, 3, 32, 32, device="cuda")

    class Staged(torch.nn.Module):
        def forward(self, _: object) -> object:
            x.copy_(staging, non_blocking=True)  # inside the graph: the armed work reads it
            return net(x)

    g, y = capture_graph(Staged(), (x,))
    pacer = trtpace.Pacer(workloads.from_graph(g.raw_cuda_graph(), gpu=0, keepalive=(g, y)), armed="kernel", sync=sync)
    for k in range(20):
        pacer.arm()
        staging.fill_(float(k))  # the input arrives while armed
        pacer.release()
        pacer.wait()
        expected = net(torch.full((1, 3, 32, 32), float(k), device="cuda"))
        assert torch.allclose(y, expected, atol=1e-4)
    pacer.close()
