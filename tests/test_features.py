"""The feature table (cpp/src/features.hpp): every fallback decision, on the CPU.

The decision is a pure C++ function of (driver version, runtime version, compute capability),
bound as _core.decide_features; _core.features(device) is the thin query around it, whose inputs
the TRTPACE_FAKE_* test hooks replace. The GPU tests check that the code paths obey the table.
"""

from __future__ import annotations

import pytest

import trtpace
from trtpace import _core, workloads
from trtpace.platform import device, features

ALL = {"cuda_runtime", "entry_point_by_version", "conditional_nodes", "programmatic_edges", "stream_wait_value"}


def one_line_reasons(s: dict) -> None:
    assert set(s["on"]) | set(s["off"]) == ALL and not set(s["on"]) & set(s["off"])
    for name, why in s["off"].items():
        assert why and "\n" not in why, name


@pytest.mark.parametrize(
    ("driver", "runtime", "cc", "on", "off"),
    [
        # a CUDA 13 build on CUDA 13 drivers
        (13000, 13000, "9.0", ALL, {}),
        (
            13020,
            13000,
            "8.7",
            ALL - {"programmatic_edges"},
            {"programmatic_edges": "programmatic graph edges need compute capability 9.0+; this GPU is 8.7"},
        ),
        # a CUDA 12.4 build on r535 (CUDA 12.2), e.g. JetPack 6.0 on Orin: minor-version compatibility
        # starts it, and what 12.2 lacks is off; the driver's reason comes before the GPU's
        (
            12020,
            12040,
            "8.7",
            {"cuda_runtime", "stream_wait_value"},
            {
                "entry_point_by_version": "built with the CUDA 12.4 runtime (cudaGetDriverEntryPointByVersion is CUDA 12.5+): "
                "cudaGetDriverEntryPoint is used instead",
                "conditional_nodes": "conditional graph nodes need a driver for CUDA 12.4+; this driver supports CUDA 12.2",
                "programmatic_edges": "programmatic graph edges need a driver for CUDA 12.3+; this driver supports CUDA 12.2",
            },
        ),
        # r545 (12.3): programmatic edges yes, conditional nodes no
        (
            12030,
            12060,
            "9.0",
            ALL - {"conditional_nodes"},
            {
                "conditional_nodes": "conditional graph nodes need a driver for CUDA 12.4+; this driver supports CUDA 12.3"
            },
        ),
        # JetPack 6.1/6.2 (12.6, sm_87) with a 12.6 build
        (
            12060,
            12060,
            "8.7",
            ALL - {"programmatic_edges"},
            {"programmatic_edges": "programmatic graph edges need compute capability 9.0+; this GPU is 8.7"},
        ),
        # a CUDA 12.4 build on r570 and on a CUDA 13 driver
        (12080, 12040, "9.0", ALL - {"entry_point_by_version"}, {}),
        (13000, 12040, "10.0", ALL - {"entry_point_by_version"}, {}),
        # the runtime's side of each feature (no real build is this old; the decision still says it)
        (
            12080,
            12030,
            "9.0",
            ALL - {"entry_point_by_version", "conditional_nodes"},
            {
                "conditional_nodes": "conditional graph nodes need CUDA 12.4+; this trtpace was built with the CUDA 12.3 runtime"
            },
        ),
        (
            11080,
            11080,
            "9.0",
            {"cuda_runtime"},
            {
                "stream_wait_value": "cuStreamWaitValue32 needs CUDA 12.0+; this trtpace was built with the CUDA 11.8 runtime"
            },
        ),
    ],
)
def test_decisions(driver: int, runtime: int, cc: str, on: set, off: dict) -> None:
    s = features.decide(driver, runtime, cc)
    one_line_reasons(s)
    assert set(s["on"]) == on
    for name, why in off.items():
        assert s["off"][name] == why
    assert s["faked"] == []


