"""What every command shares: one-line errors with the documented exit codes, the progress line,
printing (tables that never cut a number; user text printed literally, never as markup), and the
one run helper that `sweep` and `compare` go through."""

from __future__ import annotations

import datetime
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from trtpace.cli.progress import OverallProgress, Planned
from trtpace.errors import (
    EXIT_FAILURE,
    EXIT_GATE,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    ResultsWriteError,
    TrtpaceError,
    UsageError,
    exit_code,
)
from trtpace.fileio import dumps
from trtpace.platform import device
from trtpace.report.html import write_html
from trtpace.report.terminal import (
    Fitted,
    attribution_lines,
    fit_compare_tables,
    fit_gpu_table,
    fit_sweep_table,
    gap_lines,
    host_cpu_note,
    launch_lines,
)
from trtpace.results import SweepResult, load
from trtpace.results.folder import held_through
from trtpace.results.gate import gate
from trtpace.results.policies import armed_choices, recommend, summarize_policies, switch_lines
from trtpace.run.session import Progress as RunProgress
from trtpace.run.session import SweepInterrupted
from trtpace.run.workers import parse_gpus

# typer vendors click; its exception base is reached through a public class instead of a
# private import, so this works with every typer release.
_ClickException: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
# Messages on stderr: printed as given (a folder named '[/]x' is no markup), never wrapped (a
# long path stays one line, whole), no highlighting; styled parts are said with markup=True.
stderr = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
# Wider than any table: what stdout gets when it is not a terminal (a pipe, a file, a CI log).
UNLIMITED_WIDTH = 100_000
# --quiet: no progress, tables, notes or warnings; errors and the closing line only. Set by the
# command that takes it, reset for every command line (OneLineErrors.invoke).
_quiet = {"on": False}


def set_quiet(on: bool) -> None:
    _quiet["on"] = bool(on)


def is_quiet() -> bool:
    return _quiet["on"]


def fail(message: str, code: int) -> NoReturn:
    """Every user-facing failure: one line on stderr, no traceback."""
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    stderr.print(f"[bold red]error:[/] {escape(first_line)}", markup=True)
    sys.exit(code)


def warn(message: str) -> None:
    if not is_quiet():
        stderr.print(f"[yellow]warning:[/] {escape(message)}", markup=True)


def note(message: str) -> None:
    """Something the user should know that changed nothing they asked for (not under --quiet)."""
    if not is_quiet():
        stderr.print(f"[cyan]note:[/] {escape(message)}", markup=True)


def _is_tty(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def stdout_is_terminal() -> bool:
    return _is_tty(sys.stdout)


def stdout_console() -> Console:
    """Where tables and result lines go, printed as given (no markup, no highlighting), lines
    never wrapped: at the terminal's width; where stdout is not a terminal (a pipe, a file, a CI
    log), wide enough for every column of every table, instead of rich's 80 columns. COLUMNS,
    where set, is the width either way."""
    plain: dict[str, Any] = {"markup": False, "highlight": False, "soft_wrap": True}
    if os.environ.get("COLUMNS", "").strip().isdigit() or stdout_is_terminal():
        return Console(**plain)
    return Console(width=UNLIMITED_WIDTH, **plain)


def table_width(console: Console) -> int | None:
    """The width tables are fitted to: None where there is no limit (not a terminal)."""
    return None if console.width >= UNLIMITED_WIDTH else console.width


def print_table(console: Console, fitted: Fitted, width: int | None) -> None:
    """A fitted table, whole: where the columns that always stay need more than the terminal
    has, it prints wider (the terminal wraps its lines) rather than squeezing a number. Then
    one line naming the columns left out for the width, if any."""
    before = console.width
    if fitted.width > before:
        console.width = fitted.width
    try:
        console.print(fitted.table, soft_wrap=False, crop=False)
    finally:
        console.width = before
    if fitted.dropped:
        console.print(
            Text(f"(left out at {width} columns: {', '.join(fitted.dropped)}; see --json or the report)", style="dim")
        )


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into an interruption so the running condition is saved as partial."""


class OneLineErrors(typer.core.TyperGroup):
    """Bad input, missing GPUs and CUDA failures become one line and the exit code of trtpace.errors."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(
                args, prog_name, complete_var, standalone_mode=False, windows_expand_args=windows_expand_args, **extra
            )
        except _ClickException as e:
            if type(e).__name__ == "NoArgsIsHelpError":
                print(e.format_message())
                sys.exit(0)
            fail(e.format_message(), EXIT_USAGE)
        except TrtpaceError as e:
            fail(str(e), exit_code(e))
        except Terminated:
            fail("terminated", EXIT_TERMINATED)
        except (KeyboardInterrupt, typer.Abort):
            fail("interrupted", EXIT_INTERRUPTED)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        # Caught here, inside click and typer: they turn KeyboardInterrupt (our Terminated included)
        # into a bare exit 130 and EOFError (np.load of an empty file) into an "Aborted!" exit 1.
        set_quiet(False)  # each command line starts loud; --quiet says otherwise
        try:
            return super().invoke(ctx)
        except Terminated:
            fail("terminated", EXIT_TERMINATED)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        except EOFError as e:
            fail(f"unexpected end of input ({e or 'EOF'})", EXIT_FAILURE)


