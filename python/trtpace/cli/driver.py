"""The one run helper that `sweep` and `compare` go through: the results folder, the progress
line, SIGTERM and Ctrl-C (partial results saved), report.html, the closing line; and the latency
gate."""

from __future__ import annotations

import contextlib
import datetime
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from trtpace.cli.errors import Terminated, is_quiet, note, stderr
from trtpace.cli.options import out_mode
from trtpace.cli.output import is_tty, stdout_is_terminal
from trtpace.cli.progress import OverallProgress, Planned
from trtpace.errors import EXIT_GATE, EXIT_INTERRUPTED, EXIT_TERMINATED, ResultsWriteError
from trtpace.report.html import write_html
from trtpace.results import SweepResult, load
from trtpace.results.folder import held_through
from trtpace.results.gate import gate
from trtpace.run.session import Progress as RunProgress
from trtpace.run.session import SweepInterrupted
from trtpace.signals import handling


def default_out(command: str) -> Path:
    return Path("trtpace-results") / datetime.datetime.now().strftime(f"{command}-%Y%m%d-%H%M%S")


def _terminate_as_interrupt() -> contextlib.AbstractContextManager[None]:
    """SIGTERM and SIGHUP (timeout, systemd, docker stop, a closed terminal) end a run the way
    Ctrl-C does: the condition in flight finishes and is saved as partial."""

    def handler(signum: int, frame: Any, previous: Any) -> None:
        raise Terminated(signal.Signals(signum).name)

    return handling((signal.SIGTERM, signal.SIGHUP), handler)


def shows_progress(json_output: bool) -> bool:
    """The progress line is drawn only for people watching: stdout and stderr terminals, no
    --json, no --quiet."""
    return not (json_output or is_quiet()) and stdout_is_terminal() and is_tty(sys.stderr)


def run_measurement(
    command: str,
    run: Callable[[RunProgress | None, Path, str], SweepResult],
    *,
    out: Path | None,
    json_output: bool,
    no_report: bool,
    show: Callable[[SweepResult, bool], None],
    overwrite: bool = False,
    append: bool = False,
    plan: list[Planned] | None = None,
    plan_scale: float = 1.0,
    notes: Sequence[str] = (),
) -> SweepResult:
    """The one way `sweep` and `compare` run: results folder, the progress line (`plan`: the
    conditions the run will report, for its estimate of the time left), SIGTERM and Ctrl-C
    (partial results printed, reported and saved, then 143 or 130), `notes` (what the command
    changed of what was asked, said once the run's arguments passed every check, above the
    results), report.html, a closing line.
    With --quiet (set_quiet), only the JSON of --json, errors and the closing line are printed.

    The folder is taken only once the run's arguments are checked: a new or empty one (the
    default name gets -2, -3, ... when taken), or with --overwrite / --append an earlier run's.
    Returns the finished run's result."""
    mode = out_mode(out, overwrite, append)
    folder = out if out is not None else default_out(command)
    interrupted: KeyboardInterrupt | None = None
    # The run's folder stays locked until its report is written: no other run (an --overwrite, an
    # --append) takes it between the last condition and report.html, which would then describe,
    # or replace, the other run's results.
    with held_through():
        with _terminate_as_interrupt():
            try:
                if shows_progress(json_output):
                    # its own console: the line is redrawn in place, so it must wrap as rich expects
                    with OverallProgress(Console(stderr=True), plan or [], plan_scale) as progress:
                        result = run(progress, folder, mode)
                else:
                    result = run(None, folder, mode)
            except SweepInterrupted as e:
                result, interrupted = e.result, e
        for line in notes:
            note(line)
        if json_output or not is_quiet():
            show(result, json_output)
        saved = result.path
        if saved is not None and not no_report and result.conditions:
            try:
                whole = load(saved) if mode == "append" else result  # the report covers the whole folder
                written = write_html(whole, saved / "report.html")
            except ResultsWriteError as e:
                # The results are whole: the one line says so, and how to get the report later.
                raise ResultsWriteError(
                    f"{e}; the results are saved in {saved} (trtpace report {saved} --html "
                    "FILE writes the report elsewhere)"
                ) from None
            if not is_quiet():
                stderr.print(f"report: {written}")
    if interrupted is None:
        stderr.print(f"results saved in {saved}")
        return result
    terminated = isinstance(interrupted.__cause__, Terminated)
    how = "terminated" if terminated else "interrupted"  # SIGTERM/SIGHUP or Ctrl-C, as the exit code says
    if saved is None:
        stderr.print(f"{how} before any condition finished: nothing was saved")
    else:
        stderr.print(f"{how}: the finished conditions and the partial one are saved in {saved}")
    raise typer.Exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


def apply_gate(result: SweepResult, max_p50: float | None, max_p99: float | None, mode: str = "estimate") -> None:
    """One stderr line per condition over a limit, then exit code 3; one line when all pass. Mode
    "interval" (results.gate): a condition fails only when its whole 95% interval is over the limit,
    and one over it by its estimate alone gets a note."""
    found = gate(result, max_p50, max_p99, mode=mode)
    limits = ", ".join(f"{s} <= {v:g}x" for s, v in (("p50", max_p50), ("p99", max_p99)) if v is not None)
    for f in found:
        if f.passed and not is_quiet():
            stderr.print(f"gate note: {f.line()}")
    failures = [f for f in found if not f.passed]
    if not failures:
        if not is_quiet():
            stderr.print(f"latency gate passed ({limits}" + (", by the 95% intervals)" if mode == "interval" else ")"))
        return
    for f in failures:
        stderr.print(f"[bold red]gate failed:[/] {escape(f.line())}", markup=True)
    raise typer.Exit(EXIT_GATE)
