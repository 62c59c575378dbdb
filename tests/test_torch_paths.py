"""PyTorch launch paths without a GPU: argument checks (no torch needed) and the bench models
(skipped where torch is missing)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trtpace.errors import UsageError
from trtpace.measure.workloads import torch_module


@pytest.mark.parametrize(
    ("launch", "io", "match"),
    [
        ("python", "none", "launch must be one of eager, replay, graph"),
        ("eager", "disk", "io must be one of"),
        ("graph", "pageable", "cannot go into a CUDA graph"),
    ],
)
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


def test_host_io_stages_whole_inputs_from_two_sources() -> None:
    torch = pytest.importorskip("torch")
    from trtpace import _core
    from trtpace.measure.runner import make_runner

    x = torch.randn(4, 8)
    io = torch_module.HostIO.__new__(torch_module.HostIO)  # the host half only: no CUDA tensors here
    io.host_in = [torch.zeros_like(x)]
    a = x.clone()
    b = a.clone()
    b.view(-1).view(torch.uint8)[::4] ^= 1
    io.sources = [(a, b)]
    ((dst, s0, s1, nbytes),) = io.staging
    assert (dst, s0, s1, nbytes) == (io.host_in[0].data_ptr(), a.data_ptr(), b.data_ptr(), x.numel() * 4)
    # Every element differs between the sources, by one mantissa bit: a whole new, finite frame.
    assert (a != b).all() and torch.allclose(a, b, rtol=1e-6)
    r = make_runner(_core.HostWorkload(1.0), _core.Schedule.closed_gap(0), 3, 0, "spin", "spin", staging=io.staging)
    r.run()
    assert torch.equal(io.host_in[0], a)  # inference 2 (the last) wrote source 0
    rec = r.records()
    assert (rec["staged_ns"] >= rec["issue_ns"]).all() and (rec["submitted_ns"] >= rec["staged_ns"]).all()
