"""Who still holds a clock lock: an owner is alive only while its pid exists with the start time it
locked with, in the boot it locked in. A reused pid blocks nobody; a record from an earlier boot is
dropped without restoring (the driver reset the clocks at boot) and the next lock takes the clocks
afresh; a forked child never releases its parent's share. Real processes and signals, fake NVML."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import trtpace
from test_clock_owners import Child
from trtpace.cli import app
from trtpace.platform import clocks
from trtpace.platform.clocks import state as state_files

TESTS = Path(__file__).parent
KEY = "00000000:3B:00.0"
OTHER_BOOT = str(uuid.UUID(int=0x1234))


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(["sleep", "600"])
    yield proc
    proc.kill()
    proc.wait()


def _plant(
    pid: int,
    start_time: int | None,
    hold: str = state_files.HOLD_PROCESS,
    sm: int = 1980,
    boot_id: str | None = None,
    record_boot: str | None = None,
    legacy: bool = False,
) -> None:
    """A record as trtpace writes it (trusted), held by `pid` started at `start_time`."""
    boot = boot_id or state_files.current_boot_id()
    owner = state_files.Owner(pid=pid, hold=hold, start_time=start_time, boot_id=boot)
    st = state_files.ClockState(key=KEY, backend="nvml", sm_mhz=[sm, sm], owners=[owner], boot_id=record_boot or boot)
    with state_files.guarded(KEY):
        state_files.write(st)
    if legacy:  # as written before start times and boot ids were recorded
        path = state_files.path_of(KEY)
        doc = json.loads(path.read_text())
        for d in (doc, *doc["owners"]):
            d.pop("boot_id", None)
            d.pop("start_time", None)
        path.write_text(json.dumps(doc))


def test_a_lock_records_the_owners_start_time_and_boot(fake, tmp_path: Path) -> None:
    a = Child(tmp_path)
    assert a.first_line == "locked"
    (st,) = state_files.all_states()
    (owner,) = st.owners
    stat_fields = Path(f"/proc/{a.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    assert owner.pid == a.proc.pid and owner.start_time == int(stat_fields[19])
    assert owner.boot_id == st.boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert owner.alive
    assert a.finish()[0] == 0


def test_a_reused_pid_blocks_no_other_lock(fake, sleeper: subprocess.Popen) -> None:
    real = state_files.process_start_time(sleeper.pid)
    assert real is not None
    _plant(sleeper.pid, real - 1)  # the owner that had this pid before the sleeper got it
    (st,) = state_files.all_states()
    assert st.stale and not st.owners[0].alive
    r = CliRunner().invoke(app, ["clocks", "lock", "--sm", "1500"])
    assert r.exit_code == 0, r.output
    assert "left locked by a trtpace process that is gone" in r.stderr
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()  # the old lock restored, then the new one
    fake.nvmlDeviceSetGpuLockedClocks.assert_called_once_with("handle0", 1500, 1500)
    (st,) = state_files.all_states()
    assert st.sm_mhz == [1500, 1500] and [o.hold for o in st.owners] == [state_files.HOLD_UNTIL_RESET]


def test_the_real_owner_with_that_pid_still_blocks(fake, sleeper: subprocess.Popen) -> None:
    _plant(sleeper.pid, state_files.process_start_time(sleeper.pid))
    r = CliRunner().invoke(app, ["clocks", "lock", "--sm", "1500"])
    assert r.exit_code == 1 and "is refused" in r.output and f"pid {sleeper.pid}" in r.output
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()
    sleeper.kill()
    sleeper.wait()
    r = CliRunner().invoke(app, ["clocks", "lock", "--sm", "1500"])
    assert r.exit_code == 0, r.output


def test_an_older_record_without_start_time_is_alive_while_its_pid_is(fake, sleeper: subprocess.Popen) -> None:
    _plant(sleeper.pid, None, legacy=True)
    (st,) = state_files.all_states()
    assert st.owners[0].start_time is None and st.boot_id is None and not st.stale
    assert clocks.reap_stale() == []
    sleeper.kill()
    sleeper.wait()
    (line,) = clocks.reap_stale()
    assert "left locked by a trtpace process that is gone" in line
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()


def test_an_older_until_reset_record_still_holds(fake) -> None:
    _plant(os.getpid(), None, hold=state_files.HOLD_UNTIL_RESET, legacy=True)
    assert clocks.reap_stale() == []
    (st,) = clocks.lock("max")
    assert len(st.owners) == 2  # joined: the boot it was locked in is unknown, so it is trusted to hold
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()


def test_a_process_owner_from_another_boot_is_gone_whatever_runs_with_its_pid(fake) -> None:
    _plant(
        os.getpid(),
        state_files.process_start_time(os.getpid()),
        boot_id=OTHER_BOOT,
        record_boot=state_files.current_boot_id(),
    )
    (st,) = state_files.all_states()
    assert not st.owners[0].alive


def test_an_until_reset_lock_from_before_a_reboot_is_dropped_and_the_sweep_locks_afresh(
    fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant(4242, None, hold=state_files.HOLD_UNTIL_RESET, boot_id=OTHER_BOOT)
    (st,) = state_files.all_states()
    assert st.stale and "before the last reboot" in st.describe()
    monkeypatch.setattr("trtpace.run.sweep.may_change_clocks", lambda: (True, "test"))
    result = trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, warmup=0, lock_clocks="max")
    (w,) = result.environment["warnings"]
    assert "before the last reboot" in w and "nothing to restore" in w and "\n" not in w
    # Each locked condition really locked (no joining a lock that no longer exists) ...
    assert fake.nvmlDeviceSetGpuLockedClocks.call_count == 2
    # ... and the dropped lock was not "restored": only the sweep's own two resets.
    assert fake.nvmlDeviceResetGpuLockedClocks.call_count == 2
    assert state_files.all_states() == []


@pytest.mark.parametrize("command", [["clocks", "lock"], ["clocks", "reset"]])
def test_a_lock_from_before_a_reboot_is_not_joined_or_restored(fake, command: list[str]) -> None:
    _plant(4242, None, hold=state_files.HOLD_UNTIL_RESET, boot_id=OTHER_BOOT)
    r = CliRunner().invoke(app, command)
    assert r.exit_code == 0 and "before the last reboot" in r.output + r.stderr, r.output
    fake.nvmlDeviceResetGpuLockedClocks.assert_not_called()
    if command == ["clocks", "lock"]:
        fake.nvmlDeviceSetGpuLockedClocks.assert_called_once_with("handle0", 1980, 1980)
        assert "joined" not in r.output
        (st,) = state_files.all_states()
        assert st.boot_id == state_files.current_boot_id() and len(st.owners) == 1
    else:
        assert state_files.all_states() == []


def test_a_record_from_another_boot_is_dropped_when_a_lock_skips_the_look(fake) -> None:
    _plant(4242, None, hold=state_files.HOLD_UNTIL_RESET, sm=1500, boot_id=OTHER_BOOT)
    (st,) = clocks.lock("max")  # another target: would be refused if the old lock still held
    assert st.sm_mhz == [1980, 1980] and len(st.owners) == 1
    fake.nvmlDeviceResetGpuLockedClocks.assert_not_called()
    fake.nvmlDeviceSetGpuLockedClocks.assert_called_once_with("handle0", 1980, 1980)


# --- fork: the child never releases or restores its parent's share -----------------------------

FORKER = textwrap.dedent("""
    import multiprocessing, os, signal, sys, time
    from fake_nvml import make_fake_nvml
    from trtpace.platform import clocks, nvml
    from trtpace.platform.clocks import state as state_files

    log_path, mode = sys.argv[1], sys.argv[2]

    def log(text):
        with open(log_path, "a") as f:
            f.write(text + "\\n")

    fake = make_fake_nvml()
    fake.nvmlDeviceSetGpuLockedClocks.side_effect = lambda h, lo, hi: log(f"set {lo} {hi} by {os.getpid()}")
    fake.nvmlDeviceResetGpuLockedClocks.side_effect = lambda h: log(f"reset by {os.getpid()}")
    nvml.pynvml = fake

    def owners():
        return ",".join(str(o.pid) for s in state_files.all_states() for o in s.owners)

    def in_child():
        if mode == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)  # the inherited handler runs
            time.sleep(30)
        elif mode == "nested":
            with clocks.locked_clocks(sm="max", gpu=0):  # a share of its own, released on leaving
                log(f"child holds with {owners()}")
        elif mode == "exit":
            sys.exit(0)  # unwinds through the parent's `with` below, then atexit

    with clocks.locked_clocks(sm="max", gpu=0):
        log(f"parent {os.getpid()} holds with {owners()}")
        if mode == "multiprocessing":
            p = multiprocessing.get_context("fork").Process(target=lambda: os.kill(os.getpid(), signal.SIGTERM))
            p.start()
            p.join()
            status = p.exitcode
        else:
            pid = os.fork()
            if pid == 0:
                in_child()
                sys.exit(0)  # "leave" and "nested": out of the parent's `with` too
            status = os.waitpid(pid, 0)[1]
        log(f"child ended ({status}); owners {owners()}")
    log(f"parent left; owners {owners()!r}")
""")


@pytest.mark.parametrize("mode", ["leave", "exit", "sigterm", "nested", "multiprocessing"])
def test_a_forked_child_leaves_its_parents_lock_alone(tmp_path: Path, mode: str) -> None:
    log = tmp_path / "log"
    env = {
        **os.environ,
        "TRTPACE_STATE_DIR": str(tmp_path / "state"),
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    r = subprocess.run(
        [sys.executable, "-c", FORKER, str(log), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    calls = [line for line in lines if line.startswith(("set", "reset"))]
    lines = [line for line in lines if line not in calls]
    parent = lines[0].split()[1]
    assert lines[0] == f"parent {parent} holds with {parent}"
    assert lines[-1] == "parent left; owners ''"
    if mode == "nested":
        assert lines[1].startswith(f"child holds with {parent},")  # joined: no second set
        del lines[1]
    assert lines[1].startswith("child ended (") and lines[1].endswith(f"owners {parent}"), lines
    assert calls == [f"set 1980 1980 by {parent}", f"reset by {parent}"]
    if mode in ("sigterm", "multiprocessing"):  # killed by the signal, after the handler chained
        assert f"({-signal.SIGTERM})" in lines[1] or f"({int(signal.SIGTERM)})" in lines[1], lines[1]
