"""Planted clock records: trtpace (run as root here) trusts no record as found. A record in a folder
others can write, one owned by another user or writable by others, a symlink, or one naming a
target outside the real devfreq/NVML ones is refused in one line, left alone and never acted on;
a planted `.lock` symlink makes nothing. Against the fake NVML and a fake Jetson sysfs tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pynvml
import pytest
from typer.testing import CliRunner

from test_jetson import make_tree
from trtpace.cli import app
from trtpace.platform import clocks
from trtpace.platform.clocks import state as state_files

KEY = "00000000:3B:00.0"
NOBODY = 65534
# Files of "another user" are made with chown, which only root may do; the CI suite runs as root
# and again as an ordinary user, who still covers every case that needs no chown.
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="making a file another user's (chown) needs root")
PRECIOUS = "precious\n"


def _dead_pid() -> int:
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout
    return int(out)


def _owner(**over: Any) -> dict[str, Any]:
    return {"pid": _dead_pid(), "host": os.uname().nodename, "time_unix": 1.0, "hold": "process", "id": "x", **over}


def _jetson_doc(node: str, **over: Any) -> dict[str, Any]:
    return {
        "key": f"jetson:{node}",
        "backend": "jetson",
        "sm_mhz": [1300, 1300],
        "mem_mhz": None,
        "saved": {
            "min_freq": "306000000",
            "max_freq": "1300500000",
            "governor": "nvhost_podgov",
            "target_hz": "1300500000",
            "device/railgate_enable": "1",
        },
        "owners": [_owner()],
        "time_unix": 1.0,
        **over,
    }


def _nvml_doc(key: str = KEY, **over: Any) -> dict[str, Any]:
    return {
        "key": key,
        "backend": "nvml",
        "sm_mhz": [1980, 1980],
        "mem_mhz": None,
        "saved": {},
        "owners": [_owner()],
        "time_unix": 1.0,
        **over,
    }


def _plant(doc: dict[str, Any], name: str | None = None) -> Path:
    """A record in the state folder as someone else might put it there (owned by root, mode 0644)."""
    d = state_files.state_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / (name or state_files.path_of(doc["key"]).name)
    path.write_text(json.dumps(doc))
    path.chmod(0o644)
    return path


def _sweep(tmp_path: Path) -> Any:
    return CliRunner().invoke(
        app, ["sweep", "-w", "host:us=5", "--gaps", "0.001", "--iterations", "5", "--out", str(tmp_path / "r")]
    )


def _clock_warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("warning:") and "clock" in line]


def _assert_one_line_refusal(result: Any, name: Path, why: str) -> None:
    assert "Traceback" not in result.output
    (line,) = _clock_warnings(result.stderr)
    assert str(name) in line and "not trusted" in line and why in line, line


@pytest.fixture
def tree(fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fake Jetson: no NVML, the GPU's devfreq node in a sysfs tree under tmp_path/root."""
    fake.nvmlInit.side_effect = pynvml.NVMLError_LibraryNotFound
    root = tmp_path / "root"
    node = make_tree(root)
    (node / "min_freq").write_text("1300500000\n")  # as a lock left it: a restore would write 306000000
    monkeypatch.setenv("TRTPACE_SYSFS_ROOT", str(root))
    return node


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    v = tmp_path / "victim"
    v.write_text(PRECIOUS)
    return v


def test_a_folder_others_can_write_is_not_read_and_nothing_is_restored(tree: Path, tmp_path: Path) -> None:
    record = _plant(_jetson_doc(str(tree)))  # a record that would be valid, and stale, in a trusted folder
    state_files.state_dir().chmod(0o777)
    for args in (["sweep"], ["clocks", "show"], ["clocks", "reset"]):
        r = _sweep(tmp_path) if args == ["sweep"] else CliRunner().invoke(app, args)
        assert r.exit_code == 0, r.output
        _assert_one_line_refusal(r, state_files.state_dir(), "writable by group or others: mode 0777")
    assert (tree / "min_freq").read_text() == "1300500000\n"  # not restored
    assert record.exists()
    r = CliRunner().invoke(app, ["clocks", "lock"])
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert r.exit_code == 1 and len(errors) == 1 and "not trusted" in errors[0], r.output
    assert sorted(p.name for p in state_files.state_dir().iterdir()) == [record.name]  # not even a lock file
    assert clocks.reap_stale() == [state_files.damaged_warning(state_files.scan()[1][0])]


