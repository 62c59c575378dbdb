"""Printing results on stdout: tables that never cut a number, fitted to the terminal (user text
printed literally, never as markup), and the sweep and compare results as tables or JSON: each
rendered from its one computed view (trtpace.report.view), as the HTML report is."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.text import Text

from trtpace.cli.errors import warn
from trtpace.fileio import dumps
from trtpace.report.terminal import (
    Fitted,
    deploy_lines,
    fit_compare_tables,
    fit_gpu_table,
    fit_sweep_table,
    verdict_lines,
)
from trtpace.report.view import CompareView, SweepView, compare_view, sweep_view
from trtpace.results import SweepResult

# Wider than any table: what stdout gets when it is not a terminal (a pipe, a file, a CI log).
UNLIMITED_WIDTH = 100_000


def is_tty(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def stdout_is_terminal() -> bool:
    return is_tty(sys.stdout)


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


def _bold(head: str, rest: str = "") -> Text:
    return Text.assemble((head, "bold"), rest)


def show_sweep(result: SweepResult, as_json: bool) -> None:
    """The sweep's tables and attribution, then its verdict: what to do, in words, last (the
    lines a reader sees first), or as "verdict" in --json."""
    view = sweep_view(result)
    if as_json:
        print(dumps({**result.to_json(), "verdict": view.verdict_json()}))
        return
    print_sweep(view)
    console = stdout_console()
    lines = verdict_lines(view, table_width(console))
    if lines:
        console.print(Text.assemble(("verdict", "bold"), " (what to do)"))
        for line in lines:
            console.print(line)


def print_sweep(view: SweepView) -> None:
    """A sweep's tables, per GPU group, and the lines under them."""
    for warning in view.warnings:
        warn(warning)
    console = stdout_console()
    width = table_width(console)
    for line in view.gap_lines:
        console.print(line)
    for group in view.groups:  # a multi-GPU run: one set of tables per GPU and mode
        rows = list(group.rows)
        suffix = f": {group.title}" if group.label else ""
        print_table(console, fit_sweep_table(rows, width, title=Text("trtpace sweep" + suffix)), width)
        gpu = fit_gpu_table(rows, width, title=Text("GPU state" + suffix))
        if gpu is not None:
            print_table(console, gpu, width)
        for line in group.launch_lines:
            console.print(line)
        if group.attribution_lines:
            console.print(
                _bold(
                    "where the extra time goes",
                    " (p50 change vs gap 0; parts averaged around the median)"
                    + (f" on {group.title}" if group.label else ""),
                )
            )
            for line in group.attribution_lines:
                console.print("  " + line)
    print_together(view.together, console)
    if view.host_note:
        console.print(view.host_note)


def print_together(together: Sequence[dict[str, Any]], console: Console) -> None:
    if together:
        console.print(_bold("running together vs alone", " (e2e p50, rounds pooled)"))
        for g in together:
            console.print("  " + g["line"])


def show_compare(result: SweepResult, as_json: bool) -> None:
    """The compare's tables and recommendation (ranked with the intervals; --json carries its
    deployment lines), then how to run the recommended policy in an app: Python and C++."""
    view = compare_view(result)
    print_compare(view, as_json)
    if as_json:
        return
    console = stdout_console()
    width = table_width(console)
    for group in view.groups:
        rec = group.recommendation
        lines = deploy_lines(rec, width)
        if rec and lines:
            where = f" on {group.title}" if group.label else ""
            console.print(Text.assemble(("deploy it", "bold"), f": {rec['recommended_label']} in your app{where}"))
            for line in lines:
                console.print(line)


def print_compare(source: SweepResult | CompareView, as_json: bool) -> None:
    """A compare's tables per GPU group, with its armed choice, recommendation and switching
    lines; or its --json document."""
    view = compare_view(source) if isinstance(source, SweepResult) else source
    if as_json:
        print(dumps(view.to_json()))
        return
    console = stdout_console()
    width = table_width(console)
    for line in view.gap_lines:
        console.print(line)
    for group in view.groups:
        suffix = f": {group.title}" if group.label else ""
        for fitted in fit_compare_tables(list(group.policies), width, suffix):
            print_table(console, fitted, width)
        for line in group.armed_choice:
            console.print(line)
        if group.recommendation:
            console.print(_bold("recommendation", f": {group.recommendation['line']}"))
        for line in group.switching:
            console.print(line)
    print_together(view.together, console)
