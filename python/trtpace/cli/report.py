"""`trtpace report`: render saved results, of one folder or of several machines side by side."""

from __future__ import annotations

import contextlib
import datetime
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from trtpace.cli.errors import stderr, warn
from trtpace.cli.options import JsonOutput
from trtpace.cli.output import print_table, show_compare, show_sweep, stdout_console, table_width
from trtpace.errors import UsageError
from trtpace.fileio import dumps
from trtpace.report import fleet as fleet_report
from trtpace.report.html import is_compare, write_csv, write_html, write_pngs
from trtpace.report.trace import write_trace
from trtpace.results import check_writable, damaged_conditions, load
from trtpace.results.fleet import Fleet, check_outside, load_fleet
from trtpace.results.folder import FolderLock, check_output, is_results_folder, same_folder


# Long because typer declares each of the command's options as one parameter, and every output is
# checked against every input before anything is written.
def report(
    results: Annotated[
        list[Path],
        typer.Argument(
            help="A results folder written by trtpace sweep or compare (partial ones too); or several, e.g. the same "
            "sweep run on different machines, merged into one comparison.",
            show_default=False,
            metavar="FOLDER",
        ),
    ],
    html_file: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Write the self-contained HTML report here "
            "(default, when no --csv, --png or --json is "
            "asked for: RESULTS/report.html; for several "
            "folders ./trtpace-fleet-<time>.html).",
        ),
    ] = None,
    png: Annotated[Path | None, typer.Option(help="Also write every plot as a PNG into this folder.")] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Write one row per condition as CSV (units in every header; a machine column for several folders).",
        ),
    ] = None,
    trace_file: Annotated[
        Path | None,
        typer.Option(
            "--trace",
            help="Write every inference as a Chrome trace / "
            "Perfetto JSON timeline (one track per "
            "condition; open it in ui.perfetto.dev).",
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Render saved results: tables, attribution, plots, HTML, CSV or JSON.

    One folder's report.html is written into it unless another output (--csv, --png, --json) is
    asked for; every file is written whole or not at all (never through a link, never over the
    results it reads). Several folders (each one machine's run) are merged into one comparison;
    its HTML, CSV and PNG files go outside every input folder."""
    for flag, path in (("--html", html_file), ("--csv", csv_file)):
        if path is not None and path.is_dir():
            raise UsageError(
                f"{flag} {path} is a folder: give a file name, e.g. {path / ('report' + flag[1:].replace('-', '.'))}"
            )
    if png is not None and png.exists() and not png.is_dir():
        raise UsageError(f"--png {png} is a file: give a folder for the PNG files")
    _check_distinct(html_file, csv_file, png)
    if trace_file is not None and len(results) > 1:
        raise UsageError("--trace takes one results folder")
    if len(results) > 1:
        _report_fleet(results, html_file, png, csv_file, json_output)
        return
    folder = results[0]
    default = html_file is None and csv_file is None and png is None and trace_file is None and not json_output
    target = html_file or (folder / "report.html" if default else None)
    for flag, path in (("--html", target), ("--csv", csv_file), ("--trace", trace_file)):
        if path is not None:
            check_output("" if path is target and default else flag, path, [folder])
    unwritable = ""
    with contextlib.ExitStack() as hold:
        # Writing into the results folder: only while no run writes there, refused before any work.
        inside = [p for p in (target, csv_file, trace_file) if p is not None and same_folder(p.parent, folder)]
        if png is not None and same_folder(png, folder):
            inside.append(png)
        if inside and is_results_folder(folder):
            try:
                hold.enter_context(FolderLock.acquire(folder, what="the report"))
            except UsageError as e:  # FolderBusy included: a run writes there now
                if not (default and inside == [target]):
                    raise
                # Not asked for: a read-only folder, or one a run is writing, still reports.
                target = None
                unwritable = str(e)
        result = load(folder)
        damaged = damaged_conditions(result)
        if damaged:
            warn(
                f"{len(damaged)} of {len(result.conditions)} conditions have no records and are shown empty: "
                + "; ".join(
                    f"#{i} {c.workload} {c.pacing.label} ({c.status}: {c.load_error or '?'})" for i, c in damaged
                )
            )
        if is_compare(result):
            show_compare(result, json_output)  # with the recommendation's deployment lines
        else:
            show_sweep(result, json_output)  # with the verdict, in the terminal and in --json
        if default and target is not None:
            try:
                check_writable(target.parent)
            except UsageError as e:  # a folder whose lock file could still be opened
                target, unwritable = None, str(e)
        if default and target is None:
            warn(f"report.html not written ({unwritable}); --html FILE writes it elsewhere")
        for what, path in (("--html", target), ("--png", png), ("--csv", csv_file), ("--trace", trace_file)):
            if path is not None:
                check_writable(path if what == "--png" else path.parent)
        if target is not None:
            stderr.print(f"report: {write_html(result, target)}")
        if png is not None:
            stderr.print(f"plots: {len(write_pngs(result, png))} PNG files in {png}")
        if csv_file is not None:
            write_csv(result, csv_file)
            stderr.print(f"csv: {csv_file}")
        if trace_file is not None:
            stderr.print(f"trace: {write_trace(result, trace_file)}")


def _same_file(a: Path, b: Path) -> bool:
    """Would writing `a` replace `b`? (The same name in the same folder, through links and `..`.)"""
    if a.name != b.name:
        return False
    return same_folder(a.parent, b.parent) or Path(os.path.realpath(a.parent)) == Path(os.path.realpath(b.parent))


def _check_distinct(html_file: Path | None, csv_file: Path | None, png: Path | None) -> None:
    """No output replaces another: --html and --csv name two files, neither a PNG of --png."""
    if html_file is not None and csv_file is not None and _same_file(html_file, csv_file):
        raise UsageError(f"--html {html_file} and --csv {csv_file} are the same file: name two files")
    for flag, path in (("--html", html_file), ("--csv", csv_file)):
        if (
            png is not None
            and path is not None
            and path.suffix.lower() == ".png"
            and (same_folder(path.parent, png) or Path(os.path.realpath(path.parent)) == Path(os.path.realpath(png)))
        ):
            raise UsageError(
                f"{flag} {path} is in the --png folder, where the plots would replace it: name another file"
            )


def _report_fleet(
    folders: list[Path], html_file: Path | None, png: Path | None, csv_file: Path | None, json_output: bool
) -> None:
    # Checked before anything loads: a fleet's files never land in one machine's folder, where
    # they would read as that machine's results (and be copied along with them).
    default_html = html_file is None
    target = html_file or Path(datetime.datetime.now().strftime("trtpace-fleet-%Y%m%d-%H%M%S.html"))
    for flag, path in (("--html", target), ("--png", png), ("--csv", csv_file)):
        if path is not None:
            check_outside(flag if not (flag == "--html" and default_html) else "the default --html", path, folders)
    for flag, path in (("--html", target), ("--csv", csv_file)):
        if path is not None:
            check_output(flag, path, folders)
    fleet = load_fleet(folders)
    damaged = fleet.damaged()
    if damaged:
        total = sum(len(m.result.conditions) for m in fleet.machines)
        warn(
            f"{len(damaged)} of {total} conditions have no records and are shown empty: "
            + "; ".join(
                f"{m.folder} #{i} {c.workload} {c.pacing.label} ({c.status}: {c.load_error or '?'})"
                for m, i, c in damaged
            )
        )
    if json_output:
        print(dumps(fleet.to_json()))
    else:
        _print_fleet(fleet)
    for flag, path in (("--html", target), ("--png", png), ("--csv", csv_file)):
        if path is not None:
            check_writable(path if flag == "--png" else path.parent)
    written = fleet_report.write_fleet_html(fleet, target)
    stderr.print(f"report: {written}" + (" (in the current folder; --html names another file)" if default_html else ""))
    if png is not None:
        stderr.print(f"plots: {len(fleet_report.write_fleet_pngs(fleet, png))} PNG files in {png}")
    if csv_file is not None:
        fleet_report.write_fleet_csv(fleet, csv_file)
        stderr.print(f"csv: {csv_file}")


def _print_fleet(fleet: Fleet) -> None:
    """Several machines' folders side by side, on stdout as every table is (full width when piped)."""
    console = stdout_console()
    console.print(fleet_report.environment_table(fleet))
    for m in fleet.machines:
        for warning in m.environment.get("warnings", []):
            warn(f"{m.name}: {warning}")
    width = table_width(console)
    if fleet.command == "compare":
        for fitted in fleet_report.policy_tables(fleet, width):
            print_table(console, fitted, width)
        for line in fleet_report.recommendation_lines(fleet):
            console.print(Text.assemble(("recommendation", "bold"), " " + line), soft_wrap=True)
    else:
        for view, title in (("table", "trtpace sweep, per machine"), ("gpu", "GPU state, per machine")):
            table = fleet_report.condition_table(fleet, view, title, width)
            if table is not None:
                print_table(console, table, width)
    some = fleet_report.only_on_some_lines(fleet)
    if some:
        console.print(Text("measured on only some machines", style="bold"))
        for line in some:
            console.print("  " + line, soft_wrap=True)
    lines = fleet_report.attribution_lines(fleet) if fleet.command != "compare" else []
    if lines:
        console.print(
            Text.assemble(
                ("where the extra time goes", "bold"), " (p50 change vs gap 0; parts averaged around the median)"
            )
        )
        for line in lines:
            console.print("  " + line, soft_wrap=True)
