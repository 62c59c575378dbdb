"""Clock control with guaranteed restore: `trtpace clocks` and `trtpace.locked_clocks()`.

Every change is written to a per-GPU record first (see state.py), which also counts the owners:
processes and `trtpace clocks lock` asking for the same target share one lock, and the last one
out restores the clocks the first one found. A process's share ends on normal exit, on
exceptions, on SIGINT and SIGTERM (chaining to the handlers that were there before) and at
interpreter exit; after kill -9 the next trtpace command that looks drops it (reap_stale), and
`trtpace clocks reset` undoes any lock. A share belongs to the process that took it: a forked
child inherits none (its exit, handlers and atexit leave the parent's share alone). A record from
an earlier boot is dropped without restoring (the driver reset those clocks at boot).

The flows here (lock, join, release, reset, reap) are the same for every way of locking: each way
is a ClockBackend (backend.py: NVML and its nvidia-smi fallback in nvidia.py, the Jetson devfreq
node and jetson_clocks in tegra.py), and REGISTRY maps a record's `backend` to the class that
restores it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from trtpace import _core
from trtpace.platform import jetson, nvml
from trtpace.platform.clocks import nvidia, tegra
from trtpace.platform.clocks import state as state_files
from trtpace.platform.clocks.backend import ClockBackend
from trtpace.platform.clocks.errors import (
    ClockBusyError,
    ClockError,
    ClockNotSupportedError,
    ClockPermissionError,
)
from trtpace.platform.clocks.state import HOLD_PROCESS, HOLD_UNTIL_RESET, ClockState, Owner
from trtpace.platform.privileges import may_change_clocks
from trtpace.signals import handling, pass_on

__all__ = [
    "ClockBusyError",
    "ClockError",
    "ClockNotSupportedError",
    "ClockPermissionError",
    "lock",
    "locked_clocks",
    "plan",
    "reap_stale",
    "reset",
    "show",
]

GpuSelector = int | str  # a CUDA device index, or "all"

# A record's `backend` -> the class that locks that way and restores such a record (backend.py).
_BACKEND_CLASSES: tuple[type[ClockBackend], ...] = (
    nvidia.NvmlClocks,
    nvidia.NvidiaSmiClocks,
    tegra.DevfreqClocks,
    tegra.JetsonClocks,
)
REGISTRY: dict[str, type[ClockBackend]] = {b.name: b for b in _BACKEND_CLASSES}


def backend_of(st: ClockState) -> type[ClockBackend]:
    """The class that restores `st` (ClockError for a backend trtpace does not know)."""
    backend = REGISTRY.get(st.backend)
    if backend is None:
        raise ClockError(f"refused to restore {st.key}: unknown backend {st.backend!r}")
    return backend


def _nvml_gpus(gpu: GpuSelector) -> list[nvml.NvmlGpu]:
    if gpu == "all":
        return [nvml.NvmlGpu.for_index(i) for i in range(nvml.device_count())]
    index = int(gpu)
    if _core.probe_cuda()["device_count"] > index:
        return [nvml.NvmlGpu(str(_core.device_info(index)["pci_bus_id"]))]
    # CUDA sees no such device (no CUDA driver in this process): fall back to NVML's numbering.
    return [nvml.NvmlGpu.for_index(index)]


def _targets(gpu: GpuSelector, doing: str) -> tuple[list[nvml.NvmlGpu], jetson.Devfreq | None]:
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

    locks: list[ClockBackend]
    steps: list[str]  # each lock's plan_lines(), read when planned (a Jetson plan reads its node then)

    @property
    def nvidia(self) -> list[nvidia.LockPlan]:
        return [b.plan for b in self.locks if isinstance(b, nvidia.NvmlClocks)]

    def lines(self) -> list[str]:
        return list(self.steps)


def _locks(sm: str, mem: str | None, gpu: GpuSelector) -> list[ClockBackend]:
    """One lock request per target of `gpu`: each NVIDIA GPU's, validated against its supported
    clocks, or (on a Jetson without NVML) the GPU's devfreq node's. Changes nothing."""
    gpus, node = _targets(gpu, "control clocks")
    if node is not None:
        if mem is not None:
            raise ClockNotSupportedError("--mem is not supported on Jetson (the EMC clock follows the power mode)")
        return [tegra.DevfreqClocks(node, sm)]
    hint = _sudo_hint(sm, mem, gpu)
    return [nvidia.NvmlClocks(nvidia.plan_for(g, sm, mem), hint) for g in gpus]


def plan(sm: str = "max", mem: str | None = None, gpu: GpuSelector = 0) -> Plan:
    """Validates a lock request against the GPU's supported clocks; changes nothing."""
    locks = _locks(sm, mem, gpu)
    return Plan(locks=locks, steps=[line for b in locks for line in b.plan_lines()])


