"""NVML through nvidia-ml-py: one NVML call per method, units in every name, typed errors.

The GPU is found through the CUDA ordinal's PCI bus id, so CUDA_VISIBLE_DEVICES and NVML's own
numbering never disagree about which GPU is meant.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pynvml

from trtpace.errors import TrtpaceError

F = TypeVar("F", bound=Callable[..., Any])


class NvmlError(TrtpaceError):
    """An NVML call failed."""


class NvmlUnavailable(NvmlError):
    """NVML cannot be used here: no driver, no libnvidia-ml, or a Jetson without NVML."""


class NvmlNotSupported(NvmlError):
    """This GPU or driver does not support the call."""


class NvmlNoPermission(NvmlError):
    """The call needs root (or CAP_SYS_ADMIN)."""


class NvmlFunctionNotFound(NvmlNotSupported):
    """The installed driver's NVML lacks the function (an older driver)."""


def _translate(e: pynvml.NVMLError, what: str) -> NvmlError:
    msg = f"{what}: {e}"
    if isinstance(e, pynvml.NVMLError_NoPermission):
        return NvmlNoPermission(msg)
    if isinstance(e, pynvml.NVMLError_FunctionNotFound):
        return NvmlFunctionNotFound(msg)
    if isinstance(e, pynvml.NVMLError_NotSupported):
        return NvmlNotSupported(msg)
    if isinstance(e, (pynvml.NVMLError_LibraryNotFound, pynvml.NVMLError_DriverNotLoaded)):
        return NvmlUnavailable(msg)
    return NvmlError(msg)


