"""Printing results on stdout: tables that never cut a number, fitted to the terminal (user text
printed literally, never as markup), and the sweep and compare results as tables or JSON."""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.text import Text

from trtpace.cli.errors import warn
from trtpace.fileio import dumps
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
from trtpace.results import SweepResult
from trtpace.results.policies import armed_choices, recommend, summarize_policies, switch_lines

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
