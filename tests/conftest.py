"""GPU tests carry the `gpu` marker and are skipped where CUDA sees no GPU."""

from __future__ import annotations

import pytest

from trtpace.platform import device


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if device.gpu_count() > 0:
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU (CUDA sees none here)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
