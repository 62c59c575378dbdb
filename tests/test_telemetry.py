"""The NVML sampler against an autospec fake of pynvml, and the join of samples to inferences."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np
import pynvml
import pytest

from fake_nvml import function_not_found, make_fake_nvml, not_supported
from trtpace.measure import telemetry
from trtpace.platform import nvml


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    fake = make_fake_nvml()
    monkeypatch.setattr(nvml, "pynvml", fake)
    monkeypatch.setattr(nvml, "_initialized", False)
    return fake


def test_source_reads_every_column(fake) -> None:
    src = telemetry.NvmlSource(nvml.NvmlGpu("00000000:3B:00.0"))
    row = src.read()
    assert dict(zip(telemetry.COLUMNS[1:], row, strict=False)) == {
        "sm_mhz": 1410,
        "mem_mhz": 1593,
        "pstate": 0,
        "event_reasons": 1,
        "power_mw": 123_000,
        "energy_mj": pytest.approx(row[5]),
        "temp_c": 41,
    }
    assert src.power_source == "instant" and src.unsupported == []
    fake.nvmlDeviceGetHandleByPciBusId.assert_called_with(b"00000000:3B:00.0")


def test_unsupported_fields_read_as_nan(fake) -> None:
    fake.nvmlDeviceGetTemperature.side_effect = not_supported
    fake.nvmlDeviceGetTotalEnergyConsumption.side_effect = not_supported
    src = telemetry.NvmlSource(nvml.NvmlGpu("0:3B:00.0"))
    row = dict(zip(telemetry.COLUMNS[1:], src.read(), strict=False))
    assert math.isnan(row["temp_c"]) and math.isnan(row["energy_mj"])
    assert row["sm_mhz"] == 1410
    assert set(src.unsupported) == {"temp_c", "energy_mj"}


def test_power_falls_back_to_the_average_and_says_so(fake) -> None:
    fake.nvmlDeviceGetFieldValues.side_effect = lambda h, ids: [
        SimpleNamespace(nvmlReturn=pynvml.NVML_ERROR_NOT_SUPPORTED, value=SimpleNamespace(uiVal=0))
    ]
    src = telemetry.NvmlSource(nvml.NvmlGpu("0:3B:00.0"))
    assert src.power_source == "average over 1 s"
    assert dict(zip(telemetry.COLUMNS[1:], src.read(), strict=False))["power_mw"] == 150_000


def test_event_reasons_fall_back_to_throttle_reasons_on_old_drivers(fake) -> None:
    fake.nvmlDeviceGetCurrentClocksEventReasons.side_effect = function_not_found
    assert nvml.NvmlGpu("0:3B:00.0").clock_event_reasons() == 0x4


def test_errors_are_typed(fake) -> None:
    fake.nvmlDeviceSetGpuLockedClocks.side_effect = lambda *a: (_ for _ in ()).throw(pynvml.NVMLError_NoPermission())
    with pytest.raises(nvml.NvmlNoPermission, match="set_gpu_locked_clocks_mhz"):
        nvml.NvmlGpu("0:3B:00.0").set_gpu_locked_clocks_mhz(1980, 1980)
    fake.nvmlInit.side_effect = pynvml.NVMLError_LibraryNotFound
    fake_state = nvml._initialized
    nvml._initialized = False
    with pytest.raises(nvml.NvmlUnavailable):
        nvml.init()
    nvml._initialized = fake_state


def test_sampler_rate_times_and_window(fake) -> None:
    sampler = telemetry.Sampler(telemetry.NvmlSource(nvml.NvmlGpu("0:3B:00.0")))
    assert telemetry.MIN_RATE_HZ <= sampler.rate_hz <= telemetry.MAX_RATE_HZ
    t0 = time.monotonic_ns()
    with sampler:
        time.sleep(0.3)
    t1 = time.monotonic_ns()
    w = sampler.window(t0, t1, lead_ns=0)
    n = w["tel_t_ns"].size
    assert n >= 0.3 * telemetry.MIN_RATE_HZ * 0.5
    assert (np.diff(w["tel_t_ns"]) > 0).all() and t0 <= w["tel_t_ns"][0] and w["tel_t_ns"][-1] <= t1
    assert (w["tel_sm_mhz"] == 1410).all()
    assert sampler.describe()["clock_samples_merged"] is False  # NotFound at every drain: carried on without


def test_explicit_rate_and_clock_samples_merge(fake) -> None:
    now_us = time.time_ns() // 1000
    fake.nvmlDeviceGetSamples.side_effect = None
    fake.nvmlDeviceGetSamples.return_value = (
        pynvml.NVML_VALUE_TYPE_UNSIGNED_INT,
        [SimpleNamespace(timeStamp=now_us + 1000 * i, sampleValue=SimpleNamespace(uiVal=1900 + i)) for i in range(5)],
    )
    gpu = nvml.NvmlGpu("0:3B:00.0")
    sampler = telemetry.Sampler(telemetry.NvmlSource(gpu), rate_hz=200, clock_samples=gpu)
    assert sampler.rate_hz == 200
    t0 = time.monotonic_ns()
    with sampler:
        time.sleep(0.05)
    w = sampler.window(t0 - 10**9, time.monotonic_ns() + 10**9)
    assert list(w["tel_clk_sm_mhz"]) == [1900, 1901, 1902, 1903, 1904]
    # epoch microseconds land on the monotonic clock, 1 ms apart
    assert np.diff(w["tel_clk_t_ns"]).tolist() == [1_000_000] * 4
    assert abs(int(w["tel_clk_t_ns"][0]) - t0) < 50_000_000


def test_join_takes_the_last_sample_before() -> None:
    t = np.array([100, 200, 300])
    v = np.array([1.0, 2.0, 3.0])
    got = telemetry.join_before(t, v, np.array([50, 100, 250, 999]))
    assert np.isnan(got[0]) and got[1:].tolist() == [1.0, 2.0, 3.0]


def test_bad_rate_rejected(fake) -> None:
    with pytest.raises(ValueError, match="rate"):
        telemetry.Sampler(telemetry.NvmlSource(nvml.NvmlGpu("0:3B:00.0")), rate_hz=-5)


def test_slow_fields_are_read_less_often_to_keep_the_cpu_budget(fake) -> None:
    def slow_temperature(handle, sensor):
        time.sleep(0.002)
        return 41

    fake.nvmlDeviceGetTemperature.side_effect = slow_temperature
    sampler = telemetry.Sampler(telemetry.NvmlSource(nvml.NvmlGpu("0:3B:00.0")), rate_hz=200)
    strides = sampler.describe()["strides"]
    # 2 ms per read at 200 Hz would take 40% of a core; its share of the 5% budget is 1/7 of it.
    assert strides["sm_mhz"] == 1 and strides["temp_c"] >= 40
    t0 = time.monotonic_ns()
    with sampler:
        time.sleep(0.8)  # ~160 ticks: several reads of the slow column even on a loaded machine
    w = sampler.window(t0, time.monotonic_ns(), lead_ns=0)
    temp = w["tel_temp_c"]
    assert np.isfinite(w["tel_sm_mhz"]).all() and 0 < np.isfinite(temp).sum() < temp.size
    joined = telemetry.join_before(w["tel_t_ns"], temp, w["tel_t_ns"][-1:])
    assert joined[0] == 41  # the join skips ticks where the column was not read
