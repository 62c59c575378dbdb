"""PyTorch launch paths without a GPU: argument checks (no torch needed) and the bench models
(skipped where torch is missing)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trtpace.errors import UsageError
from trtpace.measure.workloads import torch_module


@pytest.mark.parametrize(("launch", "io", "match"), [
    ("python", "none", "launch must be one of eager, replay, graph"),
    ("eager", "disk", "io must be one of"),
    ("graph", "pageable", "cannot go into a CUDA graph"),
])
def test_bad_launch_or_io_is_refused_before_torch_is_imported(launch: str, io: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        torch_module.from_torch(object(), (), launch=launch, io=io)


def test_bench_models_run_on_the_cpu() -> None:
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.models import MODELS

    for name, factory in MODELS.items():
        module, inputs = factory(device="cpu")
        with torch.no_grad():
            out = module(*inputs)
        assert torch.isfinite(out).all(), name
        assert next(module.parameters()).dtype == torch.float32  # fp16 is for CUDA only


def test_host_io_changes_a_few_bytes_each_time() -> None:
    torch = pytest.importorskip("torch")
    x = torch.randn(4, 8)
    io = torch_module.HostIO.__new__(torch_module.HostIO)  # the host half only: no CUDA tensors here
    io.host_in = [x.clone()]
    io.flip = [io.host_in[0].view(-1).view(torch.uint8).numpy()]
    io.itemsize = [4]
    io.count = 0
    before = io.host_in[0].clone()
    io.write_inputs()
    changed = (io.host_in[0] != before).sum().item()
    assert changed == 1 and torch.isfinite(io.host_in[0]).all()
    assert torch.allclose(io.host_in[0], before, rtol=1e-6)
