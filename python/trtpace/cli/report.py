"""`trtpace report`: render saved results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trtpace.cli.common import JsonOutput, print_compare, print_sweep, stderr, warn
from trtpace.errors import UsageError
from trtpace.fileio import dumps
from trtpace.report.html import is_compare, write_csv, write_html, write_pngs
from trtpace.results import check_writable, damaged_conditions, load


def report(
    results: Annotated[Path, typer.Argument(help="A results folder written by trtpace sweep or compare (partial "
                                                 "ones too).")],
    html_file: Annotated[Path | None, typer.Option("--html", help="Write the self-contained HTML report here "
                                                                     "(default: RESULTS/report.html).")] = None,
    png: Annotated[Path | None, typer.Option(help="Also write every plot as a PNG into this folder.")] = None,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Write one row per condition as CSV (units in "
                                                                   "every header).")] = None,
    json_output: JsonOutput = False,
) -> None:
    """Render saved results: tables, attribution, plots, HTML, CSV or JSON."""
    for flag, path in (("--html", html_file), ("--csv", csv_file)):
        if path is not None and path.is_dir():
            raise UsageError(f"{flag} {path} is a folder: give a file name, e.g. {path / ('report' + flag[1:].replace('-', '.'))}")
    if png is not None and png.exists() and not png.is_dir():
        raise UsageError(f"--png {png} is a file: give a folder for the PNG files")
    result = load(results)
    damaged = damaged_conditions(result)
    if damaged:
        warn(f"{len(damaged)} of {len(result.conditions)} conditions have no records and are shown empty: "
             + "; ".join(f"#{i} {c.workload} {c.pacing.label} ({c.status}: {c.info.get('load_error', '?')})"
                         for i, c in damaged))
    if is_compare(result):
        print_compare(result, json_output)
    elif json_output:
        print(dumps(result.to_json()))
    else:
        print_sweep(result, False)
    target = html_file or results / "report.html"
    for what, path in (("--html", target), ("--png", png), ("--csv", csv_file)):
        if path is not None:
            check_writable(path if what == "--png" else path.parent)
    stderr.print(f"report: {write_html(result, target)}")
    if png is not None:
        stderr.print(f"plots: {len(write_pngs(result, png))} PNG files in {png}")
    if csv_file is not None:
        write_csv(result, csv_file)
        stderr.print(f"csv: {csv_file}")


