"""A full disk or a file-size limit while writing a clock record: one line and a non-zero exit, no
traceback, never a half-written record (a temporary file in the same folder, fsync, rename), and
nothing changed on the GPU. RLIMIT_FSIZE in a real subprocess (SIGXFSZ ignored, so write() gets
EFBIG); ENOSPC through the one function that writes the bytes."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trtpace.cli import app
from trtpace.platform import clocks
from trtpace.platform.clocks import state as state_files

TESTS = Path(__file__).parent
KEY = "00000000:3B:00.0"

LIMITED_CLI = textwrap.dedent("""
    import resource, signal, sys
    from fake_nvml import make_fake_nvml
    from trtpace.cli import main
    from trtpace.platform import nvml

    log_path, limit = sys.argv[1], int(sys.argv[2])
    fake = make_fake_nvml()
    fake.nvmlDeviceSetGpuLockedClocks.side_effect = lambda h, lo, hi: print(f"NVML set {lo} {hi}", file=sys.stderr)
    nvml.pynvml = fake
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so that write() fails with EFBIG instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    sys.argv = ["trtpace", *sys.argv[3:]]
    main()
""")


def _limited(tmp_path: Path, limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TRTPACE_STATE_DIR": str(tmp_path / "state"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-c", LIMITED_CLI, str(tmp_path / "log"), str(limit), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _files() -> list[str]:
    d = state_files.state_dir()
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def _one_error_line(text: str, why: str) -> str:
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and why in errors[0], text
    return errors[0]


def test_efbig_writing_a_new_record_is_one_line_and_leaves_nothing(fake, tmp_path: Path) -> None:
    r = _limited(tmp_path, 64, "clocks", "lock")  # a record is several hundred bytes
    assert r.returncode == 1, r.stdout + r.stderr
    line = _one_error_line(r.stdout + r.stderr, "File too large")
    assert line.startswith(f"error: cannot write the clock record {state_files.path_of(KEY)}")
    assert "NVML set" not in r.stderr  # the record comes first: without it the GPU is not touched
    assert _files() == [f"{state_files.path_of(KEY).stem}.lock"]  # no record, no temporary file


def test_efbig_joining_keeps_the_old_record_whole(fake, tmp_path: Path) -> None:
    clocks.lock("max")
    path = state_files.path_of(KEY)
    before = path.read_bytes()
    r = _limited(tmp_path, len(before), "clocks", "lock")  # the joined record, one owner more, is bigger
    assert r.returncode == 1
    _one_error_line(r.stdout + r.stderr, "File too large")
    assert path.read_bytes() == before and len(state_files.all_states()[0].owners) == 1
    assert _files() == sorted([path.name, f"{path.stem}.lock"])


def _enospc_after(n: int) -> Any:
    real = state_files.write_all

    def write_all(fd: int, data: bytes) -> None:
        real(fd, data[:n])  # half a record reaches the disk, then it is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write_all


def test_enospc_on_lock_is_one_line_and_no_half_record(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_files, "write_all", _enospc_after(40))
    r = CliRunner().invoke(app, ["clocks", "lock"])
    assert r.exit_code == 1
    _one_error_line(r.output, "No space left on device")
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()
    assert not state_files.path_of(KEY).exists() and _files() == [f"{state_files.path_of(KEY).stem}.lock"]


def test_enospc_when_releasing_a_share_keeps_the_record_and_the_lock(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    (a,) = clocks.acquire("max", hold=state_files.HOLD_PROCESS)
    (b,) = clocks.acquire("max", hold=state_files.HOLD_PROCESS)
    path = state_files.path_of(KEY)
    before = path.read_bytes()
    real = state_files.write_all
    monkeypatch.setattr(state_files, "write_all", _enospc_after(10))
    with pytest.raises(clocks.ClockError, match="No space left on device"):
        clocks._release_share(KEY, a[1].id)
    assert path.read_bytes() == before
    fake.nvmlDeviceResetGpuLockedClocks.assert_not_called()
    # The last share out needs no write: it restores and removes the record.
    monkeypatch.setattr(state_files, "write_all", real)
    clocks._release_share(KEY, a[1].id)
    monkeypatch.setattr(state_files, "write_all", _enospc_after(10))
    clocks._release_share(KEY, b[1].id)
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()
    assert not path.exists()


def test_enospc_in_the_stale_check_is_one_line(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    clocks.acquire("max", hold=state_files.HOLD_PROCESS)
    clocks.acquire("max", hold=state_files.HOLD_UNTIL_RESET)
    st = state_files.read(KEY)
    assert st is not None
    st.owners[0].start_time = (st.owners[0].start_time or 0) + 1  # that owner is gone (its pid reused)
    with state_files.guarded(KEY):
        state_files.write(st)
    monkeypatch.setattr(state_files, "write_all", _enospc_after(0))
    (line,) = clocks.reap_stale()
    assert "still locked by trtpace" in line and "No space left on device" in line and "\n" not in line
