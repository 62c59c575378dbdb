"""Report writes: atomic (a temporary file beside the target, fsync, rename), never through a
link, never over the results they read, never one output over another; `report DIR --csv x` does
not write DIR/report.html; a read-only results folder reports elsewhere; a folder a run is writing
gets no report.html written into it meanwhile; a run keeps its folder locked through its own
report.html."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import trtpace
import trtpace.cli.driver
from trtpace.cli import app
from trtpace.report.html import write_csv, write_html
from trtpace.results import ResultWriter
from trtpace.results.folder import LOCK_NAME

runner = CliRunner()


def _one_error_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if not x.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error:"), text
    return lines[0]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("made") / "r"
    trtpace.sweep("host:us=10", gaps_s=[0.001], iterations=5, warmup=0, out=out)
    return out


@pytest.fixture
def folder(made: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(made, tmp_path / "r"))


def _results(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "report.html"}


def test_a_report_html_link_in_a_received_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (folder / "report.html").symlink_to(victim)
    for args in ([], ["--html", str(folder / "report.html")]):
        r = runner.invoke(app, ["report", str(folder), *args])
        assert r.exit_code == 2 and "is a symbolic link" in _one_error_line(r.stderr), r.output
        assert r.stdout == ""  # refused before any work
    assert victim.read_text() == "precious" and (folder / "report.html").is_symlink()
    # The run's own report at the end of an --append refuses the link the same way, its results saved.
    r = runner.invoke(
        app,
        [
            "sweep",
            "-w",
            "host:us=10",
            "--gaps",
            "0.001",
            "--iterations",
            "3",
            "--warmup",
            "0",
            "--out",
            str(folder),
            "--append",
        ],
    )
    assert r.exit_code == 2 and "is a symbolic link" in _one_error_line(r.stderr)
    assert victim.read_text() == "precious" and len(trtpace.load(folder).conditions) == 4
    with pytest.raises(trtpace.UsageError, match="symbolic link"):
        write_html(trtpace.load(folder), folder / "report.html")
    csv_link = tmp_path / "x.csv"
    csv_link.symlink_to(victim)
    r = runner.invoke(app, ["report", str(folder), "--csv", str(csv_link)])
    assert r.exit_code == 2 and "is a symbolic link" in _one_error_line(r.stderr)
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("flag", ["--html", "--csv"])
@pytest.mark.parametrize("name", ["sweep.json", "condition-000.npz", "condition-001.npz", LOCK_NAME])
def test_an_output_over_the_results_it_reads_is_refused(folder: Path, tmp_path: Path, flag: str, name: str) -> None:
    before = _results(folder)
    alias = tmp_path / "alias"
    alias.symlink_to(folder)  # the same folder by another name
    for target in (folder / name, folder / ".." / folder.name / name, alias / name):
        r = runner.invoke(app, ["report", str(folder), flag, str(target)])
        assert r.exit_code == 2, r.output
        assert "is one of the results it reports" in _one_error_line(r.stderr)
    assert _results(folder) == before
    with pytest.raises(trtpace.UsageError, match="one of the results"):
        (write_html if flag == "--html" else write_csv)(trtpace.load(folder), folder / name)
    assert _results(folder) == before


def test_html_and_csv_naming_one_file_are_refused(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for html, csv in (
        ("x.out", "x.out"),
        ("x.out", "./x.out"),
        (str(tmp_path / "x.out"), "x.out"),
        ("sub/../x.out", "x.out"),
    ):
        (tmp_path / "sub").mkdir(exist_ok=True)
        r = runner.invoke(app, ["report", str(folder), "--html", html, "--csv", csv])
        assert r.exit_code == 2 and "are the same file" in _one_error_line(r.stderr)
        assert not (tmp_path / "x.out").exists()
    (tmp_path / "png").mkdir()
    r = runner.invoke(app, ["report", str(folder), "--png", "png", "--csv", "png/latency-vs-gap.png"])
    assert r.exit_code == 2 and "--png folder" in _one_error_line(r.stderr)
    fleet = tmp_path / "b"
    shutil.copytree(folder, fleet)
    r = runner.invoke(app, ["report", str(folder), str(fleet), "--html", "f.out", "--csv", "f.out"])
    assert r.exit_code == 2 and "are the same file" in _one_error_line(r.stderr)


def test_reports_replace_a_file_instead_of_rewriting_it(folder: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 0
    old = (folder / "report.html").read_bytes()
    keep = tmp_path / "kept.html"
    os.link(folder / "report.html", keep)  # a second name for the old file's inode
    r = runner.invoke(
        app, ["report", str(folder), "--csv", str(tmp_path / "x.csv"), "--html", str(folder / "report.html")]
    )
    assert r.exit_code == 0, r.output
    assert keep.read_bytes() == old  # the old file was replaced whole, not truncated and rewritten
    assert os.stat(keep).st_ino != os.stat(folder / "report.html").st_ino
    assert stat.S_IMODE(os.stat(folder / "report.html").st_mode) == 0o666 & ~_umask()
    assert not [p for p in (*folder.iterdir(), *tmp_path.iterdir()) if p.name.startswith(".")]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_report_writes_report_html_only_unless_another_output_is_asked(folder: Path, tmp_path: Path) -> None:
    for args in (["--csv", str(tmp_path / "x.csv")], ["--png", str(tmp_path / "png")], ["--json"]):
        r = runner.invoke(app, ["report", str(folder), *args])
        assert r.exit_code == 0, r.output
        assert not (folder / "report.html").exists(), args
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 0 and (folder / "report.html").exists()
    assert f"report: {folder / 'report.html'}" in r.stderr


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A folder an unprivileged user can reach (pytest's tmp_path is 0700 under root)."""
    d = Path(tempfile.mkdtemp(prefix="trtpace-ro-"))
    d.chmod(0o755)
    yield d
    for p in d.rglob("*"):
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(d)


