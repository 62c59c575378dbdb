"""One writer per results folder: a run holds the folder's lock (flock on `.trtpace.lock` inside
it) from taking the folder to its last write; a second `--append`, `--overwrite` or new run into
it is refused in one line, exit 2, before any work, changing nothing; the lock goes with its
writer on every way out (a clean end, an error, Ctrl-C, SIGKILL, a forked child). A stateful
test drives the folder protocol with writers in real forked processes killed at random steps."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from typer.testing import CliRunner

import trtpace
import trtpace.run.session
from trtpace.cli import app
from trtpace.measure import pacing
from trtpace.results import ConditionResult, ResultWriter
from trtpace.results.folder import LOCK_NAME, FolderBusy, FolderLock, is_locked

runner = CliRunner()


def _trtpace(*args: str) -> list[str]:
    return [sys.executable, "-m", "trtpace", *args]


def _one_error_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), text
    return lines[0]


def _wait_locked(folder: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not is_locked(folder):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the first run never took {folder}: {proc.communicate()}")
        time.sleep(0.02)


def _wait_announced(folder: Path, n: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until sweep.json lists `n` conditions (the n-th one running), however loaded the machine."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError):
            if len(json.loads((folder / "sweep.json").read_text())["conditions"]) >= n:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run never announced condition {n}: {proc.communicate()}")
        time.sleep(0.02)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != LOCK_NAME and p.is_file()}


def _small_run(out: Path, us: int = 30) -> None:
    trtpace.sweep(f"host:us={us}", gaps_s=[0.001], iterations=5, warmup=0, out=out)


@pytest.mark.parametrize("second", [["--append"], ["--overwrite"], []])
def test_a_second_writer_is_refused_in_one_line_while_a_run_writes(tmp_path: Path, second: list[str]) -> None:
    out = tmp_path / "r"
    _small_run(out)
    # A run of minutes, stopped with Ctrl-C once the second one was refused.
    first = subprocess.Popen(
        _trtpace(
            "sweep",
            "-w",
            "host:us=40",
            "--gaps",
            "0.005",
            "--iterations",
            "30000",
            "--warmup",
            "0",
            "--out",
            str(out),
            "--append",
            "--no-report",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_locked(out, first)
        _wait_announced(out, 4, first)  # its baseline landed; its gap condition runs for minutes
        before = _snapshot(out)
        other = subprocess.run(
            _trtpace(
                "sweep",
                "-w",
                "host:us=60",
                "--gaps",
                "0.002",
                "--iterations",
                "5",
                "--warmup",
                "0",
                "--out",
                str(out),
                *second,
                "--no-report",
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.returncode == 2, other
        line = _one_error_line(other.stderr)
        assert "being written by another trtpace run" in line if second else "already holds files" in line, line
        assert "results saved" not in other.stderr and other.stdout == ""
        assert first.poll() is None and is_locked(out)  # the refused run left the first one's lock alone
        # Read meanwhile, the condition being measured is running, not lost (nothing is lost yet).
        assert [c.status for c in trtpace.load(out).conditions][2:] == ["done", "running"]
        now = _snapshot(out)  # the first run's files as it wrote them: nothing removed or replaced
        assert all(now[k] == v for k, v in before.items() if k.startswith("condition-")), "a file changed"
    finally:
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=120)
    assert first.returncode == 130, stderr
    assert not is_locked(out) and not (out / LOCK_NAME).exists()
    loaded = trtpace.load(out)
    # The folder holds the first run and the appended one, each labelled as it was measured.
    assert [(c.workload, c.pacing.gap_s, c.run) for c in loaded.conditions] == [
        ("host:us=30", 0.0, 0),
        ("host:us=30", 0.001, 0),
        ("host:us=40", 0.0, 1),
        ("host:us=40", 0.005, 1),
    ]
    assert [c.status for c in loaded.conditions] == ["done", "done", "done", "partial"]
    assert [c.count for c in loaded.conditions][:3] == [5, 5, 30000]


def test_compare_append_is_refused_while_another_compare_writes(tmp_path: Path) -> None:
    out = tmp_path / "c"
    trtpace.compare("host:us=20", 0.005, ["sleep"], rounds=1, iterations=5, warmup=0, out=out)
    first = subprocess.Popen(
        _trtpace(
            "compare",
            "-w",
            "host:us=20",
            "--gap",
            "0.005",
            "--policies",
            "sleep",
            "--rounds",
            "2",
            "--iterations",
            "20000",
            "--warmup",
            "0",
            "--out",
            str(out),
            "--append",
            "--no-report",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_locked(out, first)
        other = subprocess.run(
            _trtpace(
                "compare",
                "-w",
                "host:us=20",
                "--gap",
                "0.005",
                "--policies",
                "sleep",
                "--rounds",
                "1",
                "--iterations",
                "5",
                "--out",
                str(out),
                "--append",
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.returncode == 2 and "being written by another trtpace run" in _one_error_line(other.stderr)
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130
    loaded = trtpace.load(out)
    assert [(c.policy, c.run) for c in loaded.conditions][:2] == [("continuous", 0), ("sleep", 0)]
    assert all(c.run == 1 and c.workload == "host:us=20" for c in loaded.conditions[2:])
    assert not is_locked(out)


def test_a_killed_writer_leaves_the_folder_unlocked(tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = subprocess.Popen(
        _trtpace(
            "sweep",
            "-w",
            "host:us=40",
            "--gaps",
            "0,0.001",
            "--iterations",
            "1500",
            "--warmup",
            "0",
            "--out",
            str(out),
            "--no-report",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_locked(out, proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the baseline landed, the gap condition is running
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads((out / "sweep.json").read_text())
            if len(doc["conditions"]) == 2:
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert not is_locked(out)  # the kernel dropped the flock with the process
    loaded = trtpace.load(out)
    assert [c.status for c in loaded.conditions] == ["done", "lost"]
    r = subprocess.run(
        _trtpace(
            "sweep",
            "-w",
            "host:us=40",
            "--gaps",
            "0.001",
            "--iterations",
            "5",
            "--warmup",
            "0",
            "--out",
            str(out),
            "--append",
            "--no-report",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr  # the stale lock file is taken over
    assert [c.status for c in trtpace.load(out).conditions] == ["done", "lost", "done", "done"]
    assert not (out / LOCK_NAME).exists()


def test_the_lock_goes_on_every_way_out_of_a_python_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r"
    _small_run(out)
    assert not is_locked(out) and not (out / LOCK_NAME).exists()

    def broken(spec: object, gpu: int) -> None:
        raise trtpace.NoGpuError("the workload could not be built")

    monkeypatch.setattr("trtpace.run.sweep.workloads.build", broken)
    with pytest.raises(trtpace.NoGpuError):
        trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, out=out, out_mode="append")
    monkeypatch.undo()
    assert not is_locked(out) and not (out / LOCK_NAME).exists()

    calls = {"n": 0}
    real = trtpace.run.session.run_paced

    def fails_second(*args: Any, **kwargs: Any) -> Any:  # the baseline lands, then the run fails
        calls["n"] += 1
        if calls["n"] == 2:
            raise trtpace.WaitTimeoutError("the inference never completed")
        return real(*args, **kwargs)

    monkeypatch.setattr("trtpace.run.session.run_paced", fails_second)
    with pytest.raises(trtpace.WaitTimeoutError):
        trtpace.sweep("host:us=5", gaps_s=[0.001], iterations=5, out=out, out_mode="append")
    monkeypatch.undo()
    assert not is_locked(out) and not (out / LOCK_NAME).exists()
    assert [c.status for c in trtpace.load(out).conditions] == ["done", "done", "done", "lost"]
    # Refused appends leave it unlocked too.
    with pytest.raises(trtpace.UsageError, match="holds a sweep run"):
        trtpace.compare("host:us=5", 0.001, ["sleep"], rounds=1, iterations=3, out=out, out_mode="append")
    assert not is_locked(out) and not (out / LOCK_NAME).exists()


def test_one_process_holds_one_writer_per_folder(tmp_path: Path) -> None:
    out = tmp_path / "r"
    with ResultWriter(out, {}, {"command": "sweep"}) as writer:
        assert writer.locked and is_locked(out)
        before = _snapshot(out)
        for mode in ("append", "overwrite", "new", "unique"):
            if mode == "unique":
                other = ResultWriter(out, {}, {"command": "sweep"}, mode)  # takes r-2 instead
                assert other.directory.name == "r-2"
                other.close()
                continue
            with pytest.raises(trtpace.UsageError, match="being written|already holds files") as e:
                ResultWriter(out, {}, {"command": "sweep"}, mode)
            assert "\n" not in str(e.value)
            if mode != "new":
                assert isinstance(e.value, FolderBusy)
        assert _snapshot(out) == before
    assert not writer.locked and not is_locked(out)
    with pytest.raises(trtpace.UsageError, match="gave .* up"):
        writer.add(_condition(0, 0))


def test_a_forked_child_neither_keeps_nor_releases_its_parents_lock(tmp_path: Path) -> None:
    out = tmp_path / "r"
    writer = ResultWriter(out, {}, {"command": "sweep"})
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its copy of the lock is closed at the fork
        try:
            os.close(read)
            try:
                ResultWriter(out, {}, {"command": "sweep"}, "append")
                code = 10  # it must not get in: the parent holds the folder
            except FolderBusy:
                code = 0
            os.write(write, b"x")
            time.sleep(3)  # outlives the parent's hold
        finally:
            os._exit(locals().get("code", 11))
    os.close(write)
    assert os.read(read, 1) == b"x"
    assert is_locked(out)  # the child's exit paths did not release it
    writer.close()
    assert not is_locked(out)  # with the parent gone from it, the live child does not keep it
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(read)


def test_a_planted_lock_link_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "r"
    _small_run(out)
    target = tmp_path / "elsewhere"
    (out / LOCK_NAME).symlink_to(target)
    r = runner.invoke(
        app, ["sweep", "-w", "host:us=5", "--gaps", "0.001", "--iterations", "3", "--out", str(out), "--append"]
    )
    assert r.exit_code == 2 and "is a symbolic link, not a trtpace lock" in _one_error_line(r.output)
    assert not target.exists()
    (out / LOCK_NAME).unlink()
    os.mkfifo(out / LOCK_NAME)  # opened without blocking, and refused
    with pytest.raises(trtpace.UsageError, match="not a plain file"):
        FolderLock.acquire(out)


# -- the results-folder protocol, stateful -----------------------------------------------------


def _condition(run: int, k: int, n: int = 4) -> ConditionResult:
    """A condition whose records say which run and which of its conditions it is."""
    ident = run * 1000 + k
    records = {c: np.full(n, ident, dtype=np.int64) for c in ("due_ns", "issue_ns", "submitted_ns", "done_ns")}
    records["done_ns"] = records["done_ns"] + 5
    records["device_us"] = np.ones(n)
    return ConditionResult(f"w{run}", pacing.gap(0.0 if k == 0 else 0.001 * k), "spin", "spin", 0, n, records)


def _identity(c: ConditionResult) -> tuple[int, int]:
    ident = int(c.records["due_ns"][0])
    assert (c.records["due_ns"] == ident).all()
    return divmod(ident, 1000)


def _child_writes(
    folder: Path, run: int, mode: str, n: int, crash: int | None, pause: bool, report: int, resume: int
) -> None:
    """In a forked child: one writer's steps, SIGKILLed at its `crash`-th file operation (an unlink
    or fsync: before it; a rename: just after it). Tells the parent "ready" once the folder is taken and "landed K" as each
    condition file is renamed into place."""
    ops = {"n": 0}
    current = {"k": -1}
    real = {name: getattr(os, name) for name in ("replace", "unlink", "fsync", "rename")}

    def say(text: str) -> None:
        os.write(report, (text + "\n").encode())

    def hooked(name: str) -> Any:
        def op(*args: Any, **kwargs: Any) -> Any:
            ops["n"] += 1
            due = crash is not None and ops["n"] == crash
            after = due and name in ("replace", "rename")  # a rename happens, then the crash
            if due and not after:
                os.kill(os.getpid(), signal.SIGKILL)
            out = real[name](*args, **kwargs)
            target = str(args[1]) if name in ("replace", "rename") and len(args) > 1 else ""
            if Path(target).name.startswith("condition-"):
                say(f"landed {current['k']}")
            if after:
                os.kill(os.getpid(), signal.SIGKILL)
            return out

        return op

    signal.alarm(30)  # a child stuck at the fork (a lock another thread held) dies instead of hanging the test
    for name in real:
        setattr(os, name, hooked(name))
    try:
        writer = ResultWriter(folder, {"host": "test"}, {"command": "sweep", "run": run}, mode)
    except trtpace.UsageError:
        os._exit(2)
    say("ready")
    if pause:
        os.read(resume, 1)
    for k in range(n):
        current["k"] = k
        writer.add(_condition(run, k))
    writer.close()
    os._exit(0)


class ResultsFolderProtocol(RuleBasedStateMachine):
    """Writers (new, append, overwrite) in forked processes, some killed part way; a second writer
    while one holds the folder; loads in between. Invariants: the folder is never locked once its
    writer is gone; every condition whose file was completely written before a crash loads as
    done; nothing loads from a run that an --overwrite replaced, or under another run's label."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="trtpace-protocol-"))
        self.folder = self.tmp / "r"
        self.runs = 0
        self.expected: set[tuple[int, int]] = set()  # landed and not overwritten since
        self.dead: set[int] = set()  # runs an --overwrite replaced
        self.holder: tuple[int, int, int, int, str] | None = None  # pid, report fd, resume fd, run, mode

    def teardown(self) -> None:
        if self.holder is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.holder[0], signal.SIGKILL)
            os.waitpid(self.holder[0], 0)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _fork(self, mode: str, n: int, crash: int | None, pause: bool) -> tuple[int, int, int, int]:
        run = self.runs
        self.runs += 1
        report_r, report_w = os.pipe()
        resume_r, resume_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(report_r)
                os.close(resume_w)
                _child_writes(self.folder, run, mode, n, crash, pause, report_w, resume_r)
            finally:
                os._exit(3)
        os.close(report_w)
        os.close(resume_r)
        if mode == "overwrite":
            self.expected = set()  # the user asked to replace them: they may go from here on
        return pid, report_r, resume_w, run

    def _collect(self, pid: int, report_r: int, run: int, mode: str) -> None:
        _, status = os.waitpid(pid, 0)
        words = b""
        while chunk := os.read(report_r, 4096):
            words += chunk
        os.close(report_r)
        lines = words.decode().split()
        code = os.waitstatus_to_exitcode(status)
        assert code in (0, 2, -signal.SIGKILL), f"a writer failed ({code}: 3 an exception, -14 stuck)"
        if code == 2:
            assert not lines
            return
        if "ready" in lines and mode == "overwrite":
            self.dead |= set(range(run))
        self.expected |= {(run, int(k)) for w, k in itertools.pairwise(lines) if w == "landed"}

    @precondition(lambda self: self.holder is None)
    @rule(
        mode=st.sampled_from(["new", "append", "overwrite"]), n=st.integers(1, 3), crash=st.none() | st.integers(1, 16)
    )
    def write(self, mode: str, n: int, crash: int | None) -> None:
        pid, report_r, resume_w, run = self._fork(mode, n, crash, pause=False)
        os.close(resume_w)
        self._collect(pid, report_r, run, mode)

    @precondition(lambda self: self.holder is None)
    @rule(mode=st.sampled_from(["append", "overwrite"]))
    def hold(self, mode: str) -> None:
        """A writer that took the folder and waits (as a run measures its condition)."""
        pid, report_r, resume_w, run = self._fork(mode, 1, None, pause=True)
        first = os.read(report_r, 6)
        if first != b"ready\n":  # refused (exit 2): the folder could not be appended to
            self._collect(pid, report_r, run, mode)
            os.close(resume_w)
            return
        if mode == "overwrite":
            self.dead |= set(range(run))
        self.holder = (pid, report_r, resume_w, run, mode)

    @precondition(lambda self: self.holder is not None)
    @rule(mode=st.sampled_from(["new", "append", "overwrite", "unique"]))
    def second_writer_is_refused(self, mode: str) -> None:
        before = _snapshot(self.folder)
        if mode == "unique":
            w = ResultWriter(self.folder, {}, {"command": "sweep"}, mode)
            assert w.directory != self.folder
            w.close()
            shutil.rmtree(w.directory)
        else:
            with pytest.raises(trtpace.UsageError, match="being written|already holds files"):
                ResultWriter(self.folder, {}, {"command": "sweep"}, mode)
        assert _snapshot(self.folder) == before
        assert is_locked(self.folder)

    @precondition(lambda self: self.holder is not None)
    @rule(kill=st.booleans())
    def end_holder(self, kill: bool) -> None:
        assert self.holder is not None
        pid, report_r, resume_w, run, mode = self.holder
        self.holder = None
        if kill:
            os.kill(pid, signal.SIGKILL)
        else:
            os.write(resume_w, b"x")
        os.close(resume_w)
        self._collect(pid, report_r, run, mode)

    @precondition(lambda self: self.holder is None)
    @invariant()
    def never_locked_without_a_writer(self) -> None:
        assert not is_locked(self.folder)

    @invariant()
    def loads_what_was_written(self) -> None:
        try:
            loaded = trtpace.load(self.folder)
        except trtpace.InputError:
            assert not self.expected, f"{sorted(self.expected)} were written but the folder does not load"
            return
        found: dict[tuple[int, int], str] = {}
        for c in loaded.conditions:
            if c.count:
                run, k = _identity(c)
                assert c.workload == f"w{run}", "a condition loaded under another run's label"
                assert run not in self.dead, "a condition of an overwritten run loaded"
                assert (run, k) not in found, "a condition loaded twice"
                found[(run, k)] = c.status
            else:  # or measuring now, while the held writer is alive
                assert c.status in ("lost", "corrupt") or (c.status == "running" and self.holder is not None)
        missing = {x for x in self.expected if found.get(x) != "done"}
        assert not missing, f"completely written but not loaded as done: {sorted(missing)}"


ResultsFolderProtocol.TestCase.settings = settings(
    max_examples=int(os.environ.get("PROTOCOL_N", "25")),
    stateful_step_count=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_results_folder_protocol = ResultsFolderProtocol.TestCase
