"""`trtpace env` on a machine without a GPU, and with a fake NVML."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from fake_nvml import make_fake_nvml
from trtpace.cli import app
from trtpace.platform import device, env, features, nvml


def test_env_json_without_gpu_says_what_is_missing() -> None:
    r = CliRunner().invoke(app, ["env", "--json"])
    assert r.exit_code == 0, r.output
    facts = json.loads(r.stdout)
    assert facts["cuda_runtime"].split(".")[0] in ("12", "13")  # a CUDA 12 or 13 build
    assert isinstance(facts["may_change_clocks"], bool) and facts["may_change_clocks_why"]
    if device.gpu_count() == 0:
        assert facts["gpus"] == []
        assert any("driver" in m or "GPU" in m for m in facts["missing"])


def test_env_table() -> None:
    r = CliRunner().invoke(app, ["env"])
    assert r.exit_code == 0 and "cuda_runtime" in r.stdout


def test_gpu_facts_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = make_fake_nvml()
    monkeypatch.setattr(nvml, "pynvml", fake)
    monkeypatch.setattr(nvml, "_initialized", False)
    monkeypatch.setattr(env._core, "device_info", lambda i: {"index": i, "pci_bus_id": "0000:3B:00.0", "name": "Fake"})
    facts = env._gpu_facts(0)
    assert facts["sm_clock_mhz"] == 1410 and facts["max_sm_clock_mhz"] == 1980
    assert facts["supported_sm_clocks"] == len(range(1980, 210, -15)) and facts["supported_mem_clocks"] == 2
    assert facts["persistence_mode"] is True and facts["power_limit_w"] == 700.0
    fake.nvmlDeviceGetEnforcedPowerLimit.side_effect = fake.NVMLError_NotSupported
    assert env._gpu_facts(0)["power_limit_w"] == "n/a (NvmlNotSupported)"


def test_may_change_clocks_reason() -> None:
    allowed, why = env.may_change_clocks()
    expected = os.geteuid() == 0 or why == "has CAP_SYS_ADMIN"
    assert allowed == expected
    assert why == ("running as root" if os.geteuid() == 0 else why)
    if not allowed:
        assert why == "not root and no CAP_SYS_ADMIN (use sudo)"


@pytest.mark.parametrize(
    ("probe", "why"),
    [
        (
            {
                "driver_version": 12020,
                "error_code": 35,
                "error_name": "cudaErrorInsufficientDriver",
                "error_string": "CUDA driver version is insufficient for CUDA runtime version",
            },
            "driver/runtime mismatch: the driver supports CUDA 12.2, trtpace was built with CUDA 13.0",
        ),
        (
            {
                "driver_version": 13000,
                "error_code": 999,
                "error_name": "cudaErrorUnknown",
                "error_string": "unknown error",
            },
            "CUDA sees no GPU: cudaErrorUnknown unknown error",
        ),
    ],
)
def test_env_lists_what_nvml_sees_when_cuda_cannot(monkeypatch: pytest.MonkeyPatch, probe: dict, why: str) -> None:
    # A driver/runtime mismatch cannot be arranged here: only what CUDA reports is replaced (the
    # probe) and NVML is the strict fake; the classification and the command are real.
    fake = make_fake_nvml()
    fake.nvmlDeviceGetCount.return_value = 1
    monkeypatch.setattr(nvml, "pynvml", fake)
    monkeypatch.setattr(nvml, "_initialized", False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(env._core, "probe_cuda", lambda: {"runtime_version": 13000, "device_count": 0, **probe})
    r = CliRunner().invoke(app, ["env", "--json"])
    assert r.exit_code == 0, r.output
    facts = json.loads(r.stdout)
    (gpu,) = facts["gpus"]
    assert gpu["name"] == "Fake GPU" and gpu["pci_bus_id"] == "00000000:3B:00.0"
    assert gpu["sm_clock_mhz"] == 1410 and gpu["max_sm_clock_mhz"] == 1980
    assert facts["driver_release"] == "580.00.01" and gpu["cuda"].startswith("not usable: ")
    assert facts["cuda_problem"].startswith(why)
    expected = f"CUDA: cannot use the 1 GPU(s) NVML lists: {facts['cuda_problem']}"
    assert [m for m in facts["missing"] if m.startswith("CUDA:")] == [expected]
    r = CliRunner().invoke(app, ["env"])
    assert r.exit_code == 0
    assert "GPU (NVML 0, not usable by CUDA)" in r.stdout and "name=Fake GPU" in r.stdout
    assert len([line for line in r.stdout.splitlines() if line.startswith("missing: CUDA:")]) == 1


def test_env_shows_the_feature_table(monkeypatch: pytest.MonkeyPatch) -> None:
    for hook in features.FAKE_HOOKS:
        monkeypatch.delenv(hook, raising=False)
    facts = json.loads(CliRunner().invoke(app, ["env", "--json"]).stdout)
    count = device.gpu_count()
    assert [t["gpu"] for t in facts["features"]] == (list(range(count)) if count else [None])
    assert {k: v for k, v in facts["features"][0].items() if k != "gpu"} == features.features(0)
    if count == 0:
        assert "cuda_runtime" in facts["features"][0]["off"]
    # An older driver, pretended (the test hook): the table and its reasons reach both outputs.
    monkeypatch.setenv("TRTPACE_FAKE_DRIVER_VERSION", "12020")
    monkeypatch.setenv("TRTPACE_FAKE_RUNTIME_VERSION", "12040")
    monkeypatch.setenv("TRTPACE_FAKE_COMPUTE_CAPABILITY", "8.7")
    facts = json.loads(CliRunner().invoke(app, ["env", "--json"]).stdout)
    table = facts["features"][0]
    assert table["on"] == ["cuda_runtime", "stream_wait_value"]
    assert table["off"]["conditional_nodes"] == (
        "conditional graph nodes need a driver for CUDA 12.4+; this driver supports CUDA 12.2"
    )
    assert table["faked"] == ["driver_version", "runtime_version", "compute_capability"]
    r = CliRunner().invoke(app, ["env"])
    assert r.exit_code == 0
    (line,) = [ln for ln in r.stdout.splitlines() if ln.startswith(("features:", "GPU 0 features:"))]
    assert line.endswith(features.said(table)) and "programmatic_edges (programmatic graph edges need" in line