@needs_root
def test_a_folder_of_another_user_is_not_read(tree: Path, tmp_path: Path) -> None:
    _plant(_jetson_doc(str(tree)))
    os.chown(state_files.state_dir(), NOBODY, NOBODY)
    r = _sweep(tmp_path)
    assert r.exit_code == 0
    _assert_one_line_refusal(r, state_files.state_dir(), f"owned by uid {NOBODY}")
    assert (tree / "min_freq").read_text() == "1300500000\n"


@pytest.mark.parametrize("how", [pytest.param("another user's", marks=needs_root), "group-writable", "world-writable"])
def test_a_record_others_could_have_written_is_left_alone(tree: Path, tmp_path: Path, how: str) -> None:
    record = _plant(_jetson_doc(str(tree)))
    if how == "another user's":
        os.chown(record, NOBODY, NOBODY)
        why = f"owned by uid {NOBODY}"
    else:
        record.chmod(0o664 if how == "group-writable" else 0o646)
        why = "writable by group or others"
    r = _sweep(tmp_path)
    assert r.exit_code == 0
    _assert_one_line_refusal(r, record, why)
    assert (tree / "min_freq").read_text() == "1300500000\n" and record.exists()
    # reset (even --all) leaves it; lock refuses in one line rather than overwrite it
    r = CliRunner().invoke(app, ["clocks", "reset"])
    assert r.exit_code == 0 and record.exists() and (tree / "min_freq").read_text() == "1300500000\n"
    r = CliRunner().invoke(app, ["clocks", "lock"])
    assert r.exit_code == 1 and "not trusted" in r.output and record.exists()


def test_a_symlinked_record_is_not_followed(tree: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(_jetson_doc(str(tree))))
    record = state_files.path_of(f"jetson:{tree}")
    record.parent.mkdir(parents=True)
    record.symlink_to(elsewhere)
    r = _sweep(tmp_path)
    assert r.exit_code == 0
    _assert_one_line_refusal(r, record, "a symbolic link")
    assert record.is_symlink() and elsewhere.exists()
    assert (tree / "min_freq").read_text() == "1300500000\n"


def test_a_fifo_record_is_refused_without_opening_it(fake, tmp_path: Path) -> None:
    record = state_files.path_of(KEY)
    record.parent.mkdir(parents=True)
    os.mkfifo(record)
    warnings = clocks.reap_stale()  # opening a FIFO for reading would hang here
    assert len(warnings) == 1 and "not a regular file" in warnings[0] and str(record) in warnings[0]


def _outside_node(tmp_path: Path, victim: Path) -> Path:
    evil = tmp_path / "evil"
    (evil / "device").mkdir(parents=True)
    for name in ("min_freq", "max_freq", "governor", "device/railgate_enable"):
        (evil / name).symlink_to(victim)
    return evil


