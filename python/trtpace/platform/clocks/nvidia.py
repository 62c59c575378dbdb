"""Locking NVIDIA GPU clocks through NVML, with nvidia-smi as the fallback: the nvml and nvidia-smi backends."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, ClassVar

from trtpace.platform import nvml
from trtpace.platform.clocks import targets
from trtpace.platform.clocks.errors import ClockError, ClockNotSupportedError, ClockPermissionError
from trtpace.platform.clocks.state import TDP, ClockState

__all__ = ["TDP", "LockPlan", "NvidiaSmiClocks", "NvmlClocks", "facts", "plan_for", "resolve_mem", "resolve_sm"]


@dataclass
class LockPlan:
    """What `lock` will do to one GPU."""

    gpu: nvml.NvmlGpu
    name: str
    sm_mhz: tuple[int, int] | None
    mem_mhz: tuple[int, int] | None

    @property
    def key(self) -> str:
        return self.gpu.pci_bus_id

    def _sm_text(self) -> str:
        assert self.sm_mhz is not None
        return "TDP, TDP" if self.sm_mhz == (TDP, TDP) else f"{self.sm_mhz[0]}, {self.sm_mhz[1]}"

    def nvml_calls(self) -> list[str]:
        calls = []
        if self.sm_mhz:
            calls.append(f"nvmlDeviceSetGpuLockedClocks({self.key}, {self._sm_text()})")
        if self.mem_mhz:
            calls.append(f"nvmlDeviceSetMemoryLockedClocks({self.key}, {self.mem_mhz[0]}, {self.mem_mhz[1]})")
        return calls

    def smi_commands(self) -> list[str]:
        cmds = []
        if self.sm_mhz:
            value = "tdp,tdp" if self.sm_mhz == (TDP, TDP) else f"{self.sm_mhz[0]},{self.sm_mhz[1]}"
            cmds.append(f"nvidia-smi -i {self.key} -lgc {value}")
        if self.mem_mhz:
            cmds.append(f"nvidia-smi -i {self.key} -lmc {self.mem_mhz[0]},{self.mem_mhz[1]}")
        return cmds

    def state(self, backend: str) -> ClockState:
        return ClockState(
            key=self.key,
            backend=backend,
            sm_mhz=list(self.sm_mhz) if self.sm_mhz else None,
            mem_mhz=list(self.mem_mhz) if self.mem_mhz else None,
        )


def _nearest(value: int, supported: list[int], what: str) -> int:
    lo, hi = min(supported), max(supported)
    if not lo <= value <= hi:
        raise ClockError(f"{what} {value} MHz is outside this GPU's supported range {lo}-{hi} MHz")
    return min(supported, key=lambda s: (abs(s - value), -s))


def _mhz(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ClockError(f"{what} must be max, base, MHZ or MIN:MAX, got {text!r}") from None
    if value <= 0:
        raise ClockError(f"{what} must be a positive number of MHz, got {value}")
    return value


def resolve_sm(gpu: nvml.NvmlGpu, spec: str) -> tuple[int, int]:
    """'max' | 'base' | 'MHZ' | 'MIN:MAX' -> the (min, max) pair to lock, snapped to supported clocks."""
    spec = spec.strip().lower()
    if spec == "base":
        return (TDP, TDP)
    supported = gpu.supported_sm_clocks_mhz(gpu.max_mem_clock_mhz())
    if not supported:
        raise ClockNotSupportedError(f"{gpu.name()} reports no supported SM clocks")
    if spec == "max":
        top = max(supported)
        return (top, top)
    if ":" in spec:
        lo_text, hi_text = spec.split(":", 1)
        lo = _nearest(_mhz(lo_text, "--sm"), supported, "SM clock")
        hi = _nearest(_mhz(hi_text, "--sm"), supported, "SM clock")
        if lo > hi:
            raise ClockError(f"--sm {spec}: the minimum is above the maximum")
        return (lo, hi)
    value = _nearest(_mhz(spec, "--sm"), supported, "SM clock")
    return (value, value)


def resolve_mem(gpu: nvml.NvmlGpu, spec: str) -> tuple[int, int]:
    """'max' | 'MHZ' -> the memory clock pair to lock, snapped to a supported memory clock."""
    supported = gpu.supported_mem_clocks_mhz()
    value = (
        max(supported) if spec.strip().lower() == "max" else _nearest(_mhz(spec, "--mem"), supported, "memory clock")
    )
    return (value, value)


def _smi(args: list[str]) -> bool:
    """Runs nvidia-smi; True when it succeeded."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    return subprocess.run([exe, *args], check=False, capture_output=True, text=True).returncode == 0


def plan_for(gpu: nvml.NvmlGpu, sm: str, mem: str | None) -> LockPlan:
    """Validates a lock request against the GPU's supported clocks; changes nothing."""
    try:
        return LockPlan(
            gpu=gpu, name=gpu.name(), sm_mhz=resolve_sm(gpu, sm), mem_mhz=resolve_mem(gpu, mem) if mem else None
        )
    except nvml.NvmlNotSupported as e:
        raise ClockNotSupportedError(f"{gpu.pci_bus_id}: cannot read supported clocks: {e}") from None


