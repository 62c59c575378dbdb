"""Full disks and file-size limits: every write of results and reports says so in one line with a
non-zero exit, never a traceback; what was measured stays as far as the disk allows; a condition
file is renamed into place only when whole, so a folder never shows a complete condition as lost.

ENOSPC comes from a real full tmpfs where this process may mount one (root), and from os.fsync
monkeypatched for one file (to pick exactly which write fails); EFBIG from a real RLIMIT_FSIZE in
a subprocess (SIGXFSZ ignored, so the write fails instead of killing it)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.results.folder import LOCK_NAME, is_locked

runner = CliRunner()
SWEEP = ["sweep", "-w", "host:us=20", "--warmup", "0"]

LIMITED = textwrap.dedent("""
    import resource, runpy, signal, sys
    limit = int(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    sys.argv = ["trtpace", *sys.argv[2:]]
    runpy.run_module("trtpace", run_name="__main__")
""")


def _limited(limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LIMITED, str(limit), *args], capture_output=True, text=True, timeout=180
    )


def _one_error_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if not x.startswith(("warning:", "report:", "results saved"))]
    assert len(lines) == 1 and lines[0].startswith("error:"), text
    assert "Traceback" not in text
    return lines[0]


def _no_temporary_files(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")], list(folder.iterdir())


def _enospc_on(monkeypatch: pytest.MonkeyPatch, failing: Callable[[str], bool]) -> None:
    """os.fsync raises ENOSPC for the files whose name `failing` picks (the write's temporary file)."""
    real = os.fsync

    def fsync(fd: int) -> None:
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        if failing(name):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_full_disk_while_a_condition_is_written_keeps_the_ones_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r"
    _enospc_on(monkeypatch, lambda name: name.startswith(".condition-002.npz."))
    r = runner.invoke(app, [*SWEEP, "--iterations", "5", "--gaps", "0.001,0.002", "--out", str(out)])
    monkeypatch.undo()
    assert r.exit_code == 1, r.output
    line = _one_error_line(r.stderr)
    assert "condition-002.npz" in line and "No space left on device" in line and "2 condition(s)" in line
    loaded = trtpace.load(out)
    assert [c.status for c in loaded.conditions] == ["done", "done", "lost"]
    assert "could not be written: No space left on device" in loaded.conditions[2].info["load_error"]
    _no_temporary_files(out)
    assert not is_locked(out) and not (out / LOCK_NAME).exists()


def test_a_condition_written_whole_never_loads_as_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills between a condition's file and sweep.json saying it is done."""
    out = tmp_path / "r"
    landed = {"n": 0}
    real_replace = os.replace

    def replace(src: object, dst: object) -> None:
        real_replace(src, dst)  # type: ignore[arg-type]
        if Path(str(dst)).name == "condition-001.npz":
            landed["n"] += 1

    monkeypatch.setattr(os, "replace", replace)
    _enospc_on(monkeypatch, lambda name: name.startswith(".sweep.json.") and landed["n"] > 0)
    r = runner.invoke(app, [*SWEEP, "--iterations", "5", "--gaps", "0.001,0.002", "--out", str(out)])
    monkeypatch.undo()
    assert r.exit_code == 1 and "sweep.json" in _one_error_line(r.stderr)
    doc = json.loads((out / "sweep.json").read_text())
    assert [e["status"] for e in doc["conditions"]] == ["done", "running"]  # sweep.json lagged behind
    loaded = trtpace.load(out)
    assert [(c.status, c.count) for c in loaded.conditions] == [("done", 5), ("done", 5)]
    _no_temporary_files(out)


def test_a_full_disk_at_the_first_write_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r"
    _enospc_on(monkeypatch, lambda name: name.startswith(".sweep.json."))
    r = runner.invoke(app, [*SWEEP, "--iterations", "5", "--gaps", "0.001", "--out", str(out)])
    monkeypatch.undo()
    assert r.exit_code == 2 and "No space left on device" in _one_error_line(r.stderr)
    assert not out.exists()  # nothing half made stays


def test_a_full_disk_at_the_report_keeps_the_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r"
    _enospc_on(monkeypatch, lambda name: name.startswith(".report.html."))
    r = runner.invoke(app, [*SWEEP, "--iterations", "5", "--gaps", "0.001", "--out", str(out)])
    assert r.exit_code == 1 and "report.html: No space left on device" in _one_error_line(r.stderr)
    assert [c.status for c in trtpace.load(out).conditions] == ["done", "done"]
    assert not (out / "report.html").exists()
    # `trtpace report`, the CSV and the PNGs too: one line, the file before stays whole.
    (tmp_path / "old.csv").write_text("old")
    _enospc_on(monkeypatch, lambda name: name.startswith((".new.csv.", ".old.csv.", ".latency-vs-gap.png.")))
    for args, what in (
        (["--csv", str(tmp_path / "old.csv")], "old.csv"),
        (["--csv", str(tmp_path / "new.csv")], "new.csv"),
        (["--png", str(tmp_path / "png")], "latency-vs-gap.png"),
        ([], "report.html"),
    ):
        r = runner.invoke(app, ["report", str(out), *args])
        assert r.exit_code == 1 and what in _one_error_line(r.stderr) and "No space left" in r.stderr, r.output
    monkeypatch.undo()
    assert (tmp_path / "old.csv").read_text() == "old" and not (tmp_path / "new.csv").exists()
    _no_temporary_files(out)
    _no_temporary_files(tmp_path)


def test_a_file_size_limit_on_an_append_keeps_the_earlier_run(tmp_path: Path) -> None:
    out = tmp_path / "r"
    trtpace.sweep("host:us=20", gaps_s=[0.001], iterations=20, warmup=0, out=out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert max(len(b) for b in before.values()) < 40_000
    # A condition of 3000 inferences is ~300 kB: over the limit; sweep.json stays under it.
    r = _limited(100_000, *SWEEP, "--iterations", "3000", "--gaps", "0.001", "--out", str(out), "--append")
    assert r.returncode == 1, r
    line = _one_error_line(r.stderr)
    assert "condition-002.npz" in line and "File too large" in line and "no condition of this run" in line
    # Nothing of the appended run landed: the earlier run is as it was.
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not is_locked(out)


def test_a_file_size_limit_on_sweep_json_keeps_every_condition_written(tmp_path: Path) -> None:
    out = tmp_path / "r"
    # Small condition files; sweep.json grows by a few kB per condition and hits the limit.
    r = _limited(
        40_000, *SWEEP, "--iterations", "5", "--gaps", ",".join(f"0.00{i}" for i in range(1, 10)), "--out", str(out)
    )
    assert r.returncode == 1, r
    line = _one_error_line(r.stderr)
    assert "sweep.json" in line and "File too large" in line and "are kept" in line
    loaded = trtpace.load(out)
    written = sorted(p.name for p in out.glob("condition-*.npz"))
    assert len(written) >= 2
    done = [c for c in loaded.conditions if c.status == "done"]
    assert len(done) == len(written) and all(c.count == 5 for c in done)  # every file written loads as done
    _no_temporary_files(out)


def test_a_file_size_limit_on_reports(tmp_path: Path) -> None:
    out = tmp_path / "r"
    trtpace.sweep("host:us=20", gaps_s=[0.001], iterations=20, warmup=0, out=out)
    # The run's own report.html (~100 kB of plots) is over 60 kB; its results are not.
    r = _limited(60_000, *SWEEP, "--iterations", "20", "--gaps", "0.001", "--out", str(tmp_path / "s"))
    assert r.returncode == 1 and "report.html: File too large" in _one_error_line(r.stderr)
    assert [c.status for c in trtpace.load(tmp_path / "s").conditions] == ["done", "done"]
    for args in ([], ["--csv", str(tmp_path / "x.csv")], ["--png", str(tmp_path / "png")]):
        r = _limited(500, "report", str(out), *args)
        assert r.returncode == 1, r
        assert "File too large" in _one_error_line(r.stderr)
    _no_temporary_files(out)
    _no_temporary_files(tmp_path)
    assert not (out / "report.html").exists() and not (tmp_path / "x.csv").exists()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 640 kB tmpfs (skipped where mounting one is not allowed)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mounted = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", str(disk)], capture_output=True, timeout=30
            ).returncode
            == 0
        )
    except OSError:
        mounted = False
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


def test_a_real_full_disk(small_disk: Path, tmp_path: Path) -> None:
    out = small_disk / "r"
    # Each condition of 3000 inferences is ~320 kB: the second does not fit.
    r = subprocess.run(
        [sys.executable, "-m", "trtpace", *SWEEP, "--iterations", "3000", "--gaps", "0.001,0.002", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 1, r
    line = _one_error_line(r.stderr)
    assert "No space left on device" in line and "1 condition(s) written before are kept" in line, line
    loaded = trtpace.load(out)
    assert [(c.status, c.count) for c in loaded.conditions] == [("done", 3000), ("lost", 0)]
    assert "No space left on device" in loaded.conditions[1].info["load_error"]
    _no_temporary_files(out)
    assert not (out / LOCK_NAME).exists()
    # The disk filled by something else, 40 kB left: the report does not fit, one line, exit 1;
    # the CSV elsewhere does.
    fs = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"x" * max(0, fs.f_bavail * fs.f_frsize - 40_000))
    r = subprocess.run(
        [sys.executable, "-m", "trtpace", "report", str(out)], capture_output=True, text=True, timeout=180
    )
    assert r.returncode == 1 and "report.html: No space left on device" in _one_error_line(r.stderr), r
    r = runner.invoke(app, ["report", str(out), "--csv", str(tmp_path / "x.csv")])
    assert r.exit_code == 0 and len((tmp_path / "x.csv").read_text().splitlines()) == 3
    _no_temporary_files(out)
    # An --append that cannot write its first condition leaves the run before as it was.
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "trtpace",
            *SWEEP,
            "--iterations",
            "3000",
            "--gaps",
            "0.001",
            "--out",
            str(out),
            "--append",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 1 and "no condition of this run was written" in _one_error_line(r.stderr), r
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
