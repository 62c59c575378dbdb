"""The columns of every summary view, written once: the terminal tables, the HTML tables and the
CSV all take their headers, units, values and formats from here.

A column reads one value from a condition's row (`SweepResult.rows()`) or from a policy's
summary (`results.policies.PolicySummary`), in the unit its CSV name carries, and shows it
divided by `scale` with `digits` decimals in the unit of its title.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    csv: str                 # machine name with its unit: e2e_p50_us
    title: str               # what people read: "e2e p50"
    unit: str                # unit shown after scaling: "ms"
    get: Callable[[Any], Any]
    scale: float = 1.0
    digits: int = 3
    views: frozenset[str] = frozenset()

    def value(self, item: Any) -> Any:
        return self.get(item)

    def text(self, item: Any) -> str:
        v = self.get(item)
        if isinstance(v, float):
            if not math.isfinite(v):
                return "-"
            return f"{v / self.scale:.{self.digits}f}" + ("x" if self.unit == "x" else "")
        return str(v)

    def header(self) -> str:
        """One line, for HTML: "e2e p50 (ms)"."""
        return self.title if self.unit in ("", "x") else f"{self.title} ({self.unit})"

    def narrow_header(self) -> str:
        """Two lines, for terminal tables: "e2e\np50 ms"."""
        return self.title.replace(" ", "\n", 1) + ("" if self.unit in ("", "x") else f" {self.unit}")


def _views(*names: str) -> frozenset[str]:
    return frozenset(names)


def _summary(metric: str, stat: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row["summary"][metric][stat]


def _telemetry(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row["summary"]["telemetry"][key]


def condition_label(row: dict[str, Any]) -> str:
    label: str = row["pacing"]["label"]
    if row.get("clocks", "default") != "default":
        label += f", {row['clocks']}"
    return label


# One row per condition (sweep and compare rounds). Views: "table" (terminal latency table),
# "gpu" (terminal GPU-state table), "html", "csv".
CONDITION_COLUMNS: list[Column] = [
    Column("workload", "workload", "", lambda r: r["workload"], views=_views("html", "csv")),
    Column("pacing", "pacing", "", lambda r: r["pacing"]["label"], views=_views("csv")),
    Column("condition", "pacing", "", condition_label, views=_views("html")),
    Column("policy", "policy", "", lambda r: r.get("policy", ""), views=_views("csv")),
    Column("clocks", "clocks", "", lambda r: r.get("clocks", "default"), views=_views("csv")),
    Column("status", "status", "", lambda r: r["status"], views=_views("html", "csv")),
    Column("n", "n", "", _summary("e2e_us", "n"), views=_views("table", "html", "csv")),
    *[Column(f"e2e_{k}_us", f"e2e {k}", "ms", _summary("e2e_us", k), 1e3,
             views=_views("csv", "html", *(("table",) if k in ("p50", "p99", "max") else ())))
      for k in ("p50", "p90", "p99", "max")],
    Column("e2e_mean_us", "e2e mean", "ms", _summary("e2e_us", "mean"), 1e3, views=_views("csv")),
    Column("e2e_cov", "e2e CoV", "", _summary("e2e_us", "cov"), views=_views("csv")),
    Column("device_p50_us", "device p50", "ms", _summary("device_us", "p50"), 1e3, views=_views("table", "html", "csv")),
    Column("submit_p50_us", "submit p50", "us", _summary("submit_us", "p50"), digits=1,
           views=_views("table", "html", "csv")),
    Column("launch_p50_us", "launch p50", "us", _summary("launch_us", "p50"), digits=1, views=_views("gpu", "html", "csv")),
    Column("pacing_error_p99_us", "pacing error p99", "us", _summary("pacing_error_us", "p99"), digits=1,
           views=_views("csv")),
    Column("sm_clock_nvml_p50_mhz", "SM MHz NVML", "", _summary("nvml_sm_mhz", "p50"), digits=0,
           views=_views("gpu", "html", "csv")),
    Column("sm_clock_inband_p50_mhz", "SM MHz in-band", "", _summary("inband_mhz", "p50"), digits=0,
           views=_views("gpu", "html", "csv")),
    Column("power_mean_w", "power mean", "W", _telemetry("power_mean_w"), digits=0, views=_views("gpu", "html", "csv")),
    Column("energy_per_inference_mj", "energy", "J/inf", _telemetry("energy_per_inference_mj"), 1e3,
           views=_views("gpu", "html", "csv")),
    Column("penalty_p50_x", "penalty p50", "x", lambda r: r["penalty"], digits=2, views=_views("table", "html", "csv")),
]

# One row per policy of a compare. Views: "latency" and "cost" (terminal tables), "html".
POLICY_COLUMNS: list[Column] = [
    Column("policy", "policy", "", lambda s: s.policy, views=_views("latency", "cost", "html")),
    Column("n", "n", "", lambda s: s.e2e_us["n"], views=_views("latency", "html")),
    Column("e2e_p50_us", "e2e p50", "ms", lambda s: s.e2e_us["p50"], 1e3, views=_views("latency", "html")),
    Column("e2e_p99_us", "e2e p99", "ms", lambda s: s.e2e_us["p99"], 1e3, views=_views("latency", "html")),
    Column("penalty_p50_x", "penalty p50", "x", lambda s: s.penalty, digits=2, views=_views("latency", "html")),
    Column("submit_p50_us", "submit p50", "us", lambda s: s.submit_us["p50"], digits=1, views=_views("latency", "html")),
    Column("launch_p50_us", "launch p50", "us", lambda s: s.launch_us["p50"], digits=1, views=_views("latency", "html")),
    Column("device_p50_us", "device p50", "ms", lambda s: s.device_us["p50"], 1e3, views=_views("latency", "html")),
    Column("sm_clock_nvml_p50_mhz", "SM MHz NVML", "", lambda s: s.nvml_sm_mhz["p50"], digits=0,
           views=_views("cost")),
    Column("sm_clock_inband_p50_mhz", "SM MHz in-band", "", lambda s: s.inband_mhz["p50"], digits=0,
           views=_views("cost", "html")),
    Column("power_mean_w", "power mean", "W", lambda s: s.power_mean_w, digits=0, views=_views("cost", "html")),
    Column("energy_per_inference_mj", "energy", "J/inf", lambda s: s.energy_per_inference_mj, 1e3,
           views=_views("cost", "html")),
    Column("cpu_pct", "CPU", "% core", lambda s: s.cpu_pct, digits=0, views=_views("cost", "html")),
]


def columns(spec: list[Column], view: str) -> list[Column]:
    return [c for c in spec if view in c.views]