NoReport = Annotated[bool, typer.Option("--no-report", help="Do not write report.html next to the results.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the results as JSON instead of tables.")]
Telemetry = Annotated[
    bool,
    typer.Option(
        help="Sample GPU clocks, P-state, clock-event reasons, power and energy "
        "in the background (NVML, or devfreq on Jetson)."
    ),
]
TelemetryRate = Annotated[
    float | None,
    typer.Option(help="Telemetry samples per second. Default: the fastest rate costing under 5% of one core."),
]


def parse_out(text: str) -> Path:
    if not text.strip():
        raise typer.BadParameter("--out needs a folder name ('' would write into the current folder)")
    return Path(text)


Out = Annotated[
    Path | None,
    typer.Option(
        parser=parse_out,
        metavar="DIR",
        help="Folder for the results (written as each condition finishes); it "
        "must be new or empty. Default: trtpace-results/<command>-<time>.",
    ),
]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="Replace an earlier run in --out (its sweep.json, condition files and report.html)."
    ),
]
Append = Annotated[
    bool,
    typer.Option(
        "--append",
        help="Add this run's conditions to the run already in --out (same "
        "command; its environment and settings stay first).",
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Print no progress, tables, notes or warnings: only errors "
        "and the closing 'results saved in DIR' line (results "
        "and report.html are still written; --json still "
        "prints the JSON).",
    ),
]


def out_mode(out: Path | None, overwrite: bool, append: bool) -> str:
    """How run_measurement takes the results folder: checked before anything runs."""
    if overwrite and append:
        raise UsageError("--overwrite and --append exclude each other")
    if (overwrite or append) and out is None:
        raise UsageError(f"{'--overwrite' if overwrite else '--append'} goes with --out DIR")
    return "overwrite" if overwrite else "append" if append else "new" if out is not None else "unique"


def check_gpu_index(gpu: int) -> int:
    if gpu < 0:
        raise UsageError(f"--gpu must be >= 0, got {gpu}")
    return gpu


def gpu_list(text: str, *, needs_gpu: bool, allow_shared: bool, rounds: int = 1) -> list[int]:
    """--gpu as the GPUs to run on, checked before anything runs: the syntax, negatives and
    duplicates first (exit 2), then, for GPU work, the driver and each index against the GPUs CUDA
    sees. Host work takes any indices: they only name the worker processes."""
    if isinstance(rounds, bool) or rounds < 1:
        raise UsageError(f"--gpu-rounds must be >= 1, got {rounds}")
    if text.strip().lower() == "all":
        if needs_gpu:
            device.require_gpu(0)  # no driver or no GPU: said as such
        return parse_gpus(text, gpu_count=device.gpu_count(), allow_shared=allow_shared)
    gpus = parse_gpus(text, gpu_count=None, allow_shared=allow_shared)
    if needs_gpu and len(gpus) > 1:
        for i in gpus:
            device.require_gpu(i)
    return gpus


def default_out(command: str) -> Path:
    return Path("trtpace-results") / datetime.datetime.now().strftime(f"{command}-%Y%m%d-%H%M%S")


def _group_title(label: str, mode: str) -> str:
    return f"{label}, {mode}" if mode else label


def _bold(head: str, rest: str = "") -> Text:
    return Text.assemble((head, "bold"), rest)


