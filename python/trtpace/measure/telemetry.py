"""GPU telemetry sampled in the background and joined to inferences by time.

The sampler is a Python thread: it never runs inside the timed C++ loop, which runs without the
GIL on its own thread. Samples carry the host monotonic clock of the runner's records.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from trtpace.platform import jetson, nvml

COLUMNS = ("t_ns", "sm_mhz", "mem_mhz", "pstate", "event_reasons", "power_mw", "energy_mj", "temp_c")
CLOCK_SAMPLE_COLUMNS = ("clk_t_ns", "clk_sm_mhz")
MIN_RATE_HZ = 100.0
MAX_RATE_HZ = 1000.0
CPU_BUDGET = 0.05  # of one core
ENERGY_RESOLUTION_MJ = 1  # nvmlDeviceGetTotalEnergyConsumption counts whole millijoules

_NAN = math.nan


class Source(Protocol):
    name: str
    power_source: str | None
    energy_source: str | None
    strides: list[int]

    def read(self) -> tuple[float, ...]:
        """One row of COLUMNS[1:] (NaN where not available)."""
        ...

    def fit_budget(self, rate_hz: float, budget: float) -> None: ...


class NvmlSource:
    """Reads an NVIDIA GPU through NVML; fields the GPU does not support read as NaN."""

    name = "nvml"

    def __init__(self, gpu: nvml.NvmlGpu):
        self.gpu = gpu
        readers = {
            "sm_mhz": gpu.sm_clock_mhz,
            "mem_mhz": gpu.mem_clock_mhz,
            "pstate": gpu.pstate,
            "event_reasons": gpu.clock_event_reasons,
            "energy_mj": gpu.energy_mj,
            "temp_c": gpu.temperature_c,
        }
        # Instant power where the driver has the field; the power-usage call is a 1 s average
        # on Ampere and newer, so the source is recorded with the results.
        self.power_source = None
        for label, reader in (("instant", gpu.power_instant_mw), ("average over 1 s", gpu.power_usage_mw)):
            if self._works(reader):
                readers["power_mw"], self.power_source = reader, label
                break
        self._readers = [readers[c] if c in readers and self._works(readers[c]) else None for c in COLUMNS[1:]]
        self.unsupported = [c for c, r in zip(COLUMNS[1:], self._readers, strict=False) if r is None]
        self.energy_source = None if "energy_mj" in self.unsupported else "NVML total energy counter"
        self.strides = [1] * len(self._readers)
        self._tick = 0

    def column_costs_s(self) -> list[float]:
        """What one read of each column costs here (median of 5; 0 for unsupported ones)."""
        costs = []
        for reader in self._readers:
            if reader is None:
                costs.append(0.0)
                continue
            times = []
            for _ in range(5):
                t = time.perf_counter()
                with contextlib.suppress(nvml.NvmlError):
                    reader()
                times.append(time.perf_counter() - t)
            costs.append(sorted(times)[2])
        return costs

    def fit_budget(self, rate_hz: float, budget: float) -> None:
        """Reads each column every `stride` ticks so that, at rate_hz, the reads cost at most
        `budget` of a core: each column gets an equal share, and the SM clock is read every tick."""
        costs = self.column_costs_s()
        share = budget / max(1, sum(1 for r in self._readers if r is not None))
        self.strides = [max(1, math.ceil(c * rate_hz / share)) for c in costs]
        self.strides[0] = 1

    @staticmethod
    def _works(reader: Any) -> bool:
        try:
            reader()
            return True
        except nvml.NvmlError:
            return False

    def read(self) -> tuple[float, ...]:
        """One row; a column not due this tick (see fit_budget) reads as NaN."""
        row = []
        for reader, stride in zip(self._readers, self.strides, strict=False):
            if reader is None or self._tick % stride:
                row.append(_NAN)
                continue
            try:
                row.append(float(reader()))
            except nvml.NvmlError:
                row.append(_NAN)
        self._tick += 1
        return tuple(row)


class JetsonSource:
    """Reads the GPU's devfreq node on Jetson (NVML is mostly unavailable there) and, where the
    module has INA3221 monitors, the power of the GPU's rail (jetson.gpu_power_rail: a rail of the
    GPU alone, else one it shares, else the module's input; power_source says which). The monitors
    keep no energy counter: energy_mj is the power integrated over the samples (trapezoids), and a
    rail read that fails reads as NaN for that tick."""

    name = "jetson-devfreq"

    def __init__(self, node: jetson.Devfreq, rail: tuple[jetson.PowerRail, str] | None = None):
        self.node = node
        self.rail = rail[0] if rail else None
        self.power_source: str | None = f"INA3221 {rail[0].label} ({rail[1]})" if rail else None
        self.energy_source: str | None = "integrated from the power samples" if rail else None
        self.unsupported = ["mem_mhz", "pstate", "event_reasons", "temp_c"] + (
            [] if rail else ["power_mw", "energy_mj"]
        )
        self.strides = [1] * (len(COLUMNS) - 1)
        self._tick = 0
        self._last: tuple[int, float] | None = None  # (t_ns, power_mw) of the last rail read
        self._energy_mj = 0.0

    def fit_budget(self, rate_hz: float, budget: float) -> None:
        """The devfreq read every tick; the rail (two I2C-backed reads) every few ticks where at
        rate_hz it would cost more than half the budget."""
        if self.rail is None:
            return
        times = []
        for _ in range(5):
            t = time.perf_counter()
            with contextlib.suppress(OSError):
                self.rail.power_mw()
            times.append(time.perf_counter() - t)
        stride = max(1, math.ceil(sorted(times)[2] * rate_hz / (budget / 2)))
        self.strides[COLUMNS.index("power_mw") - 1] = self.strides[COLUMNS.index("energy_mj") - 1] = stride

    def _power(self) -> tuple[float, float]:
        """(power_mw, energy_mj) now, or NaNs where the rail is absent, not due or unreadable."""
        if self.rail is None or self._tick % self.strides[COLUMNS.index("power_mw") - 1]:
            return _NAN, _NAN
        try:
            power = self.rail.power_mw()
        except OSError:
            return _NAN, _NAN
        now = time.monotonic_ns()
        if self._last is not None:
            self._energy_mj += (self._last[1] + power) / 2 * (now - self._last[0]) / 1e9
        self._last = (now, power)
        return power, self._energy_mj

    def read(self) -> tuple[float, ...]:
        mhz = self.node.cur_hz() / 1e6
        power, energy = self._power()
        self._tick += 1
        return (mhz, _NAN, _NAN, _NAN, power, energy, _NAN)


@dataclass
class Sampler:
    """Samples a source at a fixed rate on a background thread.

    rate_hz=None picks the fastest rate whose query cost stays under 5% of one core, measured at
    start, and never below 100 Hz. Where NVML is slow, columns other than the SM clock are read
    every few ticks (their `strides`) so the sampler still keeps to that budget.
    """

    source: Source
    rate_hz: float | None = None
    clock_samples: nvml.NvmlGpu | None = None  # merge NVML's buffered SM clock samples too
    query_cost_s: float = 0.0
    _rows: list[tuple[float, ...]] = field(default_factory=list)
    _clk: list[tuple[int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        start = time.perf_counter()
        for _ in range(10):
            self.source.read()
        self.query_cost_s = (time.perf_counter() - start) / 10
        if self.rate_hz is None:
            affordable = CPU_BUDGET / max(self.query_cost_s, 1e-7)
            self.rate_hz = min(MAX_RATE_HZ, max(MIN_RATE_HZ, affordable))
        if not (self.rate_hz > 0 and math.isfinite(self.rate_hz)):
            raise ValueError(f"sampling rate must be > 0 Hz, got {self.rate_hz}")
        self.source.fit_budget(self.rate_hz, CPU_BUDGET)
        # NVML's sample buffer stamps epoch microseconds; this maps them onto the monotonic clock.
        self._epoch_to_mono_ns = time.monotonic_ns() - time.time_ns()

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._loop, name="trtpace-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._drain_clock_samples()

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        assert self.rate_hz is not None
        period_ns = int(1e9 / self.rate_hz)
        next_ns = time.monotonic_ns()
        last_drain = next_ns
        while not self._stop.is_set():
            t = time.monotonic_ns()
            row = (float(t), *self.source.read())
            with self._lock:
                self._rows.append(row)
            if t - last_drain > 500_000_000:
                self._drain_clock_samples()
                last_drain = t
            next_ns += period_ns
            delay = (next_ns - time.monotonic_ns()) / 1e9
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_ns = time.monotonic_ns()  # fell behind: don't burst to catch up

    def _drain_clock_samples(self) -> None:
        if self.clock_samples is None:
            return
        since = self._clk[-1][0] if self._clk else 0
        try:
            new = self.clock_samples.sm_clock_samples(since)
        except nvml.NvmlError:
            self.clock_samples = None  # not kept by this driver or GPU: carry on without
            return
        with self._lock:
            self._clk.extend(s for s in new if s[0] > since)

    def window(self, t0_ns: int, t1_ns: int, lead_ns: int = 1_000_000_000) -> dict[str, np.ndarray]:
        """Samples from t0 - lead to t1, as arrays named tel_<column> (and tel_clk_* when merged)."""
        with self._lock:
            rows = np.array(self._rows, dtype=np.float64).reshape(-1, len(COLUMNS))
            clk = np.array(self._clk, dtype=np.int64).reshape(-1, 2)
        keep = (rows[:, 0] >= t0_ns - lead_ns) & (rows[:, 0] <= t1_ns)
        out = {f"tel_{c}": rows[keep, i] for i, c in enumerate(COLUMNS)}
        out["tel_t_ns"] = out["tel_t_ns"].astype(np.int64)
        clk_t = clk[:, 0] * 1000 + self._epoch_to_mono_ns
        ck = (clk_t >= t0_ns - lead_ns) & (clk_t <= t1_ns)
        out["tel_clk_t_ns"], out["tel_clk_sm_mhz"] = clk_t[ck], clk[ck, 1].astype(np.float64)
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source.name,
            "rate_hz": self.rate_hz,
            "query_cost_us": self.query_cost_s * 1e6,
            "power_source": self.source.power_source,
            "energy_source": self.source.energy_source,
            "unsupported": getattr(self.source, "unsupported", []),
            "strides": dict(zip(COLUMNS[1:], self.source.strides, strict=False)),
            "clock_samples_merged": self.clock_samples is not None,
            "energy_resolution_mj": ENERGY_RESOLUTION_MJ,
        }


def open_sampler(cuda_index: int, rate_hz: float | None = None) -> tuple[Sampler | None, str]:
    """A sampler for CUDA device `cuda_index` (NVML, else Jetson devfreq), or None and why not."""
    try:
        gpu = nvml.for_cuda_device(cuda_index)
        return Sampler(NvmlSource(gpu), rate_hz=rate_hz, clock_samples=gpu), "nvml"
    except nvml.NvmlError as e:
        reason = str(e)
    node = jetson.find_gpu_devfreq()
    if node is not None:
        return Sampler(JetsonSource(node, jetson.gpu_power_rail()), rate_hz=rate_hz), "jetson-devfreq"
    return None, f"no GPU telemetry: {reason}"


def join_before(sample_t_ns: np.ndarray, values: np.ndarray, at_ns: np.ndarray) -> np.ndarray:
    """For each time in at_ns, the last value read at or before it (NaN if none).

    Samples where the column was not read (NaN) are skipped."""
    read = np.isfinite(values)
    sample_t_ns, values = sample_t_ns[read], values[read]
    idx = np.searchsorted(sample_t_ns, at_ns, side="right") - 1
    out = np.full(at_ns.shape, np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out