def _as_ordinary_user(args: list[str]) -> subprocess.CompletedProcess[str]:
    """`trtpace ARGS` as this user, or as nobody where this is root (which writes anywhere)."""

    def drop() -> None:
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)

    return subprocess.run(
        [sys.executable, "-m", "trtpace", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=drop,
        env={**os.environ, "HOME": "/tmp", "MPLCONFIGDIR": "/tmp/mpl-nobody"},
    )


def test_a_read_only_results_folder_reports_elsewhere(made: Path, public_tmp: Path) -> None:
    ro = Path(shutil.copytree(made, public_tmp / "ro"))
    out = public_tmp / "out"
    out.mkdir()
    out.chmod(0o777)
    for p in ro.iterdir():
        p.chmod(0o444)
    ro.chmod(0o555)
    try:
        usable = _as_ordinary_user(["env"]).returncode == 0
    except OSError:
        usable = False
    if not usable:
        pytest.skip("this Python cannot run as an unprivileged user here (the in-process test covers it)")
    r = _as_ordinary_user(["report", str(ro), "--csv", str(out / "x.csv")])
    assert r.returncode == 0, r.stderr
    assert "workload" in (out / "x.csv").read_text() and "warning" not in r.stderr
    r = _as_ordinary_user(["report", str(ro), "--html", str(out / "r.html")])
    assert r.returncode == 0 and (out / "r.html").stat().st_size > 10_000, r.stderr
    r = _as_ordinary_user(["report", str(ro)])  # no output asked for: the tables, and a warning
    assert r.returncode == 0, r.stderr
    assert "report.html not written" in r.stderr and "--html FILE" in r.stderr and "trtpace sweep" in r.stdout
    r = _as_ordinary_user(["report", str(ro), "--html", str(ro / "report.html")])  # asked for: one line
    assert r.returncode == 2 and "cannot write" in _one_error_line(r.stderr)
    assert sorted(p.name for p in ro.iterdir()) == sorted(p.name for p in made.iterdir())


def test_a_folder_that_refuses_writes_reports_elsewhere(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same as a read-only mount, in this process (root writes through file modes): every
    open for writing and every mkdir inside the folder fails with EROFS."""
    real_open, real_mkdir = os.open, os.mkdir
    inside = str(folder.resolve())
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def where(path: object, dir_fd: int | None) -> str:
        base = os.readlink(f"/proc/self/fd/{dir_fd}") if dir_fd is not None else os.getcwd()
        return os.path.realpath(os.path.join(base, os.fsdecode(path)))  # type: ignore[arg-type]

    def ro_open(path: object, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if flags & writes and where(path, dir_fd).startswith(inside):
            raise OSError(30, os.strerror(30), os.fsdecode(path))  # type: ignore[arg-type]
        return real_open(path, flags, mode, dir_fd=dir_fd)  # type: ignore[arg-type]

    def ro_mkdir(path: object, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        if where(path, dir_fd).startswith(inside):
            raise OSError(30, os.strerror(30), os.fsdecode(path))  # type: ignore[arg-type]
        real_mkdir(path, mode, dir_fd=dir_fd)  # type: ignore[arg-type]

    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    monkeypatch.setattr(os, "open", ro_open)
    monkeypatch.setattr(os, "mkdir", ro_mkdir)
    for args in (
        ["--csv", str(tmp_path / "x.csv")],
        ["--html", str(tmp_path / "r.html")],
        ["--png", str(tmp_path / "png")],
        ["--json"],
    ):
        r = runner.invoke(app, ["report", str(folder), *args])
        assert r.exit_code == 0 and "warning" not in r.stderr, r.output
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 0 and "report.html not written" in r.stderr and "Read-only file system" in r.stderr
    r = runner.invoke(app, ["report", str(folder), "--html", str(folder / "report.html")])
    assert r.exit_code == 2 and "Read-only file system" in _one_error_line(r.stderr)
    r = runner.invoke(
        app, ["sweep", "-w", "host:us=5", "--gaps", "0.001", "--iterations", "3", "--out", str(folder), "--append"]
    )
    assert r.exit_code == 2 and "Read-only file system" in _one_error_line(r.stderr)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert (tmp_path / "x.csv").exists() and (tmp_path / "r.html").exists()


def test_no_report_is_written_into_a_folder_a_run_is_writing(folder: Path, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from trtpace.results import ResultWriter\n"
                f"w = ResultWriter({str(folder)!r}, {{}}, {{'command': 'sweep'}}, 'append')\n"
                "print('held', flush=True); time.sleep(60)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = _results(folder)
        for args in (["--csv", str(folder / "inside.csv")], ["--html", str(folder / "report.html")]):
            r = runner.invoke(app, ["report", str(folder), *args])  # asked for: refused in one line
            assert r.exit_code == 2 and "being written by another trtpace run" in _one_error_line(r.stderr)
            assert r.stdout == ""
        r = runner.invoke(app, ["report", str(folder)])  # not asked for: the tables, and a warning
        assert r.exit_code == 0 and "trtpace sweep" in r.stdout, r.output
        warning = [x for x in r.stderr.splitlines() if x.startswith("warning:")]
        assert len(warning) == 1 and "report.html not written" in warning[0] and "being written" in warning[0]
        assert not (folder / "report.html").exists() and not (folder / "inside.csv").exists()
        r = runner.invoke(app, ["report", str(folder), "--csv", str(tmp_path / "x.csv")])  # elsewhere: fine
        assert r.exit_code == 0 and (tmp_path / "x.csv").exists()
        with pytest.raises(trtpace.UsageError, match="being written"):
            write_html(trtpace.load(folder), folder / "report.html")
        assert _results(folder) == before
    finally:
        holder.kill()
        holder.communicate()
    r = runner.invoke(app, ["report", str(folder)])
    assert r.exit_code == 0 and (folder / "report.html").exists()
    assert not (folder / LOCK_NAME).exists()


def test_a_writer_of_this_process_may_report_into_its_own_folder(tmp_path: Path) -> None:
    with ResultWriter(tmp_path / "r", {}, {"command": "sweep"}) as writer:
        result = trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=3, warmup=0)
        for c in result.conditions:
            writer.add(c)
        write_html(trtpace.load(writer.directory), writer.directory / "report.html")
        assert writer.locked
    assert (tmp_path / "r" / "report.html").exists()


def test_a_run_keeps_its_folder_until_its_report_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between a run's last condition and its report.html, another run (here an --overwrite in a
    real second process) is refused: the report describes the results it was written with."""
    out = tmp_path / "r"
    seen: list[subprocess.CompletedProcess[str]] = []
    real = trtpace.cli.driver.write_html

    def write_html_late(result: trtpace.SweepResult, path: Path) -> Path:
        seen.append(
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "trtpace",
                    "sweep",
                    "-w",
                    "host:us=7",
                    "--gaps",
                    "0.002",
                    "--iterations",
                    "3",
                    "--out",
                    str(out),
                    "--overwrite",
                    "--no-report",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
        )
        return real(result, path)

    monkeypatch.setattr(trtpace.cli.driver, "write_html", write_html_late)
    r = runner.invoke(
        app, ["sweep", "-w", "host:us=10", "--gaps", "0.001", "--iterations", "3", "--warmup", "0", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert len(seen) == 1 and seen[0].returncode == 2, seen
    assert "being written by another trtpace run" in _one_error_line(seen[0].stderr)
    assert [c.workload for c in trtpace.load(out).conditions] == ["host:us=10", "host:us=10"]
    assert "host:us=10" in (out / "report.html").read_text() and "host:us=7" not in (out / "report.html").read_text()
    assert not (out / LOCK_NAME).exists()  # given up once the report was written
