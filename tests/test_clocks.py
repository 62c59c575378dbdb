"""Clock control against an autospec fake of NVML and a fake sysfs tree: nothing here touches a
real GPU's clocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pynvml
import pytest
from typer.testing import CliRunner

import trtpace
from fake_nvml import not_supported
from test_jetson import make_tree
from trtpace.cli import app
from trtpace.platform import clocks
from trtpace.platform.clocks import state as state_files

TESTS = Path(__file__).parent
TDP = 0xFFFFFF01


def _states() -> list[state_files.ClockState]:
    return state_files.all_states()


def test_lock_writes_state_then_reset_restores(fake) -> None:
    (st,) = clocks.lock("max", gpu=0)
    fake.nvmlDeviceSetGpuLockedClocks.assert_called_once_with("handle0", 1980, 1980)
    fake.nvmlDeviceSetMemoryLockedClocks.assert_not_called()
    (saved,) = _states()
    (owner,) = saved.owners
    assert saved.key == st.key and saved.sm_mhz == [1980, 1980] and owner.pid == os.getpid() and owner.alive
    assert owner.hold == state_files.HOLD_UNTIL_RESET and not saved.stale
    assert clocks.show(0)[0]["trtpace_lock"].startswith("SM 1980-1980 MHz via nvml")
    lines = clocks.reset()
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once_with("handle0")
    assert len(lines) == 1 and _states() == []


@pytest.mark.parametrize(
    ("sm", "expected"),
    [("1507", (1500, 1500)), ("1200:1800", (1200, 1800)), ("base", (TDP, TDP)), ("MAX", (1980, 1980))],
)
def test_sm_values_snap_to_supported_clocks(fake, sm: str, expected: tuple[int, int]) -> None:
    clocks.lock(sm, gpu=0)
    fake.nvmlDeviceSetGpuLockedClocks.assert_called_once_with("handle0", *expected)


@pytest.mark.parametrize(
    ("sm", "message"),
    [
        ("3000", "outside this GPU's supported range 225-1980 MHz"),
        ("1800:1200", "minimum is above"),
        ("fast", "max, base, MHZ"),
    ],
)
def test_bad_sm_values(fake, sm: str, message: str) -> None:
    with pytest.raises(clocks.ClockError, match=message):
        clocks.lock(sm, gpu=0)
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()


def test_memory_lock_only_when_asked_and_rolled_back_when_refused(fake) -> None:
    clocks.lock("max", "max", gpu=0)
    fake.nvmlDeviceSetMemoryLockedClocks.assert_called_once_with("handle0", 2619, 2619)
    clocks.reset()
    fake.nvmlDeviceResetMemoryLockedClocks.assert_called_once()
    fake.nvmlDeviceResetGpuLockedClocks.reset_mock()
    fake.nvmlDeviceSetMemoryLockedClocks.side_effect = not_supported
    with pytest.raises(clocks.ClockNotSupportedError, match="memory clocks is not supported on Fake GPU"):
        clocks.lock("max", "max", gpu=0)
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()  # the SM lock that got through is undone
    assert _states() == []


def test_no_permission_names_the_commands_that_work(fake) -> None:
    fake.nvmlDeviceSetGpuLockedClocks.side_effect = pynvml.NVMLError_NoPermission
    r = CliRunner().invoke(app, ["clocks", "lock", "--sm", "max"])
    assert r.exit_code == 1
    (line,) = r.output.strip().splitlines()
    assert "sudo trtpace clocks lock --sm max --gpu 0" in line
    assert "sudo nvidia-smi -i 00000000:3B:00.0 -lgc 1980,1980" in line
    assert _states() == []


def test_falls_back_to_nvidia_smi(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.nvmlDeviceSetGpuLockedClocks.side_effect = not_supported
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "smi.log"
    smi = bin_dir / "nvidia-smi"
    smi.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    (st,) = clocks.lock("max", gpu=0)
    assert st.backend == "nvidia-smi" and _states()[0].backend == "nvidia-smi"
    clocks.reset()
    assert log.read_text().splitlines() == ["-i 00000000:3B:00.0 -lgc 1980,1980", "-i 00000000:3B:00.0 -rgc"]


def test_not_supported_without_fallback(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.nvmlDeviceSetGpuLockedClocks.side_effect = not_supported
    monkeypatch.setenv("PATH", "/nonexistent")
    r = CliRunner().invoke(app, ["clocks", "lock"])
    assert r.exit_code == 1 and "not supported on Fake GPU" in r.output


def test_dry_run_prints_and_changes_nothing(fake) -> None:
    r = CliRunner().invoke(app, ["clocks", "lock", "--sm", "base", "--mem", "max", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "nvmlDeviceSetGpuLockedClocks(00000000:3B:00.0, TDP, TDP)" in r.output
    assert "nvmlDeviceSetMemoryLockedClocks(00000000:3B:00.0, 2619, 2619)" in r.output
    assert "nvidia-smi -i 00000000:3B:00.0 -lmc 2619,2619" in r.output and "nothing was changed" in r.output
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()
    fake.nvmlDeviceSetMemoryLockedClocks.assert_not_called()
    assert _states() == []


def test_context_manager_restores_on_exit_exception_and_nesting(fake) -> None:
    with trtpace.locked_clocks(sm="max", gpu=0):
        with trtpace.locked_clocks(sm="max", gpu=0):
            assert len(_states()) == 1
        fake.nvmlDeviceResetGpuLockedClocks.assert_not_called()  # the outer one still holds it
    assert fake.nvmlDeviceSetGpuLockedClocks.call_count == 1
    assert fake.nvmlDeviceResetGpuLockedClocks.call_count == 1 and _states() == []
    with pytest.raises(RuntimeError, match="boom"), trtpace.locked_clocks(sm="max", gpu=0):
        raise RuntimeError("boom")
    assert fake.nvmlDeviceResetGpuLockedClocks.call_count == 2 and _states() == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers put back


def _child(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "nvml.log"
    env = {
        **os.environ,
        "TRTPACE_STATE_DIR": str(tmp_path / "state"),
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, str(TESTS / "clock_child.py"), str(log), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc, log


def _finish(proc: subprocess.Popen) -> int:
    """Waits for the child while draining its pipes (a full pipe would block it), and shows its
    stderr if it hangs."""
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # clock_child's faulthandler: where each thread hangs
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        pytest.fail(f"the child did not exit after the signal; its stderr, then its stacks:\n{err}")
    return proc.returncode


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_restores_clocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: int) -> None:
    monkeypatch.setenv("TRTPACE_STATE_DIR", str(tmp_path / "state"))
    proc, log = _child(tmp_path)
    proc.send_signal(sig)
    _finish(proc)
    assert log.read_text().splitlines() == ["set 1980 1980", "reset"]
    assert _states() == []
    assert proc.returncode != 0


def test_sigterm_chains_to_the_previous_handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRTPACE_STATE_DIR", str(tmp_path / "state"))
    proc, log = _child(tmp_path, "sigterm-handler")
    proc.send_signal(signal.SIGTERM)
    assert _finish(proc) == 3
    assert log.read_text().splitlines() == ["set 1980 1980", "reset", "previous handler ran"]


def test_kill_9_leaves_state_that_reset_restores(fake, tmp_path: Path) -> None:
    proc, log = _child(tmp_path)
    proc.kill()
    _finish(proc)
    assert log.read_text().splitlines() == ["set 1980 1980"]
    (stale,) = _states()
    assert stale.stale and "process gone: stale" in stale.describe()
    r = CliRunner().invoke(app, ["clocks", "reset"])
    assert r.exit_code == 0 and "00000000:3B:00.0: reset (SM 1980-1980 MHz via nvml)" in r.output
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()
    assert _states() == []


def test_kill_9_share_is_dropped_by_the_next_command_that_looks(fake, tmp_path: Path) -> None:
    proc, _ = _child(tmp_path)
    proc.kill()
    _finish(proc)
    r = CliRunner().invoke(app, ["clocks", "show", "--json"])
    assert r.exit_code == 0, r.output
    assert "left locked by a trtpace process that is gone" in r.stderr and "restored them" in r.stderr
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()
    assert _states() == [] and '"trtpace_lock": null' in r.stdout


def test_reset_all_resets_whoever_locked(fake) -> None:
    r = CliRunner().invoke(app, ["clocks", "reset", "--all", "--gpu", "0"])
    assert r.exit_code == 0 and "driver default" in r.output
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()
    fake.nvmlDeviceResetMemoryLockedClocks.assert_called_once()


def test_jetson_lock_and_restore(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.nvmlInit.side_effect = pynvml.NVMLError_LibraryNotFound
    root = tmp_path / "root"
    node = make_tree(root)
    monkeypatch.setenv("TRTPACE_SYSFS_ROOT", str(root))
    (st,) = clocks.lock("max")
    assert (node / "min_freq").read_text().strip() == "1300500000"
    assert (node / "device/railgate_enable").read_text().strip() == "0"
    assert st.saved["min_freq"] == "306000000" and _states()[0].backend == "jetson"
    assert clocks.show()[0]["trtpace_lock"] is not None
    clocks.reset()
    assert (node / "min_freq").read_text().strip() == "306000000"
    assert (node / "device/railgate_enable").read_text().strip() == "1"
    assert (node / "governor").read_text().strip() == "nvhost_podgov" and _states() == []
    with pytest.raises(clocks.ClockNotSupportedError, match="--mem is not supported on Jetson"):
        clocks.lock("max", "max")


def test_sweep_interleaves_locked_and_unlocked(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trtpace.run.sweep.may_change_clocks", lambda: (True, "test"))
    result = trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=10, warmup=1, lock_clocks="max")
    assert [(c.pacing.gap_s, c.clocks) for c in result.conditions] == [
        (0.0, "default"),
        (0.0, "locked max"),
        (0.001, "default"),
        (0.001, "locked max"),
    ]
    assert fake.nvmlDeviceSetGpuLockedClocks.call_count == 2 == fake.nvmlDeviceResetGpuLockedClocks.call_count
    assert result.baseline(result.conditions[3]) is result.conditions[1]
    assert _states() == []


def test_sweep_without_permission_runs_unlocked_and_says_so(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trtpace.run.sweep.may_change_clocks", lambda: (False, "not root"))
    result = trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, warmup=0, lock_clocks="max")
    assert [c.clocks for c in result.conditions] == ["default", "default"]
    assert any("needs root" in w for w in result.environment["warnings"])
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()


def test_jetson_clocks_store_fresh_then_restore(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.nvmlInit.side_effect = pynvml.NVMLError_LibraryNotFound
    root = tmp_path / "root"
    make_tree(root)
    monkeypatch.setenv("TRTPACE_SYSFS_ROOT", str(root))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "jc.log"
    jc = bin_dir / "jetson_clocks"
    # Like the real script, --store refuses (prompts) when its file exists; trtpace must remove it first.
    jc.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\nif [ "$1" = --store ] && [ -e "$2" ]; then exit 1; fi\n'
        'if [ "$1" = --store ]; then echo stored > "$2"; fi\n'
    )
    jc.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    store = tmp_path / "state" / "jetson_clocks.conf"
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("left over\n")
    r = CliRunner().invoke(app, ["clocks", "lock", "--jetson-clocks"])
    assert r.exit_code == 0, r.output
    assert log.read_text().splitlines() == [f"--store {store}", ""]
    r = CliRunner().invoke(app, ["clocks", "reset"])
    assert r.exit_code == 0
    assert log.read_text().splitlines()[-1] == f"--restore {store}" and _states() == []
