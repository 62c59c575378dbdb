"""--gpu all / 0,2: one spawned worker per GPU, the parent the one writer of the results folder.

The coordination (spawn, barrier, together/alone rounds, merge, interruption, a failing worker)
runs for real here with host workloads, whose workers need no GPU; the gpu-marked tests run two
workers on GPU 0 (--allow-shared-gpu)."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import trtpace
from running_sweep import start_sweep
from trtpace.cli import app
from trtpace.errors import UsageError
from trtpace.platform import device
from trtpace.run.sweep import sweep as run_sweep
from trtpace.run.workers import WorkerError, gpu_labels, parse_gpus, run_on_gpus


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


# ---- parsing --gpu ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "shared", "expected"),
    [
        ("all", 3, False, [0, 1, 2]),
        ("0,2", 3, False, [0, 2]),
        (" 1 ", 2, False, [1]),
        ("0,0", 1, True, [0, 0]),
        ("5,7", None, False, [5, 7]),  # host work: indices only name the workers
    ],
)
def test_parse_gpus_accepts(text: str, count: int | None, shared: bool, expected: list[int]) -> None:
    assert parse_gpus(text, gpu_count=count, allow_shared=shared) == expected


@pytest.mark.parametrize(
    ("text", "count", "message"),
    [
        ("all", 0, "--gpu all: CUDA sees no GPU"),
        ("0,x", 2, "--gpu takes an index"),
        ("", 2, "--gpu takes an index"),
        ("0,,1", 2, "--gpu takes an index"),
        ("-1", 2, "--gpu must be >= 0, got -1"),
        ("0,-2", None, "must be >= 0"),
        ("0,2", 2, "--gpu 2 is out of range: CUDA sees 2 GPU(s), indices 0 to 1"),
        ("1,0,1", 2, "names GPU 1 twice: pass --allow-shared-gpu"),
    ],
)
def test_parse_gpus_refuses(text: str, count: int | None, message: str) -> None:
    with pytest.raises(UsageError, match=None) as e:
        parse_gpus(text, gpu_count=count)
    assert message in str(e.value)


def test_labels_name_a_shared_gpu_twice() -> None:
    assert gpu_labels([0, 2, 0, 0]) == ["gpu0", "gpu2", "gpu0#2", "gpu0#3"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-w", "host:us=50", "--gpu", "0,0"], 2, "names GPU 0 twice"),
        (["-w", "host:us=50", "--gpu", "0,-1"], 2, "--gpu must be >= 0"),
        (["-w", "host:us=50", "--gpu", "zero"], 2, "--gpu takes an index"),
        (["-w", "host:us=50", "--gpu", "0,1", "--gpu-rounds", "0"], 2, "--gpu-rounds must be >= 1"),
    ],
)
def test_cli_refuses_bad_gpu_lists_before_running(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    for command in ("sweep", "compare"):
        r = invoke(command, *args, "--out", str(tmp_path / command))
        assert r.exit_code == code, r.output
        assert message in r.output and len(r.output.strip().splitlines()) == 1
        assert not (tmp_path / command).exists()


def test_cli_checks_gpu_indices_against_what_cuda_sees(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Two GPUs cannot be arranged here: only what CUDA reports is replaced; parsing and checks are real.
    probe = {
        "runtime_version": 13000,
        "driver_version": 13000,
        "device_count": 2,
        "error_code": 0,
        "error_name": "",
        "error_string": "",
    }
    monkeypatch.setattr(device._core, "probe_cuda", lambda: probe)
    monkeypatch.setattr(device._core, "device_info", lambda i: {"index": i, "name": "fake", "pci_bus_id": f"0:{i}"})
    r = invoke("sweep", "-w", "tiny", "--gpu", "0,2", "--out", str(tmp_path / "r"))
    assert r.exit_code == 2 and "GPU 2 is out of range: CUDA sees 2 GPU(s)" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


@pytest.mark.skipif(device.gpu_count() > 0, reason="checks the machine without a GPU")
def test_gpu_work_on_several_gpus_without_a_gpu_is_one_line(tmp_path: Path) -> None:
    r = invoke("sweep", "-w", "tiny", "--gpu", "0,1", "--out", str(tmp_path / "r"))
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    r = invoke("sweep", "-w", "host:us=50", "--gpu", "all", "--out", str(tmp_path / "r"))
    assert r.exit_code == 2 and "CUDA sees no GPU" in r.output


# ---- coordination, end to end with host workloads ---------------------------------------------


def _windows(result: trtpace.SweepResult) -> list[tuple[str, str, int, int, int]]:
    return [
        (c.gpu_label, c.gpu_mode, i, int(c.records["issue_ns"][0]), int(c.records["done_ns"][-1]))
        for i, c in enumerate(result.conditions)
    ]


def test_sweep_on_two_workers_together_and_alone(tmp_path: Path) -> None:
    out = tmp_path / "r"
    r = invoke(
        "sweep",
        "-w",
        "host:us=200",
        "--gaps",
        "0,0.002",
        "--iterations",
        "60",
        "--warmup",
        "2",
        "--gpu",
        "0,1",
        "--gpu-rounds",
        "2",
        "--out",
        str(out),
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    loaded = trtpace.load(out)
    # 2 workers x 2 pacings x (together + alone) x 2 rounds, every one written by the parent
    assert len(loaded.conditions) == 16 and {c.status for c in loaded.conditions} == {"done"}
    for c in loaded.conditions:
        g = c.info["gpu"]
        assert g["label"] in ("gpu0", "gpu1") and g["host"] and g["uuid"] is None and g["name"] is None
        assert c.gpu_mode in ("together", "alone") and c.info["gpu_round"] in (0, 1)
    assert sorted(loaded.settings["gpus"]) == ["gpu0", "gpu1"] and loaded.settings["gpu_rounds"] == 2
    # Round 1 runs together first, round 2 alone first.
    modes = [(c.info["gpu_round"], c.gpu_mode) for c in loaded.conditions]
    assert modes[0] == (0, "together") and modes[8] == (1, "alone") and modes[-1] == (1, "together")
    # Together: the barrier starts each condition on both workers at once, so their windows overlap;
    # alone: no other worker runs meanwhile.
    w = _windows(loaded)
    for label, mode, i, a, b in w:
        others = [(x, y) for lab, _, j, x, y in w if j != i and lab != label and x < b and a < y]
        if mode == "together":
            assert others, f"{label} together condition {i} ran while no other GPU did"
        else:
            assert not others, f"{label} alone condition {i} overlapped another worker"
    # Penalties compare within one GPU, mode and round: each baseline is its own group's gap 0.
    for c in loaded.conditions:
        b = loaded.baseline(c)
        assert b is not None and b.gpu_group == c.gpu_group and b.pacing.is_continuous
    together = {g["gpu"]: g for g in doc["together_vs_alone"]}
    assert set(together) == {"gpu0", "gpu1"}
    for g in together.values():
        assert len(g["conditions"]) == 2 and 0.3 < g["ratio_p50"] < 3
        for x in g["conditions"]:
            assert x["ratio"] == pytest.approx(x["p50_together_us"] / x["p50_alone_us"])
    html = (out / "report.html").read_text()
    assert 'id="together-vs-alone"' in html and "gpu1: p50 together / alone" in html


def test_tables_are_grouped_by_gpu_and_csv_names_it(tmp_path: Path) -> None:
    out = tmp_path / "r"
    r = invoke(
        "sweep",
        "-w",
        "host:us=100",
        "--gaps",
        "0,0.001",
        "--iterations",
        "20",
        "--warmup",
        "0",
        "--gpu",
        "3,1",
        "--out",
        str(out),
    )
    assert r.exit_code == 0, r.output
    titles = [line.strip() for line in r.stdout.splitlines() if line.strip().startswith("trtpace sweep:")]
    assert titles == [
        "trtpace sweep: gpu3, together",
        "trtpace sweep: gpu3, alone",
        "trtpace sweep: gpu1, together",
        "trtpace sweep: gpu1, alone",
    ]
    assert "running together vs alone" in r.stdout
    from trtpace.report.html import write_csv

    write_csv(trtpace.load(out), tmp_path / "s.csv")
    lines = (tmp_path / "s.csv").read_text().splitlines()
    header = lines[0].split(",")
    gpus = {line.split(",")[header.index("gpu")] for line in lines[1:]}
    modes = {line.split(",")[header.index("gpu_mode")] for line in lines[1:]}
    assert gpus == {"gpu3", "gpu1"} and modes == {"together", "alone"}


def test_shared_gpu_needs_the_flag_and_names_each_worker(tmp_path: Path) -> None:
    r = invoke(
        "sweep",
        "-w",
        "host:us=50",
        "--gaps",
        "0",
        "--iterations",
        "10",
        "--warmup",
        "0",
        "--gpu",
        "0,0",
        "--allow-shared-gpu",
        "--out",
        str(tmp_path / "r"),
        "--no-report",
    )
    assert r.exit_code == 0, r.output
    labels = {c.gpu_label for c in trtpace.load(tmp_path / "r").conditions}
    assert labels == {"gpu0", "gpu0#2"}


def test_compare_on_two_workers(tmp_path: Path) -> None:
    r = invoke(
        "compare",
        "-w",
        "host:us=100",
        "--gap",
        "0.002",
        "--policies",
        "sleep,spin",
        "--rounds",
        "2",
        "--iterations",
        "20",
        "--warmup",
        "1",
        "--gpu",
        "0,1",
        "--out",
        str(tmp_path / "r"),
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    groups = {(g["gpu"], g["gpu_mode"]) for g in doc["gpus"]}
    assert groups == {("gpu0", "together"), ("gpu0", "alone"), ("gpu1", "together"), ("gpu1", "alone")}
    for g in doc["gpus"]:
        assert [p["policy"] for p in g["policies"]][:3] == ["continuous", "sleep", "spin"]
        assert all(p["rounds"] == 2 for p in g["policies"])
    assert {g["gpu"] for g in doc["together_vs_alone"]} == {"gpu0", "gpu1"}
    # 2 workers x 3 steps x 2 compare rounds x (together + alone)
    assert len(trtpace.load(tmp_path / "r").conditions) == 24


def failing_job(gpu_done: Path, gpu: int, progress: object) -> trtpace.SweepResult:
    """A worker whose second GPU fails after one condition, as a CUDA error would end it, once the
    first GPU's condition has been sent (so what the test expects saved was measured)."""
    result = run_sweep("host:us=50", [0], iterations=30, warmup=0, gpu=gpu, progress=progress, telemetry=False)  # type: ignore[arg-type]
    if gpu == 0:
        gpu_done.touch()
        return result
    deadline = time.monotonic() + 60
    while not gpu_done.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    raise trtpace.CudaError("cudaStreamSynchronize: an illegal memory access was encountered")