@pytest.mark.parametrize("where", ["outside", "dotdot", "symlinked node"])
def test_a_jetson_record_naming_a_node_outside_the_devfreq_root_is_refused(
    tree: Path, tmp_path: Path, victim: Path, where: str
) -> None:
    evil = _outside_node(tmp_path, victim)
    devfreq = tree.parent
    if where == "outside":
        node, why = str(evil), "is not a devfreq node under"
    elif where == "dotdot":
        node, why = f"{devfreq}/../../../../evil", "is not a plain absolute path"
    else:
        (devfreq / "evil").symlink_to(evil)
        node, why = str(devfreq / "evil"), "outside"
    record = _plant(_jetson_doc(node))
    r = _sweep(tmp_path)
    assert r.exit_code == 0, r.output
    _assert_one_line_refusal(r, record, why)
    assert victim.read_text() == PRECIOUS and record.exists()
    assert clocks.reap_stale()[0].startswith(f"clock state file {record} is not trusted")
    r = CliRunner().invoke(app, ["clocks", "reset"])
    assert r.exit_code == 0 and victim.read_text() == PRECIOUS and record.exists()


@pytest.mark.parametrize("trick", ["symlinked attribute", "hard-linked attribute", "device link out of sysfs"])
def test_a_symlink_trick_inside_the_node_is_refused_at_restore(
    tree: Path, tmp_path: Path, victim: Path, trick: str
) -> None:
    record = _plant(_jetson_doc(str(tree)))
    if trick == "symlinked attribute":
        (tree / "governor").unlink()
        (tree / "governor").symlink_to(victim)
        why = "is a symbolic link"
    elif trick == "hard-linked attribute":
        (tree / "governor").unlink()
        os.link(victim, tree / "governor")
        why = "hard links"
    else:
        outside = tmp_path / "outside-device"
        outside.mkdir()
        (outside / "railgate_enable").symlink_to(victim)
        (tree / "device" / "railgate_enable").unlink()
        (tree / "device" / "of_node" / "name").unlink()
        (tree / "device" / "of_node").rmdir()
        (tree / "device").rmdir()
        (tree / "device").symlink_to(outside)
        why = "outside"
    (line,) = clocks.reap_stale()
    assert "still locked by trtpace" in line and "refused to write" in line and why in line, line
    assert victim.read_text() == PRECIOUS
    assert (tree / "min_freq").read_text() == "1300500000\n"  # nothing restored: all opened before any write
    assert (tree / "max_freq").read_text() == "1300500000\n" and record.exists()


@pytest.mark.parametrize("key", ["--help", "../../etc/passwd", "0000:3B:00.0 -lgc 1,1", "/dev/nvidia0"])
def test_an_nvidia_record_must_name_a_pci_bus_id(fake, tmp_path: Path, key: str) -> None:
    record = _plant(_nvml_doc(key))
    r = _sweep(tmp_path)
    assert r.exit_code == 0
    _assert_one_line_refusal(r, record, "is not a PCI bus id")
    fake.nvmlDeviceGetHandleByPciBusId.assert_not_called()
    fake.nvmlDeviceResetGpuLockedClocks.assert_not_called()
    assert record.exists()


def test_a_record_under_another_records_name_is_refused(fake, tmp_path: Path) -> None:
    record = _plant(_nvml_doc("00000000:3C:00.0"), name=state_files.path_of(KEY).name)
    (line,) = clocks.reap_stale()
    assert str(record) in line and "not trusted" in line and "whose record is" in line
    fake.nvmlDeviceResetGpuLockedClocks.assert_not_called()