def print_sweep(result: SweepResult, as_json: bool) -> None:
    if as_json:
        print(dumps(result.to_json()))
        return
    for warning in result.environment.get("warnings", []):
        warn(warning)
    console = stdout_console()
    width = table_width(console)
    for line in gap_lines(result):
        console.print(line)
    groups = result.gpu_groups()
    for label, mode in groups:  # a multi-GPU run: one set of tables per GPU and mode
        part = result.subset(label, mode) if label else result
        rows = part.rows()
        suffix = f": {_group_title(label, mode)}" if label else ""
        print_table(console, fit_sweep_table(rows, width, title=Text("trtpace sweep" + suffix)), width)
        gpu = fit_gpu_table(rows, width, title=Text("GPU state" + suffix))
        if gpu is not None:
            print_table(console, gpu, width)
        for line in launch_lines(part):
            console.print(line)
        lines = attribution_lines(rows)
        if lines:
            console.print(
                _bold(
                    "where the extra time goes",
                    " (p50 change vs gap 0; parts averaged around the median)"
                    + (f" on {_group_title(label, mode)}" if label else ""),
                )
            )
            for line in lines:
                console.print("  " + line)
    print_together(result, console)
    host_note = host_cpu_note(result)
    if host_note:
        console.print(host_note)


def print_together(result: SweepResult, console: Console) -> None:
    together = result.together_vs_alone()
    if together:
        console.print(_bold("running together vs alone", " (e2e p50, rounds pooled)"))
        for g in together:
            console.print("  " + g["line"])


def print_compare(result: SweepResult, as_json: bool) -> None:
    groups = result.gpu_groups()
    parts = [(label, mode, result.subset(label, mode) if label else result) for label, mode in groups]
    if as_json:
        out = []
        for label, mode, part in parts:
            summaries = summarize_policies(part)
            out.append(
                {
                    "gpu": label,
                    "gpu_mode": mode,
                    "policies": [s.to_json() for s in summaries],
                    "recommendation": recommend(summaries),
                    "armed_choice": armed_choices(part),
                    "switching": switch_lines(summaries, result.settings.get("plain_policy")),
                }
            )
        doc = {
            "environment": result.environment,
            "settings": result.settings,
            **{k: v for k, v in out[0].items() if not k.startswith("gpu")},
        }
        if len(out) > 1 or groups[0][0]:
            doc = {
                "environment": result.environment,
                "settings": result.settings,
                "gpus": out,
                "together_vs_alone": result.together_vs_alone(),
            }
        print(dumps(doc))
        return
    console = stdout_console()
    width = table_width(console)
    for line in gap_lines(result):
        console.print(line)
    for label, mode, part in parts:
        summaries = summarize_policies(part)
        rec = recommend(summaries)
        suffix = f": {_group_title(label, mode)}" if label else ""
        for fitted in fit_compare_tables(summaries, width, suffix):
            print_table(console, fitted, width)
        for line in armed_choices(part):
            console.print(line)
        if rec:
            console.print(_bold("recommendation", f": {rec['line']}"))
        for line in switch_lines(summaries, result.settings.get("plain_policy")):
            console.print(line)
    print_together(result, console)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (timeout, systemd, docker stop, a closed terminal) end a run the way
    Ctrl-C does: the condition in flight finishes and is saved as partial."""

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def shows_progress(json_output: bool) -> bool:
    """The progress line is drawn only for people watching: stdout and stderr terminals, no
    --json, no --quiet."""
    return not (json_output or is_quiet()) and stdout_is_terminal() and _is_tty(sys.stderr)


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


def apply_gate(result: SweepResult, max_p50: float | None, max_p99: float | None) -> None:
    """One stderr line per condition over a limit, then exit code 3; one line when all pass."""
    failures = gate(result, max_p50, max_p99)
    limits = ", ".join(f"{s} <= {v:g}x" for s, v in (("p50", max_p50), ("p99", max_p99)) if v is not None)
    if not failures:
        if not is_quiet():
            stderr.print(f"latency gate passed ({limits})")
        return
    for f in failures:
        stderr.print(f"[bold red]gate failed:[/] {escape(f.line())}", markup=True)
    raise typer.Exit(EXIT_GATE)
