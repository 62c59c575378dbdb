"""The standalone GPU experiments in bench/ build where a CUDA toolkit is (they run on a GPU)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_gate_anatomy_compiles_warning_free(tmp_path: Path) -> None:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("no nvcc on this machine")
    p = subprocess.run(
        [
            nvcc,
            "-O2",
            "-std=c++17",
            "-arch=sm_90",
            "-Werror",
            "all-warnings",
            "-o",
            str(tmp_path / "gate_anatomy"),
            str(ROOT / "bench" / "gate_anatomy.cu"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gaps", "0,soon"], "not a list of seconds"),
        (["--rounds", "0"], "must be >= 1"),
        (["--workload", "host:us=5", "--rounds", "1", "--iterations", "2"], "cannot be armed"),
    ],
)
def test_resident_bench_refuses_bad_input_in_one_line(args: list[str], message: str) -> None:
    import sys

    p = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "resident.py"), *args], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) <= 3, p.stderr  # argparse adds its usage line