class NvmlClocks:
    """Locks an NVIDIA GPU's clocks through NVML (nvidia-smi where NVML refuses the call); a reset
    puts back the driver's default (NVML cannot read back, nor restore, someone else's lock)."""

    name: ClassVar[str] = "nvml"

    def __init__(self, plan: LockPlan, sudo_hint: str):
        self.plan = plan
        self.sudo_hint = sudo_hint

    @property
    def key(self) -> str:
        return self.plan.key

    def plan_lines(self) -> list[str]:
        p = self.plan
        return [
            f"{p.name} ({p.key}):",
            *(f"  NVML: {c}" for c in p.nvml_calls()),
            *(f"  same with nvidia-smi: {c}" for c in p.smi_commands()),
        ]

    def initial_record(self) -> ClockState:
        return self.plan.state(NvmlClocks.name)  # (nvidia-smi only where NVML refuses: apply says)

    def apply(self, state: ClockState) -> None:
        try:
            state.backend = self._lock()
        except ClockError:
            # The SM lock may have gone through before the memory lock was refused.
            with contextlib.suppress(nvml.NvmlError):
                if state.sm_mhz:
                    self.plan.gpu.reset_gpu_locked_clocks()
            raise

    def _lock(self) -> str:
        """Locks per plan and returns the name of the backend that did it."""
        plan = self.plan
        try:
            if plan.sm_mhz:
                plan.gpu.set_gpu_locked_clocks_mhz(*plan.sm_mhz)
            if plan.mem_mhz:
                try:
                    plan.gpu.set_mem_locked_clocks_mhz(*plan.mem_mhz)
                except nvml.NvmlNotSupported:
                    raise ClockNotSupportedError(
                        f"locking memory clocks is not supported on {plan.name} (it needs Ampere or newer and a "
                        "data-center or workstation GPU); lock only the SM clock"
                    ) from None
            return NvmlClocks.name
        except nvml.NvmlNoPermission:
            raise ClockPermissionError(
                f"locking clocks needs root: run `{self.sudo_hint}` (or `sudo {'; sudo '.join(plan.smi_commands())}`)"
            ) from None
        except nvml.NvmlNotSupported as e:
            # Some GPUs refuse the NVML call but accept nvidia-smi's (consumer SKUs, older drivers).
            if all(_smi(cmd.split()[1:]) for cmd in plan.smi_commands()):
                return NvidiaSmiClocks.name
            raise ClockNotSupportedError(f"locking clocks is not supported on {plan.name}: {e}") from None

    @classmethod
    def restore(cls, state: ClockState) -> None:
        """Back to the driver's default, on the GPU the record names by PCI bus id (never a path)."""
        try:
            targets.check_pci_bus_id(state.key)
        except targets.Refused as e:
            raise ClockError(f"refused to reset clocks of {state.key!r}: {e}") from None
        try:
            cls._release(nvml.NvmlGpu(state.key), state)
        except nvml.NvmlNoPermission:
            raise ClockPermissionError("resetting clocks needs root: run `sudo trtpace clocks reset`") from None
        except nvml.NvmlError as e:
            raise ClockError(f"cannot reset clocks of {state.key}: {e}") from None

    @staticmethod
    def _release(gpu: nvml.NvmlGpu, state: ClockState) -> None:
        if state.sm_mhz:
            gpu.reset_gpu_locked_clocks()
        if state.mem_mhz:
            gpu.reset_mem_locked_clocks()


class NvidiaSmiClocks(NvmlClocks):
    """An NVML lock that nvidia-smi carried out (NVML refused the call, nvidia-smi took it: NvmlClocks
    records it under this name); released through nvidia-smi too."""

    name: ClassVar[str] = "nvidia-smi"

    @staticmethod
    def _release(gpu: nvml.NvmlGpu, state: ClockState) -> None:
        if state.sm_mhz:
            _smi(["-i", state.key, "-rgc"])
        if state.mem_mhz:
            _smi(["-i", state.key, "-rmc"])


def facts(gpu: nvml.NvmlGpu) -> dict[str, Any]:
    """`trtpace clocks show` for one GPU: clocks, supported-clock summary, P-state, event reasons, power limit."""
    ask = nvml.read_or_reason
    mem_max = ask(gpu.max_mem_clock_mhz)
    sm_supported = ask(gpu.supported_sm_clocks_mhz, mem_max) if isinstance(mem_max, int) else []
    return {
        "gpu": gpu.pci_bus_id,
        "name": ask(gpu.name),
        "sm_mhz": ask(gpu.sm_clock_mhz),
        "max_sm_mhz": ask(gpu.max_sm_clock_mhz),
        "mem_mhz": ask(gpu.mem_clock_mhz),
        "max_mem_mhz": mem_max,
        "supported_sm_mhz": (
            f"{len(sm_supported)} values, {min(sm_supported)}-{max(sm_supported)}"
            if isinstance(sm_supported, list) and sm_supported
            else sm_supported
        ),
        "supported_mem_mhz": ask(gpu.supported_mem_clocks_mhz),
        "pstate": ask(gpu.pstate),
        "clock_event_reasons": (hex(r) if isinstance(r := ask(gpu.clock_event_reasons), int) else r),
        "power_limit_w": (p / 1e3 if isinstance(p := ask(gpu.power_limit_mw), int) else p),
    }
