"""Terminal tables (rich) of sweep and compare results, from the one column spec."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.table import Table

from trtpace.report.columns import (
    CONDITION_COLUMNS,
    FOOTNOTE,
    POLICY_COLUMNS,
    UNRELIABLE_MARK,
    Column,
    columns,
    condition_label,
    gap_work_varies,
)
from trtpace.results import SweepResult


def _table(title: str, keys: list[str], cols: list[Column]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False)
    for key in keys:
        table.add_column(key, overflow="fold", min_width=8)
    for c in cols:
        table.add_column(c.narrow_header(), justify="right", no_wrap=True)
    return table


def _condition(row: dict[str, Any], gap_work: bool = False) -> tuple[str, str]:
    status = "" if row["status"] == "done" else f" [yellow]({row['status']})[/]"
    return row["workload"], condition_label(row, gap_work).removeprefix("gap ") + status


def gap_lines(result: SweepResult) -> list[str]:
    """What the app did in the gap (--gap-work), said once above the tables: "gap: decoded and
    preprocessed a 1280x720 JPEG before each inference (jpeg:1280x720); ..."; nothing where every
    gap was idle. Where appended runs differ, each gap work with its spec (the rows carry it)."""
    works = result.gap_works()
    if not any(w["spec"] != "none" for w in works):
        return []
    baseline = ("the continuous rounds run" if result.settings.get("command") == "compare"
                else "the gap-0 baseline runs")
    if len(works) == 1:
        said = f"{works[0]['description']} ({works[0]['spec']})"
    else:
        said = "differs by condition: " + "; ".join(f"{w['spec']}: {w['description']}" for w in works)
    return [f"gap: {said}; {baseline} back to back without it"]


def sweep_table(rows: list[dict[str, Any]]) -> Table:
    """Latency per condition: e2e percentiles, device and submit times, and the penalty.

    The JSON output and saved results carry every statistic (p90, mean, CoV too).
    """
    cols = columns(CONDITION_COLUMNS, "table")
    table = _table("trtpace sweep", ["workload", "pacing"], cols)
    marked = False
    mixed = gap_work_varies(rows)  # appended runs with different gap work: each row says its own
    for row in rows:
        cells = [c.text(row) for c in cols]
        marked = marked or any(x.endswith(UNRELIABLE_MARK) for x in cells)
        table.add_row(*_condition(row, mixed), *cells)
    if marked:
        table.caption, table.caption_justify = FOOTNOTE, "left"
    return table


def gpu_table(rows: list[dict[str, Any]]) -> Table | None:
    """What the GPU was doing per condition: launch latency, SM clock (NVML and in-band), power, energy."""
    if not any(math.isfinite(r["summary"]["launch_us"]["p50"]) or math.isfinite(r["summary"]["nvml_sm_mhz"]["p50"])
               for r in rows):
        return None
    cols = columns(CONDITION_COLUMNS, "gpu")
    table = _table("GPU state", ["workload", "pacing"], cols)
    mixed = gap_work_varies(rows)
    for row in rows:
        table.add_row(*_condition(row, mixed), *(c.text(row) for c in cols))
    return table


def attribution_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One line per gap condition: how its p50 e2e grew over the continuous baseline, part by part."""
    return [row["attribution"]["line"] for row in rows if row["attribution"]]


def launch_lines(result: SweepResult) -> list[str]:
    """What an app on a Python launch path would gain by switching path, per workload and gap."""
    return [s["line"] for s in result.launch_switches()]


def host_cpu_note(result: SweepResult) -> str | None:
    """Said once where the machine hides the CPU's frequency and idle states (instead of zeros)."""
    host = result.environment.get("host_cpu") or {}
    return host.get("note") if any(r.launch in ("eager", "python", "replay") for r in result.conditions) else None


def compare_tables(summaries: list[Any]) -> tuple[Table, Table]:
    """Per policy: latency and its parts, then what it costs (power, energy, CPU)."""
    out = []
    for title, view in (("trtpace compare", "latency"), ("what it costs", "cost")):
        cols = columns(POLICY_COLUMNS, view)
        table = _table(title, [], cols)
        marked = False
        for s in summaries:
            cells = [c.text(s) for c in cols]
            marked = marked or any(x.endswith(UNRELIABLE_MARK) for x in cells)
            table.add_row(*cells)
        if marked:
            table.caption, table.caption_justify = FOOTNOTE, "left"
        out.append(table)
    return out[0], out[1]
