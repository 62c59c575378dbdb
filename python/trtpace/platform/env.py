"""`trtpace env`: what this machine offers for paced GPU inference, and what is missing."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path
from typing import Any

from trtpace import _core
from trtpace.platform import jetson, nvml
from trtpace.platform.device import cuda_version
from trtpace.platform.privileges import may_change_clocks


def package_version(name: str) -> str | None:
    """Installed version of a distribution, without importing it (TensorRT imports are slow)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_governor() -> str | None:
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip()
    except OSError:
        return None


def _gpu_facts(index: int) -> dict[str, Any]:
    info: dict[str, Any] = dict(_core.device_info(index))
    try:
        g = nvml.NvmlGpu(info["pci_bus_id"])
    except nvml.NvmlError as e:
        info["nvml"] = f"unavailable: {e}"
        return info

    ask = nvml.read_or_reason
    mem_max = ask(g.max_mem_clock_mhz)
    sm_supported = ask(g.supported_sm_clocks_mhz, mem_max) if isinstance(mem_max, int) else mem_max
    power_limit = ask(g.power_limit_mw)
    info.update({
        "sm_clock_mhz": ask(g.sm_clock_mhz),
        "max_sm_clock_mhz": ask(g.max_sm_clock_mhz),
        "mem_clock_mhz": ask(g.mem_clock_mhz),
        "max_mem_clock_mhz": mem_max,
        "supported_sm_clocks": len(sm_supported) if isinstance(sm_supported, list) else sm_supported,
        "supported_mem_clocks": len(m) if isinstance(m := ask(g.supported_mem_clocks_mhz), list) else m,
        "pstate": ask(g.pstate),
        "persistence_mode": ask(g.persistence_mode),
        "power_limit_w": power_limit / 1e3 if isinstance(power_limit, int) else power_limit,
    })
    return info


def collect() -> dict[str, Any]:
    """Every fact `trtpace env` shows; works on a machine with no driver or GPU."""
    probe = _core.probe_cuda()
    allowed, why = may_change_clocks()
    facts: dict[str, Any] = {
        "trtpace": _core.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda_runtime": cuda_version(probe["runtime_version"]),
        "cuda_driver": cuda_version(probe["driver_version"]) if probe["driver_version"] else None,
        "driver_release": None,
        "gpus": [],
        "may_change_clocks": allowed,
        "may_change_clocks_why": why,
        "tensorrt": package_version("tensorrt") or package_version("tensorrt-cu12") or package_version("tensorrt-cu13"),
        "tensorrt_rtx": package_version("tensorrt_rtx") or package_version("tensorrt-rtx"),
        "torch": package_version("torch"),
        "jetson": jetson.facts(),
        "cpu_governor": cpu_governor(),
        "missing": [],
    }
    try:
        facts["driver_release"] = nvml.driver_version()
    except nvml.NvmlError as e:
        facts["missing"].append(f"NVML: {e}")
    if probe["driver_version"] == 0:
        facts["missing"].append("NVIDIA driver: libcuda.so.1 not found")
    elif probe["device_count"] == 0:
        facts["missing"].append(f"GPU: CUDA sees none ({probe['error_string']})")
    for i in range(probe["device_count"]):
        facts["gpus"].append(_gpu_facts(i))
    for name in ("tensorrt", "torch"):
        if facts[name] is None:
            facts["missing"].append(f"{name}: not installed (optional: pip install {name})")
    return facts