def test_a_failing_worker_ends_the_run_naming_its_gpu(tmp_path: Path) -> None:
    with pytest.raises(WorkerError, match=r"^gpu1: cudaStreamSynchronize: an illegal memory access"):
        run_on_gpus(functools.partial(failing_job, tmp_path / "gpu0-done"), [0, 1], out=tmp_path / "r")
    loaded = trtpace.load(tmp_path / "r")  # what finished before the failure is saved
    assert {(c.gpu_label, c.status) for c in loaded.conditions} == {("gpu0", "done"), ("gpu1", "done")}


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _gone(pid: int) -> bool:
    try:
        return "\tZ" in Path(f"/proc/{pid}/status").read_text().split("State:")[1][:4]
    except (OSError, IndexError):
        return True


def _start_long_run(out: Path) -> subprocess.Popen[str]:
    # until the second together condition (about 50 s long) runs
    return start_sweep(
        ["-w", "host:us=200", "--gaps", "0,0.05", "--iterations", "1000", "--warmup", "0", "--gpu", "0,1"],
        out,
        lambda n: n >= 2,
        "the first conditions never landed",
    )


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_every_worker_and_saves_their_partial_conditions(tmp_path: Path, sig: int, code: int) -> None:
    out = tmp_path / "r"
    proc = _start_long_run(out)
    workers = _children(proc.pid)
    assert len(workers) >= 2  # the two workers (and the resource tracker of multiprocessing, if any)
    proc.send_signal(sig)  # the parent only, as `kill` or a timeout does
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not stop")
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "the finished conditions and the partial one are saved" in stderr
    loaded = trtpace.load(out)
    statuses = sorted((c.gpu_label, c.status) for c in loaded.conditions)
    assert statuses == [("gpu0", "done"), ("gpu0", "partial"), ("gpu1", "done"), ("gpu1", "partial")]
    assert all(0 < c.count < 1000 for c in loaded.conditions if c.status == "partial")
    deadline = time.monotonic() + 10
    while not all(_gone(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(p) for p in workers), "a worker outlived the run"


def test_a_worker_that_dies_ends_the_run_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = _start_long_run(out)
    workers = sorted(_children(proc.pid))
    assert workers
    os.kill(workers[-1], signal.SIGKILL)  # as a crash in the driver would
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    lines = [x for x in stderr.strip().splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "worker process ended unexpectedly (exit code -9)" in lines[0]
    assert lines[0].startswith("error: gpu")
    loaded = trtpace.load(out)
    assert sum(c.status == "done" for c in loaded.conditions) >= 2


# ---- on a GPU: two workers on GPU 0 -----------------------------------------------------------


@pytest.mark.gpu
def test_gpu_sweep_two_workers_on_gpu0(tmp_path: Path) -> None:
    r = invoke(
        "sweep",
        "-w",
        "tiny",
        "--gaps",
        "0,0.01",
        "--iterations",
        "100",
        "--warmup",
        "5",
        "--gpu",
        "0,0",
        "--allow-shared-gpu",
        "--out",
        str(tmp_path / "r"),
        "--json",
    )
    assert r.exit_code == 0, r.output
    loaded = trtpace.load(tmp_path / "r")
    assert len(loaded.conditions) == 8 and {c.status for c in loaded.conditions} == {"done"}
    for c in loaded.conditions:
        g = c.info["gpu"]
        assert g["index"] == 0 and g["pci_bus_id"] and g["name"] and g["host"]
        assert g["uuid"] is None or g["uuid"].startswith(("GPU-", "MIG-"))
    assert {c.gpu_label for c in loaded.conditions} == {"gpu0", "gpu0#2"}
    assert len(loaded.environment["gpus"]) == 2
    together = json.loads(r.stdout)["together_vs_alone"]
    assert all(g["ratio_p50"] > 0 for g in together)


@pytest.mark.gpu
def test_gpu_compare_two_workers_on_gpu0(tmp_path: Path) -> None:
    r = invoke(
        "compare",
        "-w",
        "tiny",
        "--gap",
        "0.01",
        "--policies",
        "sleep,keepwarm:1ms",
        "--rounds",
        "1",
        "--iterations",
        "30",
        "--warmup",
        "2",
        "--gpu",
        "0,0",
        "--allow-shared-gpu",
        "--out",
        str(tmp_path / "r"),
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["gpus"]) == 4


@pytest.mark.gpu
def test_gpu_single_index_rows_carry_the_gpu_identity(tmp_path: Path) -> None:
    result = trtpace.sweep("tiny", [0], iterations=20, warmup=2, out=tmp_path / "r")
    g = result.conditions[0].info["gpu"]
    assert g["index"] == 0 and g["pci_bus_id"] and "label" not in g
