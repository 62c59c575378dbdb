"""The clock-owner protocol as a state machine (hypothesis.stateful) against the fake NVML: several
simulated owner processes (distinct pids and start times) acquire and release shares, `clocks lock`
holds until reset, owners are killed, pids are reused, the machine reboots (a new boot id, the
driver resets the clocks), the stale check runs, `clocks reset` breaks locks. Always: the fake
GPU's clocks are locked iff a live owner holds a share (or the shares of owners that died wait for
the next command that looks), at the target they hold; every lock is restored exactly once, and
never one that a reboot already reset."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any
from unittest import mock

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fake_nvml import make_fake_nvml
from trtpace.platform import clocks, nvml
from trtpace.platform.clocks import state as state_files

KEY = "00000000:3B:00.0"
TARGETS = {"max": (1980, 1980), "1500": (1500, 1500)}
NAMES = ["a", "b", "c"]


@dataclass
class Sim:
    """One simulated owner process."""

    pid: int
    start: int | None = None  # None: not running
    share: state_files.Owner | None = None
    target: str | None = None
    broken: bool = False  # its share was broken by `clocks reset --force`


class ClockOwnerProtocol(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.stack = contextlib.ExitStack()
        tmp = self.stack.enter_context(tempfile.TemporaryDirectory())
        self.stack.enter_context(mock.patch.dict(os.environ, {"TRTPACE_STATE_DIR": f"{tmp}/state"}))
        fake = make_fake_nvml()
        fake.nvmlDeviceSetGpuLockedClocks.side_effect = self._nvml_set
        fake.nvmlDeviceResetGpuLockedClocks.side_effect = self._nvml_reset
        self.stack.enter_context(mock.patch.object(nvml, "pynvml", fake))
        self.stack.enter_context(mock.patch.object(nvml, "_initialized", False))
        self.stack.enter_context(mock.patch.object(state_files, "pid_alive", lambda pid: pid in self.procs))
        self.stack.enter_context(mock.patch.object(state_files, "process_start_time", self.procs_get))
        self.stack.enter_context(mock.patch.object(state_files, "current_boot_id", self._boot_id))
        self.stack.enter_context(mock.patch.object(state_files, "this_process", self._this_process))
        self.procs: dict[int, int] = {}  # the fake process table: live pid -> start time
        self.boot = str(uuid.uuid4())
        self.ticks = 1000
        self.sims = {name: Sim(pid=4000 + i) for i, name in enumerate(NAMES)}
        self.current: Sim | None = None
        self.until_reset: list[str] = []  # targets of `clocks lock` shares (the target of the lock)
        self.dead_shares = 0  # shares of owners that died, not yet dropped
        self.gpu: tuple[int, int] | None = None  # the fake GPU's locked clocks
        self.sets = self.resets = self.reset_by_boot = 0
        self.violations: list[str] = []

    # --- the fakes -----------------------------------------------------------------------------

    def _boot_id(self) -> str:
        return self.boot

    def procs_get(self, pid: int) -> int | None:
        return self.procs.get(pid)

    def _this_process(self, hold: str) -> state_files.Owner:
        sim = self.current
        assert sim is not None and sim.start is not None
        return state_files.Owner(pid=sim.pid, hold=hold, start_time=sim.start, boot_id=self.boot)

    def _nvml_set(self, handle: Any, lo: int, hi: int) -> None:
        if self.gpu is not None:
            self.violations.append(f"locked {lo}-{hi} over a lock at {self.gpu} that was never restored")
        self.gpu = (lo, hi)
        self.sets += 1

    def _nvml_reset(self, handle: Any) -> None:
        if self.gpu is None:
            self.violations.append("restored clocks that were not locked (a second restore, or after a reboot)")
        self.gpu = None
        self.resets += 1

    # --- the model -----------------------------------------------------------------------------

    def _holders(self) -> list[Sim]:
        return [s for s in self.sims.values() if s.start is not None and s.share is not None and not s.broken]

    def _held_targets(self) -> set[str]:
        return {s.target for s in self._holders() if s.target} | set(self.until_reset)

    def _dropped_dead(self) -> None:
        self.dead_shares = 0

    # --- rules ---------------------------------------------------------------------------------

    @initialize()
    def start_all(self) -> None:
        for sim in self.sims.values():
            self._start(sim)

    def _start(self, sim: Sim) -> None:
        self.ticks += 7
        sim.start, sim.share, sim.target, sim.broken = self.ticks, None, None, False
        self.procs[sim.pid] = self.ticks  # the same pid as before, another start time: another process

    @rule(name=st.sampled_from(NAMES))
    def start(self, name: str) -> None:
        if self.sims[name].start is None:
            self._start(self.sims[name])

    @rule(name=st.sampled_from(NAMES), sm=st.sampled_from(sorted(TARGETS)))
    def acquire(self, name: str, sm: str) -> None:
        sim = self.sims[name]
        if sim.start is None or (sim.share is not None and not sim.broken):
            return
        busy = bool(self._held_targets() - {sm})
        self.current = sim
        try:
            ((_, owner),) = clocks.acquire(sm, gpu=0, hold=state_files.HOLD_PROCESS)
        except clocks.ClockBusyError:
            assert busy, "refused without a live owner at another target"
            return
        assert not busy, "joined or took clocks that a live owner holds at another target"
        sim.share, sim.target, sim.broken = owner, sm, False
        self._dropped_dead()

    @rule(name=st.sampled_from(NAMES), sm=st.sampled_from(sorted(TARGETS)), often=st.integers(0, 3))
    def lock_until_reset(self, name: str, sm: str, often: int) -> None:
        sim = self.sims[name]
        if sim.start is None or often:  # a quarter as often as the rest: it holds until a reset
            return
        busy = bool(self._held_targets() - {sm})
        self.current = sim
        try:
            clocks.lock(sm, gpu=0)
        except clocks.ClockBusyError:
            assert busy
            return
        assert not busy
        self.until_reset.append(sm)
        self._dropped_dead()

    @rule(name=st.sampled_from(NAMES))
    def release(self, name: str) -> None:
        sim = self.sims[name]
        if sim.start is None or sim.share is None:
            return
        clocks._release_share(KEY, sim.share.id)
        if not sim.broken:
            self._dropped_dead()
        sim.share, sim.target, sim.broken = None, None, False

    @rule(name=st.sampled_from(NAMES))
    def kill(self, name: str) -> None:
        """kill -9: its share, if any, stays in the record for the next command that looks."""
        sim = self.sims[name]
        if sim.start is None:
            return
        del self.procs[sim.pid]
        if sim.share is not None and not sim.broken:
            self.dead_shares += 1
        sim.start, sim.share, sim.target, sim.broken = None, None, None, False

    @rule(name=st.sampled_from(NAMES))
    def reuse_pid(self, name: str) -> None:
        """It dies (kill -9) and another process gets its pid at once."""
        self.kill(name)
        self._start(self.sims[name])

    @rule()
    def reap(self) -> None:
        warnings = clocks.reap_stale()
        assert all("\n" not in w for w in warnings)
        self._dropped_dead()

    @rule()
    def reboot(self) -> None:
        """Every process ends, the driver resets the clocks, a new boot id."""
        self.boot = str(uuid.uuid4())
        self.procs.clear()
        for sim in self.sims.values():
            sim.start, sim.share, sim.target, sim.broken = None, None, None, False
        if self.gpu is not None:
            self.reset_by_boot += 1
        self.gpu = None
        self.until_reset = []
        self.dead_shares = 0

    @rule(force=st.booleans())
    def reset(self, force: bool) -> None:
        busy = bool(self._holders())
        try:
            clocks.reset("all", force=force)
        except clocks.ClockBusyError:
            assert busy and not force
            return
        assert force or not busy
        for sim in self._holders():
            sim.broken = True
        self.until_reset = []
        self.dead_shares = 0

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def clocks_are_locked_iff_someone_holds_them(self) -> None:
        assert not self.violations, self.violations
        held = self._held_targets()
        assert len(held) <= 1, f"two targets held at once: {held}"
        if held:
            assert self.gpu == TARGETS[held.pop()], f"held but the GPU is at {self.gpu}"
        elif self.dead_shares:
            assert self.gpu is not None, "the shares of dead owners wait, but the clocks were restored"
        else:
            assert self.gpu is None, f"nobody holds the clocks, yet they are locked at {self.gpu}"
        # Every lock was undone once, by a restore or by a reboot, except the one in place.
        assert self.sets == self.resets + self.reset_by_boot + (self.gpu is not None)

    def teardown(self) -> None:
        try:
            if not self.violations:
                for name in NAMES:
                    self.kill(name)
                self.until_reset = []
                self.reap()
                clocks.reset("all")
                assert self.gpu is None and not self.violations, self.violations
                assert self.sets == self.resets + self.reset_by_boot
                assert state_files.all_states() == []
        finally:
            self.stack.close()


ClockOwnerProtocol.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestClockOwnerProtocol = ClockOwnerProtocol.TestCase