def _busy_line(cur: ClockState) -> str:
    alive = [o for o in cur.owners if o.alive]
    return f"{cur.describe_target()}, held by {'; '.join(o.describe() for o in alive)}"


def _acquire(backend: ClockBackend, hold: str) -> tuple[ClockState, Owner]:
    """Takes a share of the lock of `backend`'s target: the first owner records the clocks found and
    locks; a later one asking the same target joins (nothing changes on the GPU); one asking another
    target is refused."""
    key, make = backend.key, backend.initial_record
    owner = state_files.this_process(hold)
    with state_files.guarded(key):
        cur = state_files.read(key)  # a damaged record raises: trtpace cannot tell what it would overwrite
        if cur is not None and cur.from_other_boot:
            state_files.remove(key)  # its lock ended with that boot: lock afresh, nothing to restore
            cur = None
        new = make()
        if cur is not None:
            cur.owners = [o for o in cur.owners if o.alive]  # a dead owner's share ends here
            if cur.target() == new.target():
                cur.owners.append(owner)
                state_files.write(cur)
                return cur, owner
            if cur.owners:
                raise ClockBusyError(
                    f"clocks of {key} are locked by trtpace to {_busy_line(cur)}; "
                    f"{new.describe_target()} is refused (wait for them, or break the lock "
                    "with `trtpace clocks reset --force`)"
                )
            # Left by owners that are gone, at another target: back to what they found, then lock afresh.
            _restore(cur)
            state_files.remove(key)
            new = make()
        new.owners = [owner]
        state_files.write(new)  # written before the GPU changes, so a crash in between leaves a record
        written = new.backend
        try:
            backend.apply(new)
        except BaseException:
            state_files.remove(key)
            raise
        if new.backend != written:  # apply chose another backend: the record must say how to undo it
            try:
                state_files.write(new)
            except ClockError:
                with contextlib.suppress(ClockError, OSError, subprocess.SubprocessError):
                    _restore(new)
                    state_files.remove(key)
                raise
        return new, owner


def _release_share(key: str, owner_id: str) -> None:
    """Ends one owner's share; the last one out restores the clocks found by the first."""
    with state_files.guarded(key):
        cur = state_files.read(key)
        if cur is None or not any(o.id == owner_id for o in cur.owners):
            return  # broken by `trtpace clocks reset --force`: not ours any more
        cur.owners = [o for o in cur.owners if o.id != owner_id and o.alive]
        if cur.owners:
            state_files.write(cur)
            return
        if not cur.from_other_boot:  # (a lock from an earlier boot ended with it)
            try:
                _restore(cur)
            except BaseException:
                with contextlib.suppress(ClockError):
                    state_files.write(cur)  # no owner left: stale, for the next command that looks
                raise
        state_files.remove(key)


def acquire(
    sm: str = "max",
    mem: str | None = None,
    gpu: GpuSelector = 0,
    *,
    use_jetson_clocks: bool = False,
    hold: str = HOLD_UNTIL_RESET,
) -> list[tuple[ClockState, Owner]]:
    """lock(), returning each GPU's record with the share this call took (to release it by)."""
    taken: list[tuple[ClockState, Owner]] = []
    try:
        if use_jetson_clocks:
            if tegra.find() is None:
                raise ClockNotSupportedError("--jetson-clocks works only on a Jetson")
            locks: list[ClockBackend] = [tegra.JetsonClocks()]
        else:
            locks = _locks(sm, mem, gpu)
        for backend in locks:
            taken.append(_acquire(backend, hold))
    except BaseException:
        for st, owner in taken:  # all or nothing over several GPUs
            with contextlib.suppress(ClockError):
                _release_share(st.key, owner.id)
        raise
    return taken