def test_a_cuda_13_build_on_a_cuda_12_driver_cannot_start() -> None:
    s = features.decide(12020, 13000, "9.0")
    one_line_reasons(s)
    assert s["on"] == []
    start = s["off"]["cuda_runtime"]
    assert start == (
        "the driver supports CUDA 12.2; this trtpace uses the CUDA 13.0 runtime, which needs a CUDA 13 "
        "driver: update the driver or build trtpace for CUDA 12 (TRTPACE_CUDA_MAJOR)"
    )
    assert all(why == f"CUDA cannot start: {start}" for name, why in s["off"].items() if name != "cuda_runtime")


def test_no_driver_and_no_device() -> None:
    s = features.decide(0, 13000, "9.0")
    assert s["on"] == [] and s["off"]["cuda_runtime"] == "no NVIDIA driver (libcuda.so.1 not found or not loadable)"
    s = features.decide(13000, 13000, None)
    one_line_reasons(s)
    assert set(s["on"]) == {"cuda_runtime", "entry_point_by_version"}
    assert s["off"]["conditional_nodes"] == s["off"]["stream_wait_value"] == "no CUDA device"


def test_raw_table_shape() -> None:
    t = _core.decide_features(12020, 12040, 8, 7)
    assert (t["driver_version"], t["runtime_version"], t["compute_capability"]) == (12020, 12040, "8.7")
    assert t["features"]["conditional_nodes"] == {
        "on": False,
        "why": "conditional graph nodes need a driver for CUDA 12.4+; this driver supports CUDA 12.2",
    }
    assert t["features"]["stream_wait_value"] == {"on": True, "why": ""}
    assert _core.decide_features(13000, 13000, 0, 0)["compute_capability"] is None