def test_jetson_clocks_restores_only_from_its_own_private_store(
    fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.nvmlInit.side_effect = pynvml.NVMLError_LibraryNotFound
    root = tmp_path / "root"
    make_tree(root)
    monkeypatch.setenv("TRTPACE_SYSFS_ROOT", str(root))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "jc.log"
    (bin_dir / "jetson_clocks").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (bin_dir / "jetson_clocks").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    planted = tmp_path / "planted.conf"
    planted.write_text("/etc/shadow:x\n")
    doc = {
        "key": "jetson:jetson_clocks",
        "backend": "jetson_clocks",
        "saved": {"store_file": str(planted)},
        "owners": [_owner()],
        "time_unix": 1.0,
    }
    record = _plant(doc)
    (line,) = clocks.reap_stale()
    assert str(record) in line and "restore from" in line and not log.exists() and record.exists()
    if os.geteuid() != 0:
        return  # the rest makes the store another user's (chown): root only
    # Its own store file, but another user's: refused at restore.
    store = state_files.jetson_clocks_store()
    store.write_text("stored\n")
    os.chown(store, NOBODY, NOBODY)
    record = _plant({**doc, "saved": {"store_file": str(store)}})
    (line,) = clocks.reap_stale()
    assert "still locked by trtpace" in line and f"owned by uid {NOBODY}" in line, line
    assert not log.exists() and record.exists()


def test_a_planted_lock_symlink_creates_nothing(fake, tmp_path: Path) -> None:
    d = state_files.state_dir()
    d.mkdir(parents=True)
    target = tmp_path / "created-by-root"
    (d / f"{state_files.path_of(KEY).stem}.lock").symlink_to(target)
    r = CliRunner().invoke(app, ["clocks", "lock"])
    (line,) = r.output.strip().splitlines()
    assert r.exit_code == 1 and line.startswith("error: clock lock file") and "a symbolic link" in line, r.output
    assert not target.exists()
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()


@needs_root
def test_a_lock_file_of_another_user_is_refused(fake) -> None:
    d = state_files.state_dir()
    d.mkdir(parents=True)
    lock = d / f"{state_files.path_of(KEY).stem}.lock"
    lock.touch()
    os.chown(lock, NOBODY, NOBODY)
    with pytest.raises(clocks.ClockError, match=f"clock lock file {lock} is not trusted .owned by uid {NOBODY}"):
        clocks.lock("max")
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()


def test_records_trtpace_writes_are_private_and_pass_its_checks(fake, tree: Path) -> None:
    (tree / "min_freq").write_text("306000000\n")
    clocks.lock("max")
    assert (tree / "min_freq").read_text().strip() == "1300500000"
    (record,) = [p for p in state_files.state_dir().iterdir() if p.suffix == ".json"]
    st = record.stat()
    assert st.st_uid == os.geteuid() and not st.st_mode & 0o022
    assert not state_files.state_dir().stat().st_mode & 0o022
    assert [s.key for s in state_files.all_states()] == [f"jetson:{tree}"]
    clocks.reset()
    assert (tree / "min_freq").read_text().strip() == "306000000"


def test_a_real_jetson_layout_of_symlinks_inside_sysfs_still_locks_and_restores(
    fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a Jetson, /sys/class/devfreq/<node> and its `device` are symlinks into /sys/devices: allowed,
    since they resolve inside sysfs."""
    fake.nvmlInit.side_effect = pynvml.NVMLError_LibraryNotFound
    root = tmp_path / "root"
    built = make_tree(tmp_path / "build")
    platform = root / "sys/devices/platform/17000000.gpu"
    platform.parent.mkdir(parents=True)
    os.rename(built / "device", platform)
    real_node = platform / "devfreq" / "17000000.gpu"
    real_node.parent.mkdir()
    os.rename(built, real_node)
    (real_node / "device").symlink_to("../..")
    (root / "sys/class/devfreq").mkdir(parents=True)
    (root / "sys/class/devfreq/17000000.gpu").symlink_to(real_node)
    monkeypatch.setenv("TRTPACE_SYSFS_ROOT", str(root))
    (st,) = clocks.lock("max")
    assert st.key == f"jetson:{root}/sys/class/devfreq/17000000.gpu"
    assert (real_node / "min_freq").read_text().strip() == "1300500000"
    assert (platform / "railgate_enable").read_text().strip() == "0"
    assert clocks.reap_stale() == []
    r = CliRunner().invoke(app, ["clocks", "reset"])
    assert r.exit_code == 0 and "reset (SM 1300-1300 MHz, devfreq min := max via jetson)" in r.output, r.output
    assert (real_node / "min_freq").read_text().strip() == "306000000"
    assert (platform / "railgate_enable").read_text().strip() == "1"