def lock(
    sm: str = "max", mem: str | None = None, gpu: GpuSelector = 0, *, use_jetson_clocks: bool = False
) -> list[ClockState]:
    """Locks clocks until `reset` and returns what is set. Writes each record before changing anything.

    A GPU already locked by trtpace to the same target is joined (its owners count one more, and
    the clocks found by the first locker stay the ones restored); another target is refused.
    use_jetson_clocks: on Jetson, run NVIDIA's jetson_clocks (CPU, GPU and EMC to their maximum
    within the power mode) after `jetson_clocks --store` into a fresh file, restored on reset.
    """
    return [st for st, _ in acquire(sm, mem, gpu, use_jetson_clocks=use_jetson_clocks, hold=HOLD_UNTIL_RESET)]


def _restore(st: ClockState) -> None:
    """Puts back what the first owner found (NVIDIA: the driver default), through the record's
    backend, confined to the real targets whatever the record says."""
    backend_of(st).restore(st)


def _selected_keys(gpu: GpuSelector) -> set[str] | None:
    if gpu == "all":
        return None
    gpus, node = _targets(gpu, "reset clocks")
    if node is not None:
        return {tegra.key_of(node), tegra.JetsonClocks.key}
    return {g.pci_bus_id for g in gpus}


def damaged_records() -> list[state_files.DamagedState]:
    return state_files.scan()[1]


def reset(gpu: GpuSelector = "all", everyone: bool = False, force: bool = False) -> list[str]:
    """Undoes trtpace's locks (on `gpu`, or all), whoever of trtpace holds them; with `everyone`,
    also resets NVIDIA GPU clocks whoever locked them. A lock held by a running process is broken
    only with `force` (that process's clocks change under it); otherwise ClockBusyError names it.
    A damaged record blocks nothing: the caller warns (damaged_records()). Returns one line per reset."""
    keys = _selected_keys(gpu)
    states = [s for s in state_files.all_states() if keys is None or s.key in keys]
    busy = [s for s in states if any(o.live_process for o in s.owners)]
    if busy and not force:
        raise ClockBusyError(
            "; ".join(f"clocks of {s.key} are held by a running trtpace process: {_busy_line(s)}" for s in busy)
            + "; `trtpace clocks reset --force` breaks the lock"
        )
    said = []
    for s in states:
        with state_files.guarded(s.key):
            cur = state_files.read_or_none(s.key)
            if cur is None:
                continue  # released meanwhile
            if cur.from_other_boot:
                state_files.remove(cur.key)
                said.append(
                    f"{cur.key}: dropped its record ({cur.describe_target()} via {cur.backend}) from "
                    "before the last reboot, which reset the clocks"
                )
                continue
            live = [o for o in cur.owners if o.live_process]
            if live and not force:
                continue  # taken by a running process since the check above
            _restore(cur)
            state_files.remove(cur.key)
        broke = f"; broke the lock of {', '.join(o.describe() for o in live)}" if live else ""
        said.append(f"{cur.key}: reset ({cur.describe_target()} via {cur.backend}){broke}")
    if everyone:
        for g in _nvml_gpus(gpu):
            try:
                g.reset_gpu_locked_clocks()
                with contextlib.suppress(nvml.NvmlNotSupported):  # memory locks need Ampere or newer
                    g.reset_mem_locked_clocks()
            except nvml.NvmlNoPermission:
                raise ClockPermissionError(
                    "resetting clocks needs root: run `sudo trtpace clocks reset --all`"
                ) from None
            said.append(f"{g.pci_bus_id}: GPU and memory locked clocks reset to the driver default")
            # Its damaged record (if any) no longer describes anything; one not trusted is left alone.
            damaged = state_files.path_of(g.pci_bus_id)
            if any(d.path == damaged and not isinstance(d, state_files.UntrustedState) for d in damaged_records()):
                state_files.remove(g.pci_bus_id)
                said.append(f"{g.pci_bus_id}: removed its damaged state file {damaged}")
    return said


def reap_stale() -> list[str]:
    """The look every command takes before it runs: drops the shares of owners whose process is
    gone, restores the clocks where none is left, drops records from an earlier boot (without
    restoring: the driver reset those clocks at boot), and returns one line per thing it did or
    could not do. Never raises: a stale lock or a damaged or planted record must not stop a sweep."""
    try:
        return _reap_stale()
    except Exception as e:  # noqa: BLE001 (the promise above, whatever the records hold)
        why = (str(e).splitlines() or [type(e).__name__])[0]
        return [f"cannot check trtpace's clock records in {state_files.state_dir()}: {why}"]