@pytest.fixture
def no_hooks(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for hook in features.FAKE_HOOKS:
        monkeypatch.delenv(hook, raising=False)
    return monkeypatch


def test_hooks_replace_every_input(no_hooks: pytest.MonkeyPatch) -> None:
    no_hooks.setenv("TRTPACE_FAKE_DRIVER_VERSION", "12020")
    no_hooks.setenv("TRTPACE_FAKE_RUNTIME_VERSION", "12040")
    no_hooks.setenv("TRTPACE_FAKE_COMPUTE_CAPABILITY", "8.7")
    got = features.features(0)
    assert got["faked"] == ["driver_version", "runtime_version", "compute_capability"]
    assert {**got, "faked": []} == features.decide(12020, 12040, "8.7")


def test_one_hook_leaves_the_rest_real(no_hooks: pytest.MonkeyPatch) -> None:
    probe = _core.probe_cuda()
    no_hooks.setenv("TRTPACE_FAKE_DRIVER_VERSION", "12020")
    t = _core.features(0)
    assert t["faked"] == ["driver_version"] and t["driver_version"] == 12020
    assert t["runtime_version"] == probe["runtime_version"]
    if probe["runtime_version"] >= 13000:  # this build cannot start on a CUDA 12 driver
        assert not t["features"]["cuda_runtime"]["on"]
        assert "TRTPACE_CUDA_MAJOR" in t["features"]["cuda_runtime"]["why"]


def test_real_inputs_without_hooks(no_hooks: pytest.MonkeyPatch) -> None:
    probe = _core.probe_cuda()
    t = _core.features(0)
    assert t["faked"] == []
    assert (t["driver_version"], t["runtime_version"]) == (probe["driver_version"], probe["runtime_version"])
    one_line_reasons(features.summary(t))
    if probe["device_count"] == 0:
        assert t["compute_capability"] is None and t["device_error"]
        assert not t["features"]["conditional_nodes"]["on"]
    else:
        info = _core.device_info(0)
        assert t["compute_capability"] == info["compute_capability"] and t["device_error"] == ""


@pytest.mark.parametrize(
    ("hook", "value", "match"),
    [
        ("TRTPACE_FAKE_DRIVER_VERSION", "12.2", "TRTPACE_FAKE_DRIVER_VERSION must be a CUDA version such as 12020"),
        ("TRTPACE_FAKE_RUNTIME_VERSION", "-1", "TRTPACE_FAKE_RUNTIME_VERSION must be a CUDA version"),
        ("TRTPACE_FAKE_COMPUTE_CAPABILITY", "87", "TRTPACE_FAKE_COMPUTE_CAPABILITY must be a compute capability"),
        ("TRTPACE_FAKE_COMPUTE_CAPABILITY", "8.x", "TRTPACE_FAKE_COMPUTE_CAPABILITY must be a compute capability"),
    ],
)
def test_malformed_hooks_are_one_clear_error(no_hooks: pytest.MonkeyPatch, hook: str, value: str, match: str) -> None:
    no_hooks.setenv(hook, value)
    with pytest.raises(ValueError, match=match):
        _core.features(0)


def test_said_is_one_line() -> None:
    s = features.decide(12020, 12040, "8.7")
    line = features.said({**s, "faked": ["driver_version"]})
    assert line.startswith("on: cuda_runtime, stream_wait_value; off: entry_point_by_version (built with")
    assert line.endswith("; faked by test hooks: driver_version") and "\n" not in line
    assert features.said(features.decide(0, 13000, "9.0")) == (
        "on: none; off: cuda_runtime (no NVIDIA driver (libcuda.so.1 not found or not loadable); so: "
        "entry_point_by_version, conditional_nodes, programmatic_edges, stream_wait_value)"
    )


# ---- the code paths obey the table (GPU) ----


@pytest.mark.gpu
def test_cancellable_without_conditional_nodes_is_refused(no_hooks: pytest.MonkeyPatch) -> None:
    counting = _core._CountingGraph(0)
    w = workloads.from_graph(counting.handle, gpu=0, keepalive=counting)
    no_hooks.setenv("TRTPACE_FAKE_DRIVER_VERSION", "12020")
    no_hooks.setenv("TRTPACE_FAKE_RUNTIME_VERSION", "12040")
    with pytest.raises(
        trtpace.TrtpaceError,
        match="armed cancellable is not available here: conditional graph "
        "nodes need a driver for CUDA 12.4[+]; this driver supports CUDA 12.2",
    ):
        w.core.enable_arming("kernel", True, 0)


@pytest.mark.gpu
def test_armed_kernel_without_programmatic_edges_uses_plain_edges(no_hooks: pytest.MonkeyPatch) -> None:
    w = workloads.build("synthetic:us=20,kernels=4", gpu=0)
    no_hooks.setenv("TRTPACE_FAKE_COMPUTE_CAPABILITY", "8.7")
    w.core.enable_arming("kernel", False, 0)
    assert w.core.gate_state["programmatic"] is False
    w.core.arm()
    w.core.release()
    w.core.wait_complete()
    no_hooks.delenv("TRTPACE_FAKE_COMPUTE_CAPABILITY")
    w2 = workloads.build("synthetic:us=20,kernels=4", gpu=0)
    w2.core.enable_arming("kernel", False, 0)
    assert w2.core.gate_state["programmatic"] == ("programmatic_edges" in features.features(0)["on"])


@pytest.mark.gpu
def test_armed_wait_without_stream_waits_is_refused(no_hooks: pytest.MonkeyPatch) -> None:
    w = workloads.build("synthetic:us=20,kernels=4", gpu=0)
    no_hooks.setenv("TRTPACE_FAKE_DRIVER_VERSION", "11080")
    no_hooks.setenv("TRTPACE_FAKE_RUNTIME_VERSION", "11080")
    with pytest.raises(
        trtpace.TrtpaceError, match="armed:wait is not available here: cuStreamWaitValue32 needs CUDA 12.0[+]"
    ):
        w.core.enable_arming("wait", False, 0)


@pytest.mark.gpu
def test_results_carry_the_table(no_hooks: pytest.MonkeyPatch) -> None:
    env = device.environment(0)
    assert env["features"] == features.features(0) and "cuda_runtime" in env["features"]["on"]