def _nvml(fn: F) -> F:
    """Turns pynvml's errors into trtpace's typed ones, naming the method."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except pynvml.NVMLError as e:
            raise _translate(e, fn.__name__) from None

    return wrapper  # type: ignore[return-value]


_init_lock = threading.Lock()
_initialized = False


def init() -> None:
    """Initializes NVML once per process (nvmlShutdown is never needed: the process ends it)."""
    global _initialized
    with _init_lock:
        if _initialized:
            return
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:
            raise NvmlUnavailable(f"NVML is not available: {e}") from None
        _initialized = True


@_nvml
def driver_version() -> str:
    init()
    return str(pynvml.nvmlSystemGetDriverVersion())


@_nvml
def device_count() -> int:
    init()
    return int(pynvml.nvmlDeviceGetCount())


class NvmlGpu:
    """One GPU, found by PCI bus id; read-only queries plus the clock setters clocks.py uses."""

    def __init__(self, pci_bus_id: str):
        init()
        self.pci_bus_id = pci_bus_id
        try:
            self.handle = pynvml.nvmlDeviceGetHandleByPciBusId(
                pci_bus_id.encode() if isinstance(pci_bus_id, str) else pci_bus_id
            )
        except pynvml.NVMLError as e:
            raise _translate(e, f"no NVML device at PCI bus id {pci_bus_id}") from None

    @classmethod
    def for_index(cls, nvml_index: int) -> NvmlGpu:
        """The GPU at NVML's own index (for commands over every GPU)."""
        init()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(nvml_index)
            bus = pynvml.nvmlDeviceGetPciInfo(handle).busId
        except pynvml.NVMLError as e:
            raise _translate(e, f"NVML device {nvml_index}") from None
        return cls(bus.decode() if isinstance(bus, bytes) else str(bus))

    @_nvml
    def name(self) -> str:
        n = pynvml.nvmlDeviceGetName(self.handle)
        return n.decode() if isinstance(n, bytes) else str(n)

    @_nvml
    def uuid(self) -> str:
        """The GPU's UUID ("GPU-..."): the same on every host and across reboots, unlike indices."""
        u = pynvml.nvmlDeviceGetUUID(self.handle)
        return u.decode() if isinstance(u, bytes) else str(u)

    @_nvml
    def sm_clock_mhz(self) -> int:
        return int(pynvml.nvmlDeviceGetClockInfo(self.handle, pynvml.NVML_CLOCK_SM))

    @_nvml
    def mem_clock_mhz(self) -> int:
        return int(pynvml.nvmlDeviceGetClockInfo(self.handle, pynvml.NVML_CLOCK_MEM))

    @_nvml
    def max_sm_clock_mhz(self) -> int:
        return int(pynvml.nvmlDeviceGetMaxClockInfo(self.handle, pynvml.NVML_CLOCK_SM))

    @_nvml
    def max_mem_clock_mhz(self) -> int:
        return int(pynvml.nvmlDeviceGetMaxClockInfo(self.handle, pynvml.NVML_CLOCK_MEM))

    @_nvml
    def supported_mem_clocks_mhz(self) -> list[int]:
        return sorted(int(c) for c in pynvml.nvmlDeviceGetSupportedMemoryClocks(self.handle))

    @_nvml
    def supported_sm_clocks_mhz(self, mem_clock_mhz: int) -> list[int]:
        return sorted(int(c) for c in pynvml.nvmlDeviceGetSupportedGraphicsClocks(self.handle, mem_clock_mhz))

    @_nvml
    def pstate(self) -> int:
        """Performance state: 0 (fastest) to 15; 32 unknown."""
        return int(pynvml.nvmlDeviceGetPerformanceState(self.handle))

    def clock_event_reasons(self) -> int:
        """Bit mask of why clocks are below maximum (0x1 idle, 0x4 power cap, 0x20/0x40 thermal ...).

        Uses nvmlDeviceGetCurrentClocksEventReasons (driver R535+), else the older throttle-reasons call.
        """
        try:
            return self._event_reasons()
        except NvmlFunctionNotFound:
            return self._throttle_reasons()

    @_nvml
    def _event_reasons(self) -> int:
        return int(pynvml.nvmlDeviceGetCurrentClocksEventReasons(self.handle))

    @_nvml
    def _throttle_reasons(self) -> int:
        return int(pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(self.handle))

    @_nvml
    def power_instant_mw(self) -> int:
        """Instantaneous power (field NVML_FI_DEV_POWER_INSTANT). Units: mW."""
        (v,) = pynvml.nvmlDeviceGetFieldValues(self.handle, [pynvml.NVML_FI_DEV_POWER_INSTANT])
        if v.nvmlReturn != pynvml.NVML_SUCCESS:
            raise pynvml.NVMLError(v.nvmlReturn)
        return int(v.value.uiVal)

    @_nvml
    def power_usage_mw(self) -> int:
        """nvmlDeviceGetPowerUsage: a 1 s average on Ampere and newer (except GA100). Units: mW."""
        return int(pynvml.nvmlDeviceGetPowerUsage(self.handle))

    @_nvml
    def energy_mj(self) -> int:
        """Energy since the driver loaded. Units: mJ (the counter's resolution)."""
        return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    @_nvml
    def temperature_c(self) -> int:
        return int(pynvml.nvmlDeviceGetTemperature(self.handle, pynvml.NVML_TEMPERATURE_GPU))

    @_nvml
    def power_limit_mw(self) -> int:
        return int(pynvml.nvmlDeviceGetEnforcedPowerLimit(self.handle))

    @_nvml
    def persistence_mode(self) -> bool:
        return bool(int(pynvml.nvmlDeviceGetPersistenceMode(self.handle)) == pynvml.NVML_FEATURE_ENABLED)

    @_nvml
    def sm_clock_samples(self, since_epoch_us: int) -> list[tuple[int, int]]:
        """The driver's buffered SM clock samples newer than since_epoch_us: (epoch us, MHz).

        Empty when there are none yet (NVML answers NotFound for that).
        """
        try:
            _, samples = pynvml.nvmlDeviceGetSamples(self.handle, pynvml.NVML_PROCESSOR_CLK_SAMPLES, since_epoch_us)
        except pynvml.NVMLError_NotFound:
            return []
        return [(int(s.timeStamp), int(s.sampleValue.uiVal)) for s in samples]

    # Setters: need root; used only by trtpace.clocks, never by tests on a real GPU.
    @_nvml
    def set_gpu_locked_clocks_mhz(self, min_mhz: int, max_mhz: int) -> None:
        pynvml.nvmlDeviceSetGpuLockedClocks(self.handle, min_mhz, max_mhz)

    @_nvml
    def reset_gpu_locked_clocks(self) -> None:
        pynvml.nvmlDeviceResetGpuLockedClocks(self.handle)

    @_nvml
    def set_mem_locked_clocks_mhz(self, min_mhz: int, max_mhz: int) -> None:
        pynvml.nvmlDeviceSetMemoryLockedClocks(self.handle, min_mhz, max_mhz)

    @_nvml
    def reset_mem_locked_clocks(self) -> None:
        pynvml.nvmlDeviceResetMemoryLockedClocks(self.handle)


def read_or_reason(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), or 'n/a (<error>)' when NVML cannot answer: for reports that show what they can."""
    try:
        return fn(*args)
    except NvmlError as e:
        return f"n/a ({type(e).__name__})"


def for_cuda_device(cuda_index: int) -> NvmlGpu:
    """The NVML view of CUDA device `cuda_index`, matched by PCI bus id."""
    from trtpace import _core

    return NvmlGpu(str(_core.device_info(cuda_index)["pci_bus_id"]))
