"""Terminal tables of sweep results (rich)."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.table import Table



def _ms(us: float) -> str:
    return "-" if not math.isfinite(us) else f"{us / 1e3:.3f}"


def _us(us: float) -> str:
    return "-" if not math.isfinite(us) else f"{us:.1f}"


def _x(v: float) -> str:
    return "-" if not math.isfinite(v) else f"{v:.2f}x"


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False)
    table.add_column("workload", overflow="fold", min_width=8)
    table.add_column("pacing", overflow="fold", min_width=9)
    for name in columns:
        table.add_column(name, justify="right", no_wrap=True)
    return table


def _condition(row: dict[str, Any]) -> tuple[str, str]:
    label = row["pacing"]["label"].removeprefix("gap ")
    if row.get("clocks", "default") != "default":
        label += f", {row['clocks']}"
    status = "" if row["status"] == "done" else f" [yellow]({row['status']})[/]"
    return row["workload"], label + status


def sweep_table(rows: list[dict[str, Any]]) -> Table:
    """Latency per condition: e2e percentiles, device and submit times, and the penalty.

    The JSON output and saved results carry every statistic (p90, mean, CoV too).
    """
    table = _table("trtpace sweep", ("n", "e2e p50\nms", "e2e p99\nms", "e2e max\nms", "device\np50 ms",
                                     "submit\np50 us", "penalty\np50"))
    for row in rows:
        s: dict[str, Any] = row["summary"]
        e2e, dev, sub = s["e2e_us"], s["device_us"], s["submit_us"]
        table.add_row(*_condition(row), str(e2e["n"]), _ms(e2e["p50"]), _ms(e2e["p99"]), _ms(e2e["max"]),
                      _ms(dev["p50"]), _us(sub["p50"]), _x(row["penalty"]))
    return table


def _num(v: float, fmt: str) -> str:
    return "-" if not math.isfinite(v) else format(v, fmt)


def gpu_table(rows: list[dict[str, Any]]) -> Table | None:
    """What the GPU was doing per condition: launch latency, SM clock (NVML and in-band), power, energy."""
    if not any(math.isfinite(r["summary"]["launch_us"]["p50"]) or math.isfinite(r["summary"]["nvml_sm_mhz"]["p50"])
               for r in rows):
        return None
    table = _table("GPU state", ("launch\np50 us", "SM MHz\nNVML", "SM MHz\nin-band", "power\nmean W",
                                 "energy\nJ/inf"))
    for row in rows:
        s: dict[str, Any] = row["summary"]
        tel = s["telemetry"]
        table.add_row(*_condition(row), _num(s["launch_us"]["p50"], ".1f"), _num(s["nvml_sm_mhz"]["p50"], ".0f"),
                      _num(s["inband_mhz"]["p50"], ".0f"), _num(tel["power_mean_w"], ".0f"),
                      _num(tel["energy_per_inference_mj"] / 1e3, ".3f"))
    return table


def attribution_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One line per gap condition: how its p50 e2e grew over the continuous baseline, part by part."""
    return [row["attribution"]["line"] for row in rows if row["attribution"]]


def compare_tables(summaries: list[Any]) -> tuple[Table, Table]:
    """Per policy: latency and its parts, then what it costs (power, energy, CPU)."""
    lat = Table(title="trtpace compare", title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                collapse_padding=True, pad_edge=False)
    lat.add_column("policy", overflow="fold", min_width=10)
    for name in ("n", "e2e p50\nms", "e2e p99\nms", "penalty\np50", "submit\np50 us", "launch\np50 us",
                 "device\np50 ms"):
        lat.add_column(name, justify="right", no_wrap=True)
    cost = Table(title="what it costs", title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
                 collapse_padding=True, pad_edge=False)
    cost.add_column("policy", overflow="fold", min_width=10)
    for name in ("SM MHz\nNVML", "SM MHz\nin-band", "power\nmean W", "energy\nJ/inf", "CPU\n% core"):
        cost.add_column(name, justify="right", no_wrap=True)
    for s in summaries:
        lat.add_row(s.policy, str(s.e2e_us["n"]), _ms(s.e2e_us["p50"]), _ms(s.e2e_us["p99"]), _x(s.penalty),
                    _us(s.submit_us["p50"]), _us(s.launch_us["p50"]), _ms(s.device_us["p50"]))
        cost.add_row(s.policy, _num(s.nvml_sm_mhz["p50"], ".0f"), _num(s.inband_mhz["p50"], ".0f"),
                     _num(s.power_mean_w, ".0f"), _num(s.energy_per_inference_mj / 1e3, ".3f"), _num(s.cpu_pct, ".0f"))
    return lat, cost
