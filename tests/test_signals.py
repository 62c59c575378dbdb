"""SIGTERM, SIGHUP and Ctrl-C end a run the same way: the running condition is saved as partial,
the finished ones stay, and the exit code says which signal it was (143 or 130)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import trtpace
from running_sweep import start_sweep
from trtpace.cli import app
from trtpace.cli.errors import Terminated


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGHUP, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
def test_signal_saves_the_running_condition_as_partial(tmp_path: Path, sig: int, code: int, word: str) -> None:
    out = tmp_path / "r"
    # until the second (100 s long) condition is running
    proc = start_sweep(
        ["-w", "host:us=200", "--gaps", "0,0.05", "--iterations", "2000", "--warmup", "0"],
        out,
        lambda n: n == 2,
        "the second condition never started",
    )
    proc.send_signal(sig)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the sweep did not stop on {signal.Signals(sig).name}")
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and f"{word}: the finished conditions and the partial one are saved" in stderr
    loaded = trtpace.load(out)
    assert [c.status for c in loaded.conditions] == ["done", "partial"]
    assert loaded.conditions[0].count == 2000 and 0 < loaded.conditions[1].count < 2000
    assert (out / "report.html").exists() and "partial" in stdout


def test_sigterm_outside_the_paced_loop_is_143(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # click turns any KeyboardInterrupt into Abort; a Terminated one must still exit 143, not 130.
    def terminated(path: object) -> None:
        raise Terminated("SIGTERM")

    monkeypatch.setattr("trtpace.cli.report.load", terminated)
    r = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 143 and "error: terminated" in r.output


def test_a_signal_while_a_condition_is_recorded_waits_for_the_record() -> None:
    import os
    import threading

    from trtpace import signals

    done = []

    def record() -> None:
        with signals.stop_signals_held():
            os.kill(os.getpid(), signal.SIGINT)  # Python runs handlers between bytecodes: it would raise here
            done.append("recorded")

    with pytest.raises(KeyboardInterrupt):
        record()
    assert done == ["recorded"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is back
    errors: list[BaseException] = []

    def in_a_thread() -> None:  # an app calling trtpace from a thread: nothing to defer, no error
        try:
            with signals.stop_signals_held():
                done.append("thread")
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=in_a_thread)
    t.start()
    t.join()
    assert errors == [] and done == ["recorded", "thread"]


def test_handling_passes_the_signal_on_and_restores_the_handler_it_replaced() -> None:
    import os

    from trtpace import signals

    seen: list[str] = []

    def outer(signum: int, frame: object) -> None:
        seen.append("outer")

    before = signal.signal(signal.SIGUSR1, outer)
    try:

        def inner(signum: int, frame: object, previous: object) -> None:
            seen.append("inner")
            signals.pass_on(signum, frame, previous)

        with signals.handling([signal.SIGUSR1], inner):
            os.kill(os.getpid(), signal.SIGUSR1)
        assert seen == ["inner", "outer"]  # handled, then passed on to the handler it replaced
        assert signal.getsignal(signal.SIGUSR1) is outer  # which is back
        signals.ignore_signals([signal.SIGUSR1])
        os.kill(os.getpid(), signal.SIGUSR1)
        assert seen == ["inner", "outer"]
    finally:
        signal.signal(signal.SIGUSR1, before)
