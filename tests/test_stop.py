"""A stop request (Ctrl-C, SIGTERM) during a long gap or a long inference: the run ends promptly,
keeps every record it measured, the one in flight included, and the process exits with its code
(never an abort). Real subprocesses, real signals, the real C++ loop on host workloads."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

import trtpace
from running_sweep import start_sweep


def _stop(proc: subprocess.Popen[str], sig: int, within_s: float) -> tuple[str, str, float]:
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the sweep did not stop on {signal.Signals(sig).name}")
    took = time.monotonic() - t0
    assert took < within_s, f"took {took:.1f} s to stop"
    return stdout, stderr, took


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_ends_a_long_gap_promptly(tmp_path: Path, sig: int, code: int) -> None:
    out = tmp_path / "r"
    # The second condition waits 30 s before each inference: the stop lands in that wait.
    proc = start_sweep(
        ["-w", "host:us=50", "--gaps", "0,30", "--iterations", "3", "--warmup", "0"],
        out,
        lambda n: n == 2,
        "the gap condition never started",
    )
    _, stderr, _ = _stop(proc, sig, within_s=5.0)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "terminate called" not in stderr
    loaded = trtpace.load(out)
    assert [c.status for c in loaded.conditions] == ["done", "partial"]


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_during_a_long_inference_keeps_it_and_never_aborts(tmp_path: Path, attempt: int) -> None:
    out = tmp_path / "r"
    # Each inference is 1.5 s of host work; the signal lands half a second into one.
    proc = start_sweep(
        ["-w", "host:us=1500000", "--gaps", "0", "--iterations", "4", "--warmup", "0"],
        out,
        lambda n: n == 1,
        "the condition never started",
    )
    _, stderr, _ = _stop(proc, signal.SIGINT, within_s=10.0)
    assert proc.returncode == 130, (proc.returncode, stderr)  # 134 would be an abort
    assert "terminate called" not in stderr and "Traceback" not in stderr
    (c,) = trtpace.load(out).conditions
    assert c.status == "partial" and c.count >= 1  # the inference in flight finished and was kept
    e2e = c.column("e2e_us")
    assert (e2e > 1.4e6).all()  # whole inferences only
