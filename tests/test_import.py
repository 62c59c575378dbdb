"""The package imports and explains itself on a machine without a GPU."""

from __future__ import annotations

import subprocess
import sys

import pytest

import trtpace
from trtpace import _core
from trtpace.platform import device


def test_public_api_is_curated() -> None:
    assert set(dir(trtpace)) == set(trtpace.__all__)
    for name in trtpace.__all__:
        assert hasattr(trtpace, name), name
    assert trtpace.__version__ == _core.__version__


def test_import_in_fresh_interpreter() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import trtpace; print(trtpace.__version__)"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == trtpace.__version__


def test_probe_never_raises() -> None:
    probe = _core.probe_cuda()
    assert probe["runtime_version"] >= 12040  # a CUDA 12.4+ or 13 build
    assert probe["device_count"] >= 0
    if probe["device_count"] == 0:
        assert probe["error_name"].startswith("cudaError")


def test_cuda_error_names_the_call(gpu_absent_or_bad_index: int) -> None:
    with pytest.raises(trtpace.CudaError, match=r"failed: cudaError\w+: "):
        _core.SyntheticWorkload(gpu_absent_or_bad_index, 4, 8)


@pytest.fixture
def gpu_absent_or_bad_index() -> int:
    # Without a driver any device fails; with one, an index past the last device does.
    return device.gpu_count() + 7
