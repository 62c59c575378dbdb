"""Which GPUs CUDA sees, and the facts about the machine a result was measured on."""

from __future__ import annotations

import datetime
import os
import platform
import socket
import sys
from typing import Any

from trtpace import _core
from trtpace.errors import GpuIndexError, NoDriverError, NoGpuError
from trtpace.platform import features

CUDA_ERROR_INSUFFICIENT_DRIVER = 35


def cuda_version(v: int) -> str:
    return f"{v // 1000}.{(v % 1000) // 10}"


def gpu_count() -> int:
    """Number of GPUs CUDA sees (0 without a driver or GPU); never raises."""
    return int(_core.probe_cuda()["device_count"])


def require_gpu(index: int) -> dict[str, Any]:
    """Returns the CUDA device facts for `index`, or raises an error that says what is missing."""
    probe = _core.probe_cuda()
    if probe["driver_version"] == 0:
        raise NoDriverError(
            "no NVIDIA driver found (libcuda.so.1 is not installed or cannot be loaded); "
            "trtpace needs an NVIDIA GPU and its driver to run GPU workloads"
        )
    if probe["error_code"] == CUDA_ERROR_INSUFFICIENT_DRIVER:
        raise NoDriverError(
            f"the NVIDIA driver supports CUDA {cuda_version(probe['driver_version'])} but trtpace was built "
            f"with CUDA {cuda_version(probe['runtime_version'])}; update the NVIDIA driver"
        )
    count = int(probe["device_count"])
    if count == 0:
        hint = ""
        if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
            hint = f" (CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r})"
        detail = f": {probe['error_string']}" if probe["error_string"] else ""
        raise NoGpuError(f"the NVIDIA driver is installed but CUDA sees no GPU{hint}{detail}")
    if not 0 <= index < count:
        raise GpuIndexError(f"GPU {index} is out of range: CUDA sees {count} GPU(s), indices 0 to {count - 1}")
    return dict(_core.device_info(index))


def identity(gpu: int | None) -> dict[str, Any]:
    """Which GPU a condition ran on, as every row records it: CUDA index, UUID (from NVML where it
    answers), PCI bus id, name and host. All but the host are None for host-only work."""
    out: dict[str, Any] = {"index": gpu, "uuid": None, "pci_bus_id": None, "name": None, "host": socket.gethostname()}
    if gpu is None or not 0 <= gpu < gpu_count():
        return out
    info = _core.device_info(gpu)
    out.update(pci_bus_id=str(info["pci_bus_id"]), name=str(info["name"]))
    try:
        from trtpace.platform import nvml

        out["uuid"] = nvml.NvmlGpu(out["pci_bus_id"]).uuid()
    except Exception:  # noqa: BLE001, S110 - no NVML (Jetson) or refusing: the PCI bus id identifies the GPU
        pass
    return out


def _driver_release() -> str | None:
    """The NVIDIA driver's release string (e.g. '580.159.04') from NVML, when NVML answers."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return str(pynvml.nvmlSystemGetDriverVersion())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - NVML absent (no driver, Jetson) or refusing: the fact is optional
        return None


def environment(gpu: int | None) -> dict[str, Any]:
    """Facts saved with every result: software versions, host, and the GPU used (if any)."""
    probe = _core.probe_cuda()
    env: dict[str, Any] = {
        "trtpace_version": _core.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cuda_runtime": cuda_version(probe["runtime_version"]),
        "cuda_driver": cuda_version(probe["driver_version"]) if probe["driver_version"] else None,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "gpu": None,
    }
    if gpu is not None and probe["device_count"] > gpu >= 0:
        env["gpu"] = dict(_core.device_info(gpu))
        env["features"] = features.features(gpu)  # what the run could use, and why not
        env["driver_release"] = _driver_release()
    return env
