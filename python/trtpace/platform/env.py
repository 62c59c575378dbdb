"""`trtpace env`: what this machine offers for paced GPU inference, and what is missing."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from trtpace import _core
from trtpace.platform import features, jetson, nvml
from trtpace.platform.device import CUDA_ERROR_INSUFFICIENT_DRIVER, cuda_version
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


def _nvml_facts(g: nvml.NvmlGpu) -> dict[str, Any]:
    ask = nvml.read_or_reason
    mem_max = ask(g.max_mem_clock_mhz)
    sm_supported = ask(g.supported_sm_clocks_mhz, mem_max) if isinstance(mem_max, int) else mem_max
    power_limit = ask(g.power_limit_mw)
    return {
        "sm_clock_mhz": ask(g.sm_clock_mhz),
        "max_sm_clock_mhz": ask(g.max_sm_clock_mhz),
        "mem_clock_mhz": ask(g.mem_clock_mhz),
        "max_mem_clock_mhz": mem_max,
        "supported_sm_clocks": len(sm_supported) if isinstance(sm_supported, list) else sm_supported,
        "supported_mem_clocks": len(m) if isinstance(m := ask(g.supported_mem_clocks_mhz), list) else m,
        "pstate": ask(g.pstate),
        "persistence_mode": ask(g.persistence_mode),
        "power_limit_w": power_limit / 1e3 if isinstance(power_limit, int) else power_limit,
    }


def _gpu_facts(index: int) -> dict[str, Any]:
    info: dict[str, Any] = dict(_core.device_info(index))
    try:
        g = nvml.NvmlGpu(info["pci_bus_id"])
    except nvml.NvmlError as e:
        info["nvml"] = f"unavailable: {e}"
        return info
    info.update(_nvml_facts(g))
    return info


def _nvml_only_gpus(why_not_cuda: str) -> list[dict[str, Any]]:
    """What NVML sees when CUDA sees nothing: exactly when someone runs `env` to find out why."""
    out = []
    try:
        count = nvml.device_count()
    except nvml.NvmlError:
        return []
    for i in range(count):
        try:
            g = nvml.NvmlGpu.for_index(i)
        except nvml.NvmlError as e:
            out.append({"nvml_index": i, "nvml": f"unavailable: {e}", "cuda": f"not usable: {why_not_cuda}"})
            continue
        out.append(
            {
                "nvml_index": i,
                "name": nvml.read_or_reason(g.name),
                "pci_bus_id": g.pci_bus_id,
                "cuda": f"not usable: {why_not_cuda}",
                **_nvml_facts(g),
            }
        )
    return out


def cuda_problem(probe: dict[str, Any]) -> str | None:
    """Why CUDA cannot enumerate GPUs, in one line; None when it can."""
    if probe["device_count"] > 0:
        return None
    if probe["driver_version"] == 0:
        return "libcuda.so.1 not found or not loadable (no NVIDIA driver in this process)"
    if probe["error_code"] == CUDA_ERROR_INSUFFICIENT_DRIVER:
        return (
            f"driver/runtime mismatch: the driver supports CUDA {cuda_version(probe['driver_version'])}, "
            f"trtpace was built with CUDA {cuda_version(probe['runtime_version'])}; update the NVIDIA driver "
            f"or build trtpace for the driver's CUDA major (README: Requirements)"
        )
    hint = ""
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        hint = f" (CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r})"
    what = " ".join(str(probe.get(k) or "") for k in ("error_name", "error_string")).strip()
    return f"CUDA sees no GPU{hint}: {what or 'no detail'}"


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
        # CUDA's lazy loading (the default since 12.2) loads a kernel at its first launch, which can
        # wait for the device to go idle; trtpace loads its own kernels before arming (README).
        "module_loading": _core.module_loading_mode() if probe["driver_version"] else None,
        "cuda_module_loading_env": os.environ.get("CUDA_MODULE_LOADING"),
        "missing": [],
    }
    try:
        facts["driver_release"] = nvml.driver_version()
    except nvml.NvmlError as e:
        facts["missing"].append(f"NVML: {e}")
    problem = cuda_problem(probe)
    facts["cuda_problem"] = problem
    for i in range(probe["device_count"]):
        facts["gpus"].append(_gpu_facts(i))
    # What each GPU's driver, runtime and compute capability allow (device 0's build and driver
    # facts where CUDA sees no GPU: the reasons then say so).
    facts["features"] = [{"gpu": i, **features.features(i)} for i in range(probe["device_count"])] or [
        {"gpu": None, **features.features(0)}
    ]
    if problem is not None:
        facts["gpus"] = _nvml_only_gpus(problem)
        if facts["gpus"]:
            facts["missing"].append(f"CUDA: cannot use the {len(facts['gpus'])} GPU(s) NVML lists: {problem}")
        elif probe["driver_version"] == 0:
            facts["missing"].append("NVIDIA driver: libcuda.so.1 not found")
        else:
            facts["missing"].append(f"GPU: CUDA sees none ({probe['error_string']})")
    for name in ("tensorrt", "torch"):
        if facts[name] is None:
            facts["missing"].append(f"{name}: not installed (optional: pip install {name})")
    return facts
