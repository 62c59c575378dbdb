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
