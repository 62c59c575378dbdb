"""Results folders are taken exclusively: a default name never collides, a folder holding files is
refused unless --overwrite or --append says what to do, and a run that fails before any condition
lands leaves no folder behind. Files and folders honour the umask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app, driver
from trtpace.errors import NoGpuError
from trtpace.fileio import atomic_write
from trtpace.results import ResultWriter

runner = CliRunner()
SWEEP = ["sweep", "-w", "host:us=5", "--iterations", "5", "--warmup", "0"]


def invoke(*args: str):
    return runner.invoke(app, list(args))


def _one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    return lines[0]


def test_default_names_get_a_suffix_instead_of_sharing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # Two runs in the same second get the same default name: fix the name to make that certain.
    monkeypatch.setattr(driver, "default_out", lambda command: Path("trtpace-results") / f"{command}-20261124-221500")
    for gaps in ("0.001", "0.002,0.003"):
        r = invoke(*SWEEP, "--gaps", gaps)
        assert r.exit_code == 0, r.output
    first = trtpace.load(tmp_path / "trtpace-results/sweep-20261124-221500")
    second = trtpace.load(tmp_path / "trtpace-results/sweep-20261124-221500-2")
    assert (len(first.conditions), len(second.conditions)) == (2, 3)
    assert "results saved in trtpace-results/sweep-20261124-221500-2" in r.stderr


def test_two_runs_started_together_never_share_a_folder(tmp_path: Path) -> None:
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "trtpace", *SWEEP, "--gaps", "0.001", "--out", str(out), "--no-report"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=120), p.communicate()[1]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2, 2], results
    for code, err in results:
        if code == 2:
            assert "error:" in err and ("already holds files" in err or "being written by another" in err), err
    assert len(trtpace.load(out).conditions) == 2


def test_a_folder_holding_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    r = invoke(*SWEEP, "--gaps", "0.001", "--out", str(tmp_path))
    assert r.exit_code == 2 and "already holds files: pass --overwrite" in _one_error_line(r.output)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    r = invoke(*SWEEP, "--gaps", "0.001", "--out", str(empty))  # an empty folder made beforehand is fine
    assert r.exit_code == 0, r.output
    with pytest.raises(trtpace.UsageError, match="already holds files"):
        trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, out=empty)


def test_empty_out_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = invoke(*SWEEP, "--out", "")
    assert r.exit_code == 2 and "--out needs a folder name" in _one_error_line(r.output)
    assert os.listdir(tmp_path) == []
    with pytest.raises(trtpace.UsageError, match="folder name is empty"):
        trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, out="")


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--overwrite", "--append"], "exclude each other"), (["--append"], "--append goes with --out")],
)
def test_flag_misuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    r = invoke(*SWEEP, *args)
    assert r.exit_code == 2 and message in _one_error_line(r.output)
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_the_earlier_run_only(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert invoke(*SWEEP, "--gaps", "0.001,0.002", "--out", str(out)).exit_code == 0
    (out / "notes.txt").write_text("mine")
    r = invoke(*SWEEP, "--gaps", "0.003", "--out", str(out), "--overwrite")
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(out)) == [
        "condition-000.npz",
        "condition-001.npz",
        "notes.txt",
        "report.html",
        "sweep.json",
    ]
    assert [c.pacing.gap_s for c in trtpace.load(out).conditions] == [0.0, 0.003]


def test_append_adds_conditions_to_the_same_command(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert invoke(*SWEEP, "--gaps", "0.001", "--out", str(out)).exit_code == 0
    before = (out / "report.html").stat().st_size
    r = invoke(*SWEEP, "--gaps", "0.002", "--out", str(out), "--append", "--json")
    assert r.exit_code == 0, r.output
    assert [c["pacing"]["gap_s"] for c in json.loads(r.stdout)["conditions"]] == [0.0, 0.002]  # this run's
    loaded = trtpace.load(out)
    assert [c.pacing.gap_s for c in loaded.conditions] == [0.0, 0.001, 0.0, 0.002]
    assert all(c.status == "done" and c.count == 5 for c in loaded.conditions)
    doc = json.loads((out / "sweep.json").read_text())
    assert [e["file"] for e in doc["conditions"]] == [f"condition-{i:03d}.npz" for i in range(4)]
    assert doc["appended"][0]["settings"]["pacings"][1]["gap_s"] == 0.002
    assert (out / "report.html").stat().st_size > before  # the report covers all four
    # Only onto a readable run of the same command.
    r = invoke(
        "compare",
        "-w",
        "host:us=5",
        "--policies",
        "sleep",
        "--rounds",
        "1",
        "--iterations",
        "3",
        "--gap",
        "0.001",
        "--out",
        str(out),
        "--append",
    )
    assert r.exit_code == 2 and "holds a sweep run, not a compare run" in _one_error_line(r.output)
    (out / "sweep.json").write_text("[]")
    r = invoke(*SWEEP, "--gaps", "0.002", "--out", str(out), "--append")
    assert r.exit_code == 2 and "--append:" in _one_error_line(r.output)


def test_failed_run_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keep = tmp_path / "keep"
    keep.mkdir()
    # Checks fail before any folder is made.
    r = invoke(*SWEEP, "--gaps", "abc", "--out", str(tmp_path / "a/b/c"))
    assert r.exit_code == 2 and not (tmp_path / "a").exists()

    def broken_build(spec: object, gpu: int) -> None:
        raise NoGpuError("the workload could not be built")  # a failure after the folder was taken

    monkeypatch.setattr("trtpace.run.sweep.workloads.build", broken_build)
    r = invoke(*SWEEP, "--gaps", "0.001", "--out", str(keep / "new/deeper"))
    assert r.exit_code == 1 and "could not be built" in r.output
    assert os.listdir(keep) == []  # the folders it made are gone; the one that was there stays
    # Appending: the earlier run stays as it was.
    out = tmp_path / "r"
    monkeypatch.undo()
    assert invoke(*SWEEP, "--gaps", "0.001", "--out", str(out)).exit_code == 0
    before = (out / "sweep.json").read_bytes()
    monkeypatch.setattr("trtpace.run.sweep.workloads.build", broken_build)
    r = invoke(*SWEEP, "--gaps", "0.001", "--out", str(out), "--append")
    assert r.exit_code == 1 and (out / "sweep.json").read_bytes() == before


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_results_honour_the_umask(tmp_path: Path, umask: int, file_mode: int, dir_mode: int) -> None:
    old = os.umask(umask)
    try:
        out = tmp_path / "r"
        trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, warmup=0, out=out)
        atomic_write(tmp_path / "x.bin", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == dir_mode
    for p in [*out.iterdir(), tmp_path / "x.bin"]:
        assert (p.stat().st_mode & 0o777) == file_mode, p
    assert not any(p.name.startswith(".") for p in out.iterdir())  # temporary files renamed into place


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "sweep.json"
    target.write_text("old")

    def fail(f: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["sweep.json"]


def test_writer_modes_from_python(tmp_path: Path) -> None:
    with pytest.raises(trtpace.UsageError, match="unknown results folder mode"):
        ResultWriter(tmp_path / "x", {}, {}, "sideways")
    assert not (tmp_path / "x").exists()
    a = ResultWriter(tmp_path / "u", {}, {}, "unique")
    b = ResultWriter(tmp_path / "u", {}, {}, "unique")
    assert (a.directory.name, b.directory.name) == ("u", "u-2")
    # While a writer holds its folder, the folder holds its lock file too; closing gives both up.
    np.testing.assert_equal(sorted(os.listdir(b.directory)), [".trtpace.lock", "sweep.json"])
    a.close()
    b.close()
    np.testing.assert_equal(sorted(os.listdir(b.directory)), ["sweep.json"])
