"""Clock locks shared by processes: owners counted in a flock-guarded record per GPU, the clocks
found by the first locker restored by the last one out, a crashed owner's share dropped by the next
command that looks, damaged records named and never fatal. Real subprocesses against a fake NVML
and a fake Jetson sysfs tree; nothing here touches a real GPU's clocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pynvml
import pytest
from typer.testing import CliRunner

import trtpace
from test_jetson import make_tree
from trtpace.cli import app
from trtpace.platform import clocks
from trtpace.platform.clocks import state as state_files

TESTS = Path(__file__).parent
KEY = "00000000:3B:00.0"


@pytest.fixture
def jetson(fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    fake.nvmlInit.side_effect = pynvml.NVMLError_LibraryNotFound
    root = tmp_path / "root"
    node = make_tree(root)
    monkeypatch.setenv("TRTPACE_SYSFS_ROOT", str(root))
    return node


class Child:
    """A process holding clocks through locked_clocks() until its stdin closes."""

    def __init__(self, tmp_path: Path, *extra: str):
        self.log = tmp_path / "nvml.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, str(TESTS / "clock_child.py"), str(self.log), "stdin", *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        self.first_line = self.proc.stdout.readline().strip()

    def finish(self) -> tuple[int, str]:
        try:
            out, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            pytest.fail(f"the child did not exit; its stderr:\n{err}")
        return self.proc.returncode, self.first_line + out + err

    def kill(self) -> None:
        self.proc.kill()
        self.proc.communicate(timeout=60)


def _log(tmp_path: Path) -> list[str]:
    p = tmp_path / "nvml.log"
    return p.read_text().splitlines() if p.exists() else []


def _record() -> state_files.ClockState:
    (st,) = state_files.all_states()
    return st


def test_two_processes_share_one_lock_and_the_last_restores(fake, tmp_path: Path) -> None:
    a = Child(tmp_path)
    b = Child(tmp_path)
    assert (a.first_line, b.first_line) == ("locked", "locked")
    assert _log(tmp_path) == ["set 1980 1980"]  # the second joined: nothing changed on the GPU
    assert sorted(o.pid for o in _record().owners) == sorted([a.proc.pid, b.proc.pid])
    assert a.finish()[0] == 0
    assert _log(tmp_path) == ["set 1980 1980"]  # the first to finish leaves b's clocks alone
    assert [o.pid for o in _record().owners] == [b.proc.pid]
    assert b.finish()[0] == 0
    assert _log(tmp_path) == ["set 1980 1980", "reset"]
    assert state_files.all_states() == []


def test_a_different_target_is_refused_in_one_line(fake, tmp_path: Path) -> None:
    a = Child(tmp_path)
    b = Child(tmp_path, "sm=1500")
    code, text = b.finish()
    assert code == 4 and text.startswith("refused: clocks of 00000000:3B:00.0 are locked by trtpace to SM 1980-1980")
    assert f"pid {a.proc.pid}" in text and "SM 1500-1500 MHz is refused" in text
    assert len(_record().owners) == 1
    r = CliRunner().invoke(app, ["clocks", "lock", "--sm", "1500"])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and "is refused" in r.output
    assert a.finish()[0] == 0
    assert _log(tmp_path) == ["set 1980 1980", "reset"]


def test_cli_lock_joins_a_running_process_and_outlives_it(fake, tmp_path: Path) -> None:
    a = Child(tmp_path)
    r = CliRunner().invoke(app, ["clocks", "lock", "--sm", "max"])
    assert r.exit_code == 0 and "joined: 2 owners" in r.output, r.output
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()
    assert a.finish()[0] == 0
    assert _log(tmp_path) == ["set 1980 1980"]  # `clocks lock` still holds it
    (owner,) = _record().owners
    assert owner.hold == state_files.HOLD_UNTIL_RESET
    r = CliRunner().invoke(app, ["clocks", "reset"])
    assert r.exit_code == 0 and f"{KEY}: reset (SM 1980-1980 MHz via nvml)" in r.output
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()


def test_reset_names_a_live_owner_and_needs_force(fake, tmp_path: Path) -> None:
    a = Child(tmp_path)
    r = CliRunner().invoke(app, ["clocks", "reset"])
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert f"held by a running trtpace process: SM 1980-1980 MHz, held by pid {a.proc.pid}" in r.output
    assert "--force" in r.output
    fake.nvmlDeviceResetGpuLockedClocks.assert_not_called()
    r = CliRunner().invoke(app, ["clocks", "reset", "--all", "--gpu", "0"])  # --all does not imply --force
    assert r.exit_code == 1 and "--force" in r.output
    r = CliRunner().invoke(app, ["clocks", "reset", "--force"])
    assert r.exit_code == 0 and f"broke the lock of pid {a.proc.pid}" in r.output, r.output
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()
    assert a.finish()[0] == 0
    assert _log(tmp_path) == ["set 1980 1980"]  # the broken owner does not reset a second time
    assert state_files.all_states() == []


def test_killed_owner_share_is_dropped_when_another_joins(fake, tmp_path: Path) -> None:
    a = Child(tmp_path)
    a.kill()
    b = Child(tmp_path)
    assert b.first_line == "locked"
    assert [o.pid for o in _record().owners] == [b.proc.pid]
    assert b.finish()[0] == 0
    assert _log(tmp_path) == ["set 1980 1980", "reset"]
    assert state_files.all_states() == []


def test_killed_owner_at_another_target_is_restored_before_a_new_lock(fake, tmp_path: Path) -> None:
    a = Child(tmp_path, "sm=1500")
    a.kill()
    b = Child(tmp_path)
    assert b.first_line == "locked"
    assert b.finish()[0] == 0
    assert _log(tmp_path) == ["set 1500 1500", "reset", "set 1980 1980", "reset"]


def test_sweep_stale_check_releases_a_killed_owner(fake, tmp_path: Path) -> None:
    a = Child(tmp_path)
    a.kill()
    result = trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, warmup=0)
    assert any("left locked by a trtpace process that is gone" in w for w in result.environment["warnings"])
    assert _log(tmp_path) == ["set 1980 1980"] and state_files.all_states() == []
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()


def test_stale_check_without_permission_warns_and_keeps_the_record(fake, tmp_path: Path) -> None:
    a = Child(tmp_path)
    a.kill()
    fake.nvmlDeviceResetGpuLockedClocks.side_effect = pynvml.NVMLError_NoPermission
    warnings = clocks.reap_stale()
    assert (
        len(warnings) == 1 and "still locked by trtpace" in warnings[0] and "sudo trtpace clocks reset" in warnings[0]
    )
    assert _record().stale


def test_jetson_cli_lock_twice_then_reset_restores_the_original(jetson: Path) -> None:
    for _ in range(2):
        r = CliRunner().invoke(app, ["clocks", "lock", "--sm", "max"])
        assert r.exit_code == 0, r.output
    assert (jetson / "min_freq").read_text().strip() == "1300500000"
    st = _record()
    assert len(st.owners) == 2 and st.saved["min_freq"] == "306000000" and st.saved["device/railgate_enable"] == "1"
    r = CliRunner().invoke(app, ["clocks", "reset"])
    assert r.exit_code == 0 and "reset (SM 1300-1300 MHz, devfreq min := max via jetson)" in r.output, r.output
    assert (jetson / "min_freq").read_text().strip() == "306000000"
    assert (jetson / "device/railgate_enable").read_text().strip() == "1"
    assert state_files.all_states() == []


def test_jetson_two_processes_restore_once_the_last_leaves(jetson: Path, tmp_path: Path) -> None:
    a = Child(tmp_path, "jetson")
    b = Child(tmp_path, "jetson")
    assert (a.first_line, b.first_line) == ("locked", "locked")
    assert a.finish()[0] == 0
    assert (jetson / "min_freq").read_text().strip() == "1300500000"
    assert (jetson / "device/railgate_enable").read_text().strip() == "0"
    assert b.finish()[0] == 0
    assert (jetson / "min_freq").read_text().strip() == "306000000"
    assert (jetson / "device/railgate_enable").read_text().strip() == "1"
    assert state_files.all_states() == []


DAMAGE = [
    (b"{not json", "not JSON"),
    (b"\xff\xfe\x00binary", "not JSON"),
    (b"[1, 2]", "a list, not an object"),
    (
        json.dumps(
            {
                "key": KEY,
                "backend": "nvml",
                "owners": [{"pid": "abc", "host": "h", "time_unix": 1.0, "hold": "process", "id": "x"}],
                "time_unix": 1.0,
            }
        ).encode(),
        "field 'pid' is str",
    ),
    (json.dumps({"key": KEY, "backend": "nvml", "pid": "abc", "host": "h", "time_unix": 1}).encode(), "'pid' is str"),
    (
        json.dumps({"key": KEY, "backend": "nvml", "sm_mhz": [1, "2"], "owners": [], "time_unix": 1}).encode(),
        "[min, max] pair",
    ),
]


@pytest.mark.parametrize(("content", "reason"), DAMAGE)
def test_damaged_record_is_named_and_never_fatal(fake, tmp_path: Path, content: bytes, reason: str) -> None:
    bad = state_files.path_of(KEY)
    bad.parent.mkdir(parents=True)
    bad.write_bytes(content)
    # A CPU-only sweep runs, with the file named in its warnings.
    result = trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, warmup=0)
    (w,) = result.environment["warnings"]
    assert str(bad) in w and reason in w
    r = CliRunner().invoke(
        app, ["sweep", "-w", "host:us=5", "--gaps", "0.001", "--iterations", "5", "--out", str(tmp_path / "r")]
    )
    assert r.exit_code == 0 and str(bad) in r.stderr.replace("\n", ""), r.output
    r = CliRunner().invoke(app, ["clocks", "show", "--json"])
    assert r.exit_code == 0 and "damaged" in r.stderr
    # reset: warns by name, and does not claim nothing is locked
    r = CliRunner().invoke(app, ["clocks", "reset"])
    assert r.exit_code == 0 and "damaged" in r.stderr and "nothing to reset" not in r.output
    # lock: refused in one line rather than overwriting what it cannot read
    r = CliRunner().invoke(app, ["clocks", "lock"])
    errors = [line for line in r.output.strip().splitlines() if not line.startswith("warning:")]
    assert r.exit_code == 1 and len(errors) == 1 and errors[0].startswith("error: clock state file")
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()
    # reset --all resets the GPU whoever locked it, and the record with it
    r = CliRunner().invoke(app, ["clocks", "reset", "--all", "--gpu", "0"])
    assert r.exit_code == 0 and "removed its damaged state file" in r.output, r.output
    assert not bad.exists()


def test_damaged_record_blocks_no_other_gpu(fake, jetson: Path) -> None:
    bad = state_files.path_of(KEY)
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("garbage")
    clocks.lock("max")  # the Jetson GPU
    r = CliRunner().invoke(app, ["clocks", "reset"])
    assert r.exit_code == 0 and "devfreq min := max via jetson" in r.output and str(bad) in r.stderr.replace("\n", "")
    assert (jetson / "min_freq").read_text().strip() == "306000000"


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(proc.stdout)


def test_record_of_an_earlier_trtpace_reads_as_one_process_owner(fake) -> None:
    old = {
        "key": KEY,
        "backend": "nvml",
        "sm_mhz": [1980, 1980],
        "mem_mhz": None,
        "saved": {},
        "pid": _dead_pid(),
        "host": os.uname().nodename,
        "time_unix": 1.0,
    }
    path = state_files.path_of(KEY)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old))
    st = _record()
    assert [o.pid for o in st.owners] == [old["pid"]] and st.stale
    r = CliRunner().invoke(app, ["clocks", "reset"])
    assert r.exit_code == 0 and f"{KEY}: reset" in r.output
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()
