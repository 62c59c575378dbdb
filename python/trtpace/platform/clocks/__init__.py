"""Clock control with guaranteed restore: `trtpace clocks` and `trtpace.locked_clocks()`.

Every change is written to a state file first (see state.py), undone on normal exit, on
exceptions, on SIGINT and SIGTERM (chaining to the handlers that were there before) and at
interpreter exit; after kill -9 the state file remains and `trtpace clocks reset` undoes it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trtpace import _core
from trtpace.platform import nvml
from trtpace.platform.clocks import nvidia, tegra
from trtpace.platform.clocks import state as state_files
from trtpace.platform.clocks.errors import ClockError, ClockNotSupportedError, ClockPermissionError
from trtpace.platform.clocks.state import ClockState
from trtpace.platform.privileges import may_change_clocks

__all__ = ["ClockError", "ClockNotSupportedError", "ClockPermissionError", "lock", "locked_clocks", "plan",
           "reset", "show"]

GpuSelector = int | str  # a CUDA device index, or "all"


def _nvml_gpus(gpu: GpuSelector) -> list[nvml.NvmlGpu]:
    if gpu == "all":
        return [nvml.NvmlGpu.for_index(i) for i in range(nvml.device_count())]
    index = int(gpu)
    if _core.probe_cuda()["device_count"] > index:
        return [nvml.NvmlGpu(str(_core.device_info(index)["pci_bus_id"]))]
    # CUDA sees no such device (no CUDA driver in this process): fall back to NVML's numbering.
    return [nvml.NvmlGpu.for_index(index)]


def _targets(gpu: GpuSelector, doing: str) -> tuple[list[nvml.NvmlGpu], Any]:
    """The NVML GPUs to act on, or (on a Jetson without NVML) the GPU's devfreq node."""
    try:
        return _nvml_gpus(gpu), None
    except nvml.NvmlUnavailable as e:
        node = tegra.find()
        if node is None:
            raise ClockNotSupportedError(f"cannot {doing} here: {e}") from None
        return [], node
    except nvml.NvmlError as e:
        raise ClockError(str(e)) from None


def _sudo_hint(sm: str, mem: str | None, gpu: GpuSelector) -> str:
    return f"sudo trtpace clocks lock --sm {sm}" + (f" --mem {mem}" if mem else "") + f" --gpu {gpu}"


@dataclass
class Plan:
    """What lock() would do; printed by --dry-run."""

    nvidia: list[nvidia.LockPlan]
    jetson: ClockState | None = None
    jetson_node: Any = None  # the devfreq node the Jetson plan applies to

    def lines(self) -> list[str]:
        out = []
        for p in self.nvidia:
            out.append(f"{p.name} ({p.key}):")
            out += [f"  NVML: {c}" for c in p.nvml_calls()]
            out += [f"  same with nvidia-smi: {c}" for c in p.smi_commands()]
        if self.jetson is not None:
            node = self.jetson.key.removeprefix("jetson:")
            saved = {k: v for k, v in self.jetson.saved.items() if k != "target_hz"}
            out.append(f"Jetson GPU ({node}): write {self.jetson.saved['target_hz']} to min_freq, 0 to "
                       f"device/railgate_enable; saved to restore: {saved}")
        return out


def plan(sm: str = "max", mem: str | None = None, gpu: GpuSelector = 0) -> Plan:
    """Validates a lock request against the GPU's supported clocks; changes nothing."""
    gpus, node = _targets(gpu, "control clocks")
    if node is not None:
        if mem is not None:
            raise ClockNotSupportedError("--mem is not supported on Jetson (the EMC clock follows the power mode)")
        return Plan(nvidia=[], jetson=tegra.lock_max(node, sm), jetson_node=node)
    plans = []
    for g in gpus:
        try:
            plans.append(nvidia.LockPlan(gpu=g, name=g.name(), sm_mhz=nvidia.resolve_sm(g, sm),
                                         mem_mhz=nvidia.resolve_mem(g, mem) if mem else None))
        except nvml.NvmlNotSupported as e:
            raise ClockNotSupportedError(f"{g.pci_bus_id}: cannot read supported clocks: {e}") from None
    return Plan(nvidia=plans)


def lock(sm: str = "max", mem: str | None = None, gpu: GpuSelector = 0, *,
         use_jetson_clocks: bool = False) -> list[ClockState]:
    """Locks clocks and returns what was set. Writes each state file before changing anything.

    use_jetson_clocks: on Jetson, run NVIDIA's jetson_clocks (CPU, GPU and EMC to their maximum
    within the power mode) after `jetson_clocks --store` into a fresh file, restored on reset.
    """
    if use_jetson_clocks:
        if tegra.find() is None:
            raise ClockNotSupportedError("--jetson-clocks works only on a Jetson")
        st = ClockState(key="jetson:jetson_clocks", backend="jetson_clocks",
                        saved={"store_file": str(tegra.store_path())})
        state_files.write(st)
        tegra.jetson_clocks("store", tegra.store_path())
        return [st]
    p = plan(sm, mem, gpu)
    done: list[ClockState] = []
    try:
        if p.jetson is not None:
            state_files.write(p.jetson)
            tegra.apply(p.jetson_node, p.jetson)
            done.append(p.jetson)
        for lp in p.nvidia:
            st = lp.state("nvml")
            state_files.write(st)
            try:
                st.backend = nvidia.apply(lp, _sudo_hint(sm, mem, gpu))
            except ClockError:
                # The SM lock may have gone through before the memory lock was refused.
                with contextlib.suppress(nvml.NvmlError):
                    nvidia.release(lp.gpu, ClockState(key=st.key, backend="nvml", sm_mhz=st.sm_mhz))
                state_files.remove(st.key)
                raise
            state_files.write(st)
            done.append(st)
    except BaseException:
        for st in done:  # all or nothing over several GPUs
            _release(st)
        raise
    return done


