"""Terminal tables (rich) of sweep and compare results, from the one column spec."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.table import Table

from trtpace.report.columns import CONDITION_COLUMNS, POLICY_COLUMNS, Column, columns, condition_label


def _table(title: str, keys: list[str], cols: list[Column]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False)
    for key in keys:
        table.add_column(key, overflow="fold", min_width=8)
    for c in cols:
        table.add_column(c.narrow_header(), justify="right", no_wrap=True)
    return table


def _condition(row: dict[str, Any]) -> tuple[str, str]:
    status = "" if row["status"] == "done" else f" [yellow]({row['status']})[/]"
    return row["workload"], condition_label(row).removeprefix("gap ") + status


def sweep_table(rows: list[dict[str, Any]]) -> Table:
    """Latency per condition: e2e percentiles, device and submit times, and the penalty.

    The JSON output and saved results carry every statistic (p90, mean, CoV too).
    """
    cols = columns(CONDITION_COLUMNS, "table")
    table = _table("trtpace sweep", ["workload", "pacing"], cols)
    for row in rows:
        table.add_row(*_condition(row), *(c.text(row) for c in cols))
    return table


def gpu_table(rows: list[dict[str, Any]]) -> Table | None:
    """What the GPU was doing per condition: launch latency, SM clock (NVML and in-band), power, energy."""
    if not any(math.isfinite(r["summary"]["launch_us"]["p50"]) or math.isfinite(r["summary"]["nvml_sm_mhz"]["p50"])
               for r in rows):
        return None
    cols = columns(CONDITION_COLUMNS, "gpu")
    table = _table("GPU state", ["workload", "pacing"], cols)
    for row in rows:
        table.add_row(*_condition(row), *(c.text(row) for c in cols))
    return table


def attribution_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One line per gap condition: how its p50 e2e grew over the continuous baseline, part by part."""
    return [row["attribution"]["line"] for row in rows if row["attribution"]]


def compare_tables(summaries: list[Any]) -> tuple[Table, Table]:
    """Per policy: latency and its parts, then what it costs (power, energy, CPU)."""
    out = []
    for title, view in (("trtpace compare", "latency"), ("what it costs", "cost")):
        cols = columns(POLICY_COLUMNS, view)
        table = _table(title, [], cols)
        for s in summaries:
            table.add_row(*(c.text(s) for c in cols))
        out.append(table)
    return out[0], out[1]
