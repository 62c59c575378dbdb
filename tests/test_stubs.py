"""The shipped _core.pyi is what pybind11-stubgen generates from the built extension."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SHIPPED = Path(__file__).resolve().parents[1] / "python" / "trtpace" / "_core.pyi"


def test_core_stub_is_current(tmp_path: Path) -> None:
    pytest.importorskip("pybind11_stubgen")
    subprocess.run(
        [sys.executable, "-m", "pybind11_stubgen", "trtpace._core", "-o", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    generated = (tmp_path / "trtpace" / "_core.pyi").read_text()
    assert generated == SHIPPED.read_text(), (
        "python/trtpace/_core.pyi is stale: regenerate it with `pybind11-stubgen trtpace._core -o python`"
    )
