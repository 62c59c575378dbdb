"""GPU tests carry the `gpu` marker and are skipped where CUDA sees no GPU; tests of the test
hooks carry `test_hooks` and are skipped on a build without them (hooks.py). `fake`: the clock
tests' NVML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import hooks
from fake_nvml import make_fake_nvml
from trtpace.platform import device, nvml


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hooks.built():
        no_hooks = pytest.mark.skip(reason=hooks.SKIP_REASON)
        for item in items:
            if "test_hooks" in item.keywords:
                item.add_marker(no_hooks)
    if device.gpu_count() > 0:
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU (CUDA sees none here)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The strict fake NVML in place of nvidia-ml-py, with trtpace's clock records in tmp_path."""
    fake = make_fake_nvml()
    monkeypatch.setattr(nvml, "pynvml", fake)
    monkeypatch.setattr(nvml, "_initialized", False)
    monkeypatch.setenv("TRTPACE_STATE_DIR", str(tmp_path / "state"))
    return fake