def _release(st: ClockState) -> None:
    if st.backend == "jetson":
        tegra.restore(st)
    elif st.backend == "jetson_clocks":
        tegra.jetson_clocks("restore", Path(st.saved["store_file"]))
    else:
        try:
            gpu = nvml.NvmlGpu(st.key)
            nvidia.release(gpu, st)
        except nvml.NvmlNoPermission:
            raise ClockPermissionError("resetting clocks needs root: run `sudo trtpace clocks reset`") from None
        except nvml.NvmlError as e:
            raise ClockError(f"cannot reset clocks of {st.key}: {e}") from None
    state_files.remove(st.key)


def reset(gpu: GpuSelector = "all", everyone: bool = False) -> list[str]:
    """Undoes trtpace's locks (on `gpu`, or all); with `everyone`, resets GPU clocks whoever locked
    them. Returns one line per GPU reset."""
    said = []
    keys = None if gpu == "all" else {g.pci_bus_id for g in _nvml_gpus(gpu)}
    for st in state_files.all_states():
        if keys is None or st.key in keys:
            _release(st)
            said.append(f"{st.key}: reset ({st.describe()})")
    if everyone:
        for g in _nvml_gpus(gpu):
            try:
                g.reset_gpu_locked_clocks()
                with contextlib.suppress(nvml.NvmlNotSupported):  # memory locks need Ampere or newer
                    g.reset_mem_locked_clocks()
            except nvml.NvmlNoPermission:
                raise ClockPermissionError("resetting clocks needs root: run `sudo trtpace clocks reset --all`") from None
            said.append(f"{g.pci_bus_id}: GPU and memory locked clocks reset to the driver default")
    return said


def show(gpu: GpuSelector = 0) -> list[dict[str, Any]]:
    """Clocks, supported-clock summary, P-state, event reasons, power limit, and trtpace's locks."""
    allowed, why = may_change_clocks()
    out = []
    gpus, node = _targets(gpu, "read clocks")
    if node is not None:
        st = state_files.read(f"jetson:{node.path}")
        return [{"gpu": "jetson", **node.facts(), "trtpace_lock": st.describe() if st else None,
                 "may_change_clocks": allowed, "why": why}]
    ask = nvml.read_or_reason
    for g in gpus:
        mem_max = ask(g.max_mem_clock_mhz)
        sm_supported = ask(g.supported_sm_clocks_mhz, mem_max) if isinstance(mem_max, int) else []
        st = state_files.read(g.pci_bus_id)
        out.append({
            "gpu": g.pci_bus_id,
            "name": ask(g.name),
            "sm_mhz": ask(g.sm_clock_mhz),
            "max_sm_mhz": ask(g.max_sm_clock_mhz),
            "mem_mhz": ask(g.mem_clock_mhz),
            "max_mem_mhz": mem_max,
            "supported_sm_mhz": (f"{len(sm_supported)} values, {min(sm_supported)}-{max(sm_supported)}"
                                 if isinstance(sm_supported, list) and sm_supported else sm_supported),
            "supported_mem_mhz": ask(g.supported_mem_clocks_mhz),
            "pstate": ask(g.pstate),
            "clock_event_reasons": (hex(r) if isinstance(r := ask(g.clock_event_reasons), int) else r),
            "power_limit_w": (p / 1e3 if isinstance(p := ask(g.power_limit_mw), int) else p),
            "trtpace_lock": st.describe() if st else None,
            "may_change_clocks": allowed,
            "why": why,
        })
    return out


# --- the context manager -------------------------------------------------------------------

_active: dict[tuple[str, str | None, str], list[Any]] = {}  # request -> [depth, states]
_lock = threading.RLock()
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _release_all() -> None:
    with _lock:
        for entry in list(_active.values()):
            for st in entry[1]:
                with contextlib.suppress(ClockError):
                    _release(st)
            entry[1] = []


atexit.register(_release_all)


def _chained_handler(signum: int, frame: Any, *, previous: Any) -> None:
    _release_all()
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


@contextmanager
def locked_clocks(sm: str = "max", mem: str | None = None, gpu: GpuSelector = 0) -> Iterator[list[ClockState]]:
    """Locks clocks for the body and restores them on exit, exception, SIGINT or SIGTERM.

    Nested or repeated use with the same request locks once and restores at the outermost exit.
    Signal handlers are installed only from the main thread; earlier handlers still run.
    """
    key = (sm, mem, str(gpu))
    with _lock:
        entry = _active.get(key)
        if entry is None:
            entry = _active[key] = [0, lock(sm, mem, gpu)]
        entry[0] += 1
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread() and entry[0] == 1:
        for sig in _SIGNALS:
            prev = signal.getsignal(sig)
            previous[sig] = prev
            signal.signal(sig, functools.partial(_chained_handler, previous=prev))
    try:
        yield list(entry[1])
    finally:
        for sig, prev in previous.items():
            signal.signal(sig, prev)
        with _lock:
            entry[0] -= 1
            if entry[0] == 0:
                del _active[key]
                for st in entry[1]:
                    _release(st)
