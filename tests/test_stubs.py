"""The shipped _core.pyi is what pybind11-stubgen generates from the built extension, as a user's
build (no test hooks) has it: a build with TRTPACE_TEST_HOOKS=ON is compared with its hooks
removed. `python tests/test_stubs.py` regenerates it from either build."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import hooks

SHIPPED = Path(__file__).resolve().parents[1] / "python" / "trtpace" / "_core.pyi"


def generate(out: Path) -> str:
    subprocess.run(
        [sys.executable, "-m", "pybind11_stubgen", "trtpace._core", "-o", str(out)],
        check=True,
        capture_output=True,
    )
    # The version is the build's (0.1.0+cu12, 0.1.0+cu13): the shipped stub, one for every build,
    # types it without its value.
    text = (out / "trtpace" / "_core.pyi").read_text()
    return re.sub(r"(?m)^__version__: str = .*$", "__version__: str", hooks.strip_from_stub(text))


def test_core_stub_is_current(tmp_path: Path) -> None:
    pytest.importorskip("pybind11_stubgen")
    assert generate(tmp_path) == SHIPPED.read_text(), (
        "python/trtpace/_core.pyi is stale: regenerate it with `python tests/test_stubs.py`"
    )


def test_the_shipped_stub_has_no_test_hooks() -> None:
    text = SHIPPED.read_text()
    assert all(f"def {name}(" not in text for _, name in hooks.HOOKS)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        SHIPPED.write_text(generate(Path(tmp)))
    print(f"wrote {SHIPPED}")
