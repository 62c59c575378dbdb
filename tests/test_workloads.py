"""Workload specs parse and validate without a GPU."""

from __future__ import annotations

import pytest

from trtpace.errors import UsageError
from trtpace.measure import workloads


def test_presets() -> None:
    tiny = workloads.parse_spec("tiny")
    assert (tiny.kind, tiny.us, tiny.kernels, tiny.launch) == ("synthetic", 100.0, 12, "graph")
    assert workloads.parse_spec("LARGE").us == 25000.0
    assert workloads.parse_spec("medium:launch=direct").launch == "direct"
    assert tiny.needs_gpu


def test_synthetic_and_host() -> None:
    s = workloads.parse_spec("synthetic:us=500, kernels=16")
    assert (s.us, s.kernels) == (500.0, 16)
    h = workloads.parse_spec("host:us=25")
    assert (h.kind, h.us, h.needs_gpu) == ("host", 25.0, False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("resnet", "unknown workload"),
        ("synthetic", "needs us="),
        ("synthetic:us=0", "us must be in"),
        ("synthetic:us=abc", "not a number"),
        ("synthetic:us=10,kernels=2.5", "whole number"),
        ("synthetic:us=10,kernels=0", "kernels must be in"),
        ("tiny:us=5", "unknown key"),
        ("tiny:launch=eager", "graph or direct"),
        ("synthetic:us", "key=value"),
        ("host:us=-1", "us must be in"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        workloads.parse_spec(spec)


def test_host_workload_runs_without_gpu() -> None:
    w = workloads.build("host:us=10")
    assert w.device == -1 and w.device_timing == "host"
