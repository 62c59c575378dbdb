"""The host side of an inference: which CPU core the paced loop ran on, that core's frequency
around each inference, its idle-state residency over a condition, and the `cpu-awake` remedy.

A sampler thread (never the timed C++ loop) reads the loop thread's last core from procfs and
that core's cpufreq frequency; each inference then gets the frequency read last before its issue
and first after its completion. This matters for the Python launch paths (eager, python, replay),
whose submit time is a Python call: a core that dropped its clock or slept deeply in the gap
makes that call slower.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trtpace.platform import cpu

RUNNER_THREAD = "trtpace-runner"  # the name measure/runner.py gives the thread running the C++ loop
DEFAULT_RATE_HZ = 500.0  # a tick costs ~10-20 us of Python: about 1% of a core
COLUMNS = ("cpu_t_ns", "cpu_core", "cpu_khz")


def runner_tid() -> int | None:
    """The OS thread id of the running paced loop, if one runs."""
    for t in threading.enumerate():
        if t.name == RUNNER_THREAD and t.native_id is not None:
            return t.native_id
    return None


@dataclass
class HostCpuSampler:
    """Samples (time, core, kHz) of the paced loop's thread while one runs.

    `on_core` is called with each new core the loop is seen on (cpu-awake follows it)."""

    rate_hz: float = DEFAULT_RATE_HZ
    find_tid: Callable[[], int | None] = runner_tid
    on_core: Callable[[int], None] | None = None
    _told: Callable[[int], None] | None = None
    _rows: list[tuple[int, int, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if not (self.rate_hz > 0 and math.isfinite(self.rate_hz)):
            raise ValueError(f"sampling rate must be > 0 Hz, got {self.rate_hz}")

    def start(self) -> HostCpuSampler:
        self._thread = threading.Thread(target=self._loop, name="trtpace-host-cpu", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> HostCpuSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sample_once(self, reader: cpu.FreqReader, tid: int | None, last_core: int | None) -> int | None:
        """One row for thread `tid`; returns the core seen."""
        core = reader.core(tid) if tid is not None else None
        if core is None:
            return last_core
        khz = reader.khz(core)
        with self._lock:
            self._rows.append((time.monotonic_ns(), core, math.nan if khz is None else float(khz)))
        # A new listener (cpu-awake of the next condition) hears the core even if it did not change.
        if self.on_core is not None and (core != last_core or self.on_core is not self._told):
            self.on_core(core)
        self._told = self.on_core
        return core

    def _loop(self) -> None:
        period = 1.0 / self.rate_hz
        reader = cpu.FreqReader()
        core: int | None = None
        try:
            while not self._stop.is_set():
                # Each condition runs the loop on a new thread: look it up every tick (a few us).
                core = self.sample_once(reader, self.find_tid(), core)
                self._stop.wait(period)
        finally:
            reader.close()

    def window(self, t0_ns: int, t1_ns: int, lead_ns: int = 100_000_000) -> dict[str, np.ndarray]:
        """Samples from t0 - lead to t1 + lead, as tel_cpu_* arrays (saved with the condition)."""
        with self._lock:
            rows = np.array(self._rows, dtype=np.float64).reshape(-1, 3)
        keep = (rows[:, 0] >= t0_ns - lead_ns) & (rows[:, 0] <= t1_ns + lead_ns)
        return {
            "tel_cpu_t_ns": rows[keep, 0].astype(np.int64),
            "tel_cpu_core": rows[keep, 1].astype(np.int64),
            "tel_cpu_khz": rows[keep, 2],
        }


def join_after(sample_t_ns: np.ndarray, values: np.ndarray, at_ns: np.ndarray) -> np.ndarray:
    """For each time in at_ns, the first finite value read at or after it (NaN if none)."""
    read = np.isfinite(values)
    sample_t_ns, values = sample_t_ns[read], values[read]
    idx = np.searchsorted(sample_t_ns, at_ns, side="left")
    out = np.full(np.shape(at_ns), np.nan)
    ok = idx < sample_t_ns.size
    out[ok] = values[idx[ok]]
    return out


def idle_snapshot(cores: list[int]) -> dict[int, dict[str, tuple[int, int]]]:
    return {c: cpu.idle_states(c) for c in cores}


def cores_in_use() -> list[int]:
    """The cores this process may run on (the loop thread runs on one of them)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return []


# The spinner runs in its own process, so it never holds this process's GIL (the Python launch
# paths need it), at SCHED_IDLE, so any ordinary thread waking on that core preempts it at once.
# It dies with its parent, however the parent ends (kill -9 included): the kernel sends it SIGKILL
# when the parent thread exits (PR_SET_PDEATHSIG), and it also stops once it is reparented, which
# covers a parent that died before the request was made.
_SPINNER = """
import ctypes, os, signal, sys
core, parent = int(sys.argv[1]), int(sys.argv[2])
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
os.sched_setaffinity(0, {core})
while os.getppid() == parent:
    for _ in range(200000):
        pass
"""


class CpuAwake:
    """The `cpu-awake` remedy: a SCHED_IDLE spinner on the core the paced loop runs on, so the core
    never enters an idle state or drops its clock during the gap; it follows the loop to other cores.

    The spinner costs a whole core's power while the gap lasts; only the measured gain decides if
    it is worth it (`trtpace compare --policies default,cpu-awake`)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.core: int | None = None
        self.moves = 0
        # follow() runs on the host sampler's thread, stop() on the caller's: without the lock a
        # follow racing a stop could start a spinner that nothing stops
        self._lock = threading.Lock()
        self._stopped = False

    def follow(self, core: int) -> None:
        with self._lock:
            if not self._stopped:
                self._follow(core)

    def _follow(self, core: int) -> None:
        if core == self.core:
            return
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _SPINNER, str(core), str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        else:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, {core})
            self.moves += 1
        self.core = core

    def cpu_ns(self) -> int:
        """CPU time the spinner has used so far (its whole cost on the host). Units: ns."""
        if self.proc is None:
            return 0
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return 0
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Ends the spinner (and any later follow()): returns once it is gone and reaped."""
        with self._lock:
            self._stopped = True
            if self.proc is not None:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
            self.core = None

    def describe(self) -> dict[str, Any]:
        alive = self.proc is not None and self.proc.poll() is None
        return {"core": self.core, "moves": self.moves, "spinning": alive}


def condition_summary(
    telemetry: dict[str, np.ndarray],
    idle_before: dict[int, dict[str, tuple[int, int]]],
    idle_after: dict[int, dict[str, tuple[int, int]]],
    wall_ns: int,
) -> dict[str, Any]:
    """Where a condition's loop ran: its main core (and the share of samples there), the cores
    seen, and the main core's idle-state residency over the condition (empty where not exposed)."""
    cores = telemetry.get("tel_cpu_core", np.zeros(0, dtype=np.int64))
    if cores.size == 0:
        return {"core": None, "core_share": math.nan, "cores_seen": [], "idle": {}}
    values, counts = np.unique(cores, return_counts=True)
    main = int(values[np.argmax(counts)])
    idle = {}
    if main in idle_before and main in idle_after:
        idle = cpu.idle_residency(idle_before[main], idle_after[main], wall_ns / 1e3)
    return {
        "core": main,
        "core_share": float(counts.max() / counts.sum()),
        "cores_seen": [int(v) for v in values],
        "idle": idle,
    }
