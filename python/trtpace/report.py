"""Terminal tables of sweep results (rich)."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.table import Table

from trtpace.results import SweepResult


def _ms(us: float) -> str:
    return "-" if not math.isfinite(us) else f"{us / 1e3:.3f}"


def _us(us: float) -> str:
    return "-" if not math.isfinite(us) else f"{us:.1f}"


def _x(v: float) -> str:
    return "-" if not math.isfinite(v) else f"{v:.2f}x"


def sweep_table(result: SweepResult) -> Table:
    """One row per condition: e2e percentiles, device and submit times, and the penalty.

    The JSON output and saved results carry every statistic (p90, mean, CoV too).
    """
    table = Table(title="trtpace sweep", title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, collapse_padding=True,
                  pad_edge=False)
    table.add_column("workload", overflow="fold", min_width=8)
    table.add_column("pacing", overflow="fold", min_width=9)
    for name in ("n", "e2e p50\nms", "e2e p99\nms", "e2e max\nms", "device\np50 ms", "submit\np50 us", "penalty\np50"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in result.rows():
        s: dict[str, Any] = row["summary"]
        e2e, dev, sub = s["e2e_us"], s["device_us"], s["submit_us"]
        label = row["pacing"]["label"].removeprefix("gap ")
        status = "" if row["status"] == "done" else f" [yellow]({row['status']})[/]"
        table.add_row(
            row["workload"], label + status, str(e2e["n"]),
            _ms(e2e["p50"]), _ms(e2e["p99"]), _ms(e2e["max"]), _ms(dev["p50"]), _us(sub["p50"]), _x(row["penalty"]),
        )
    return table