def _reap_stale() -> list[str]:
    try:
        states, damaged = state_files.scan()
    except (ClockError, OSError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return [f"cannot read trtpace's clock records in {state_files.state_dir()}: {why}"]
    out = [state_files.damaged_warning(d) for d in damaged]
    for s in states:
        if not s.from_other_boot and s.owners and all(o.alive for o in s.owners):
            continue
        try:
            with state_files.guarded(s.key):
                cur = state_files.read(s.key)
                if cur is None:
                    continue
                if cur.from_other_boot:
                    state_files.remove(cur.key)
                    out.append(
                        f"clocks of {s.key}: dropped trtpace's record of a lock ({cur.describe_target()}) "
                        "from before the last reboot, which reset the clocks; nothing to restore"
                    )
                    continue
                gone = [o for o in cur.owners if not o.alive]
                cur.owners = [o for o in cur.owners if o.alive]
                if cur.owners:
                    if gone:
                        state_files.write(cur)
                    continue
                if gone:
                    state_files.write(cur)
                _restore(cur)
                state_files.remove(cur.key)
            out.append(
                f"clocks of {s.key} were left locked by a trtpace process that is gone "
                f"({cur.describe_target()}); restored them"
            )
        except (ClockError, OSError, subprocess.SubprocessError, nvml.NvmlError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            out.append(f"clocks of {s.key} are still locked by trtpace ({s.describe()}): {why}")
    return out


def show(gpu: GpuSelector = 0) -> list[dict[str, Any]]:
    """Clocks, supported-clock summary, P-state, event reasons, power limit, and trtpace's locks."""
    allowed, why = may_change_clocks()
    out = []
    gpus, node = _targets(gpu, "read clocks")
    found = (
        [(tegra.key_of(node), {"gpu": "jetson", **node.facts()})]
        if node is not None
        else [(g.pci_bus_id, nvidia.facts(g)) for g in gpus]
    )
    for key, facts in found:
        st = state_files.read_or_none(key)
        out.append({**facts, "trtpace_lock": st.describe() if st else None, "may_change_clocks": allowed, "why": why})
    return out


# --- the context manager -------------------------------------------------------------------

_active: dict[tuple[str, str | None, str], list[Any]] = {}  # request -> [depth, [(state, owner)]]
_lock = threading.RLock()
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _release_mine(taken: list[tuple[ClockState, Owner]]) -> None:
    """Ends the shares this process took; a forked child's inherited copies are its parent's, not
    its own, and stay (the pid recorded at acquire time is the parent's)."""
    me = os.getpid()
    for st, owner in taken:
        if owner.pid == me:
            with contextlib.suppress(ClockError, OSError):
                _release_share(st.key, owner.id)


def _release_all() -> None:
    with _lock:
        for entry in list(_active.values()):
            taken, entry[1] = entry[1], []
            _release_mine(taken)


def _after_fork_in_child() -> None:
    # The child holds no share: what it inherited is the parent's (its own locked_clocks() takes its own).
    global _lock
    _lock = threading.RLock()  # another thread may have held it at the fork
    _active.clear()


atexit.register(_release_all)
os.register_at_fork(after_in_child=_after_fork_in_child)


def _restore_then_pass_on(signum: int, frame: Any, previous: Any) -> None:
    _release_all()
    pass_on(signum, frame, previous)


@contextmanager
def locked_clocks(sm: str = "max", mem: str | None = None, gpu: GpuSelector = 0) -> Iterator[list[ClockState]]:
    """Locks clocks for the body and restores them on exit, exception, SIGINT or SIGTERM.

    Nested or repeated use with the same request locks once and restores at the outermost exit.
    Across processes, locks of the same target are shared: the clocks are restored when the last
    owner leaves (a crashed owner's share is dropped by the next trtpace command that looks).
    Signal handlers are installed only from the main thread; earlier handlers still run.
    """
    key = (sm, mem, str(gpu))
    with _lock:
        entry = _active.get(key)
        if entry is None:
            entry = _active[key] = [0, acquire(sm, mem, gpu, hold=HOLD_PROCESS)]
        entry[0] += 1
    restoring = handling(_SIGNALS, _restore_then_pass_on) if entry[0] == 1 else contextlib.nullcontext()
    try:
        with restoring:
            yield [st for st, _ in entry[1]]
    finally:
        with _lock:
            entry[0] -= 1
            if entry[0] == 0:
                if _active.get(key) is entry:
                    del _active[key]
                taken, entry[1] = entry[1], []
                me = os.getpid()
                for st, owner in taken:
                    if owner.pid == me:  # a forked child leaving the body leaves the parent's share alone
                        _release_share(st.key, owner.id)
