"""The command line through typer's CliRunner: output, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.platform import device

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_version() -> None:
    r = invoke("--version")
    assert r.exit_code == 0 and r.output.strip() == f"trtpace {trtpace.__version__}"


def test_help_lists_sweep() -> None:
    r = invoke("--help")
    assert r.exit_code == 0 and "sweep" in r.output


def test_host_sweep_table_and_saved_results(tmp_path: Path) -> None:
    r = invoke(
        "sweep",
        "-w",
        "host:us=20",
        "--gaps",
        "0,0.001",
        "--iterations",
        "30",
        "--warmup",
        "2",
        "--out",
        str(tmp_path / "r"),
    )
    assert r.exit_code == 0, r.output
    assert "trtpace sweep" in r.stdout and "0.001 s" in r.stdout and "1.00x" in r.stdout
    assert len(trtpace.load(tmp_path / "r").conditions) == 2


def test_json_output(tmp_path: Path) -> None:
    r = invoke("sweep", "-w", "host:us=20", "--gaps", "0.002", "--iterations", "20", "--out", str(tmp_path), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [c["pacing"]["label"] for c in doc["conditions"]] == ["gap 0 s", "gap 0.002 s"]
    assert doc["conditions"][1]["summary"]["e2e_us"]["n"] == 20


def test_open_loop_period(tmp_path: Path) -> None:
    r = invoke("sweep", "-w", "host:us=20", "--period", "0.002", "--iterations", "20", "--out", str(tmp_path), "--json")
    assert r.exit_code == 0, r.output
    cond = json.loads(r.stdout)["conditions"][1]
    assert cond["pacing"]["kind"] == "period" and cond["summary"]["pacing_error_us"]["n"] == 20


def test_trace(tmp_path: Path) -> None:
    trace = tmp_path / "t.txt"
    trace.write_text("\n".join(str(i * 0.001) for i in range(30)))
    r = invoke(
        "sweep",
        "-w",
        "host:us=20",
        "--trace",
        str(trace),
        "--iterations",
        "25",
        "--warmup",
        "5",
        "--out",
        str(tmp_path / "r"),
        "--json",
    )
    assert r.exit_code == 0, r.output
    r = invoke("sweep", "-w", "host:us=20", "--trace", str(trace), "--iterations", "50", "--out", str(tmp_path))
    assert r.exit_code == 2 and "fewer than warm-up + iterations" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gaps", "0,abc"], "not a number"),
        (["--gaps", "-0.1"], ">= 0"),
        (["--gaps", "nan"], "finite"),
        (["--gaps", "1e9"], "limit"),
        (["--iterations", "0"], "iterations must be"),
        (["--iterations", "-3"], "iterations must be"),
        (["--iterations", "many"], "valid integer"),
        (["--warmup", "-1"], "warm-up must be"),
        (["-w", "resnet"], "unknown workload"),
        (["--wait", "nap"], "unknown wait mode"),
        (["--sync", "poll"], "unknown sync mode"),
        (["--period", "0.1", "--rate", "5"], "exclude each other"),
        (["--period", "0.1", "--gaps", "0.1"], "not both"),
        (["--rate", "nan"], "finite"),
        (["--gpu", "-1"], "--gpu must be >= 0"),
        (["--bogus"], "No such option"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    r = invoke("sweep", "-w", "host:us=1", "--out", str(tmp_path), *args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert message in lines[0]
    assert "Traceback" not in r.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    r = invoke("sweep", "-w", "host:us=1", "--out", str(locked / "r"))
    assert r.exit_code == 2 and "cannot write results" in r.output


def test_output_path_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("")
    r = invoke("sweep", "-w", "host:us=1", "--out", str(f / "r"))
    assert r.exit_code == 2 and "cannot write results" in r.output
    assert len(r.output.strip().splitlines()) == 1


@pytest.mark.skipif(device.gpu_count() > 0, reason="this machine has a GPU")
def test_default_sweep_without_gpu_fails_in_one_line(tmp_path: Path) -> None:
    r = invoke("sweep", "--gaps", "0,0.1,0.2", "--out", str(tmp_path))
    assert r.exit_code == 1  # no GPU: the run cannot happen here (trtpace.errors)
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and ("no NVIDIA driver" in lines[0] or "sees no GPU" in lines[0])


@pytest.mark.parametrize(
    ("probe", "message", "code"),
    [
        ({"driver_version": 0, "error_code": 35, "device_count": 0}, "no NVIDIA driver found", 1),
        ({"driver_version": 12020, "error_code": 35, "device_count": 0}, "supports CUDA 12.2", 1),
        ({"driver_version": 13000, "error_code": 100, "device_count": 0}, "sees no GPU", 1),
        ({"driver_version": 13000, "error_code": 0, "device_count": 2}, "GPU 5 is out of range", 2),
    ],
)
def test_missing_gpu_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, probe: dict, message: str, code: int
) -> None:
    # A driver without a GPU, an old driver or two GPUs cannot be arranged on a test machine:
    # only what CUDA reports is replaced, the classification and the CLI path are real.
    full = {"runtime_version": 13000, "error_name": "", "error_string": "no CUDA-capable device is detected", **probe}
    monkeypatch.setattr(device._core, "probe_cuda", lambda: full)
    r = invoke("sweep", "-w", "tiny", "--gpu", "5", "--out", str(tmp_path))
    assert r.exit_code == code and message in r.output
    assert len(r.output.strip().splitlines()) == 1
