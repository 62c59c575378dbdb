"""An autospec fake of pynvml for tests: NVML's real signatures, errors and constants, with
answers set per test. Used only for what cannot run here (no GPU, or calls that change clocks)."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pynvml


def make_fake_nvml() -> mock.MagicMock:
    fake = mock.create_autospec(pynvml, instance=False)
    # Errors and constants stay real, so `except pynvml.NVMLError_NotSupported` works as in production.
    for name in dir(pynvml):
        value = getattr(pynvml, name)
        if name.startswith(("NVMLError", "NVML_")) or isinstance(value, int):
            setattr(fake, name, value)
    fake.nvmlDeviceGetHandleByPciBusId.return_value = "handle0"
    fake.nvmlDeviceGetHandleByIndex.return_value = "handle0"
    fake.nvmlDeviceGetPciInfo.return_value = SimpleNamespace(busId=b"00000000:3B:00.0")
    fake.nvmlDeviceGetName.return_value = "Fake GPU"
    fake.nvmlSystemGetDriverVersion.return_value = "580.00.01"
    fake.nvmlDeviceGetClockInfo.side_effect = lambda h, t: {pynvml.NVML_CLOCK_SM: 1410, pynvml.NVML_CLOCK_MEM: 1593}[t]
    fake.nvmlDeviceGetMaxClockInfo.side_effect = lambda h, t: {pynvml.NVML_CLOCK_SM: 1980, pynvml.NVML_CLOCK_MEM: 2619}[
        t
    ]
    fake.nvmlDeviceGetSupportedMemoryClocks.return_value = [2619, 1593]
    fake.nvmlDeviceGetSupportedGraphicsClocks.return_value = list(range(1980, 210, -15))
    fake.nvmlDeviceGetPerformanceState.return_value = 0
    fake.nvmlDeviceGetCurrentClocksEventReasons.return_value = 0x1
    fake.nvmlDeviceGetCurrentClocksThrottleReasons.return_value = 0x4
    fake.nvmlDeviceGetFieldValues.side_effect = lambda h, ids: [
        SimpleNamespace(nvmlReturn=pynvml.NVML_SUCCESS, value=SimpleNamespace(uiVal=123_000))
    ]
    fake.nvmlDeviceGetPowerUsage.return_value = 150_000
    energy = iter(range(1_000_000, 10**9, 7))
    fake.nvmlDeviceGetTotalEnergyConsumption.side_effect = lambda h: next(energy)
    fake.nvmlDeviceGetTemperature.return_value = 41
    fake.nvmlDeviceGetEnforcedPowerLimit.return_value = 700_000
    fake.nvmlDeviceGetPersistenceMode.return_value = pynvml.NVML_FEATURE_ENABLED
    fake.nvmlDeviceGetSamples.side_effect = pynvml.NVMLError_NotFound
    return fake


def not_supported(*args: object) -> None:
    raise pynvml.NVMLError_NotSupported


def function_not_found(*args: object) -> None:
    raise pynvml.NVMLError_FunctionNotFound
