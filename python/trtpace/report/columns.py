"""The columns of every summary view, written once: the terminal tables, the HTML tables and the
CSV all take their headers, units, values and formats from here.

A column reads one value from a condition's row (`SweepResult.rows()`) or from a policy's
summary (`results.policies.PolicySummary`), in the unit its CSV name carries, and shows it
divided by `scale` with `digits` decimals in the unit of its title. A column with `ci` also
shows its 95% bootstrap interval where there is room (HTML: "0.168 [0.160, 0.171]"; CSV: two
more columns, NAME_ci_low and NAME_ci_high); one with `flag` marks a value that rests on too few
samples with UNRELIABLE_MARK (the p99 of fewer than 1,000 inferences), explained by FOOTNOTE.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

UNRELIABLE_MARK = "*"
FOOTNOTE = "* p99 from fewer than 1,000 inferences: too few samples beyond it to trust; run more iterations."


@dataclass(frozen=True)
class Column:
    csv: str  # machine name with its unit: e2e_p50_us
    title: str  # what people read: "e2e p50"
    unit: str  # unit shown after scaling: "ms"
    get: Callable[[Any], Any]
    scale: float = 1.0
    digits: int = 3
    views: frozenset[str] = frozenset()
    ci: Callable[[Any], tuple[float, float]] | None = None
    flag: Callable[[Any], bool] | None = None  # True: the value rests on too few samples

    def value(self, item: Any) -> Any:
        return self.get(item)

    @property
    def csv_digits(self) -> int:
        """Decimals a CSV value keeps, in the CSV unit: one more than the table shows (e2e p50 in us
        to 0.1 us where the table shows 0.001 ms; a penalty to 0.001x where it shows 0.01x)."""
        return max(0, self.digits - round(math.log10(self.scale))) + 1

    def csv_value(self, item: Any) -> Any:
        """The value as the CSV writes it: numbers rounded to `csv_digits`, "" where there is none."""
        return self.round(self.get(item))

    def round(self, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, (float, int)):
            return v
        if not math.isfinite(v):
            return ""
        return round(float(v), self.csv_digits) if isinstance(v, float) else v

    def _number(self, v: float) -> str:
        return f"{v / self.scale:.{self.digits}f}"

    def text(self, item: Any) -> str:
        v = self.get(item)
        if isinstance(v, float):
            if not math.isfinite(v):
                return "-"
            mark = UNRELIABLE_MARK if self.flag is not None and self.flag(item) else ""
            return self._number(v) + ("x" if self.unit == "x" else "") + mark
        return str(v)

    def text_ci(self, item: Any) -> str:
        """The value and its interval: "0.168 [0.160, 0.171]" (just the value where there is none)."""
        plain = self.text(item)
        if self.ci is None or plain == "-":
            return plain
        lo, hi = self.ci(item)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return plain
        return f"{plain} [{self._number(lo)}, {self._number(hi)}]"

    def ci_values(self, item: Any) -> tuple[float, float]:
        return self.ci(item) if self.ci is not None else (math.nan, math.nan)

    def header(self) -> str:
        """One line, for HTML: "e2e p50 (ms)"."""
        return self.title if self.unit in ("", "x") else f"{self.title} ({self.unit})"

    def narrow_header(self) -> str:
        """Two lines, for terminal tables, split where the wider line is narrowest:
        "e2e\np50 ms", "energy\nJ/inf", "SM MHz\nin-band"."""
        words = self.title.split() + ([] if self.unit in ("", "x") else [self.unit])
        if len(words) < 2:
            return " ".join(words)
        splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
        first, second = min(splits, key=lambda s: (max(len(s[0]), len(s[1])), -len(s[0])))
        return f"{first}\n{second}"


def _views(*names: str) -> frozenset[str]:
    return frozenset(names)


def _summary(metric: str, stat: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row["summary"][metric][stat]


def _summary_ci(metric: str, stat: str) -> Callable[[dict[str, Any]], tuple[float, float]]:
    return lambda row: (
        row["summary"][metric].get(f"{stat}_ci_low", math.nan),
        row["summary"][metric].get(f"{stat}_ci_high", math.nan),
    )


def _p99_unreliable(row: Mapping[str, Any]) -> bool:
    return not row["summary"]["e2e_us"].get("p99_reliable", True)


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def _telemetry(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row["summary"]["telemetry"][key]


def condition_label(row: Mapping[str, Any], gap_work: bool = False) -> str:
    """The pacing, with locked clocks where they were, and with `gap_work` the row's gap work where
    it had some (for results whose rows differ in it: runs appended to one folder)."""
    label: str = row["pacing"]["label"]
    if row.get("clocks", "default") != "default":
        label += f", {row['clocks']}"
    if gap_work and row.get("gap_work", "none") != "none":
        label += f", {row['gap_work']}"
    return label


def _continuous(row: Mapping[str, Any]) -> bool:
    return bool(row["pacing"].get("kind") == "gap" and row["pacing"].get("gap_s") == 0)


def gap_work_varies(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Do the rows with a gap differ in their gap work? (The gap-0 baselines never have any.)"""
    return len({r.get("gap_work", "none") for r in rows if not _continuous(r)}) > 1


def gpu_text(row: Mapping[str, Any]) -> str:
    """The GPU a row ran on: the worker label of a multi-GPU run (gpu0, gpu0#2), else gpuN; "" for host work."""
    g = row.get("info", {}).get("gpu") or {}
    return str(g.get("label") or (f"gpu{g['index']}" if g.get("index") is not None else ""))


# One row per condition (sweep and compare rounds). Views: "table" (terminal latency table),
# "gpu" (terminal GPU-state table), "html", "csv".
CONDITION_COLUMNS: list[Column] = [
    Column("gpu", "GPU", "", gpu_text, views=_views("html", "csv")),
    Column("gpu_mode", "GPUs", "", lambda r: r.get("info", {}).get("gpu_mode", ""), views=_views("html", "csv")),
    Column(
        "gpu_uuid",
        "GPU UUID",
        "",
        lambda r: (r.get("info", {}).get("gpu") or {}).get("uuid") or "",
        views=_views("csv"),
    ),
    Column("workload", "workload", "", lambda r: r["workload"], views=_views("html", "csv")),
    # which run of the folder measured the row (0, then 1, 2, ... per --append): the terminal
    # shows it as a label where a folder holds more than one run
    Column("run", "run", "", lambda r: r.get("run", 0), digits=0, views=_views("csv")),
    Column("pacing", "pacing", "", lambda r: r["pacing"]["label"], views=_views("csv")),
    # the pacing as numbers, for tools that plot or filter the CSV (empty where it does not apply)
    Column("gap_s", "gap", "s", lambda r: _number(r["pacing"].get("gap_s")), digits=6, views=_views("csv")),
    Column("period_s", "period", "s", lambda r: _number(r["pacing"].get("period_s")), digits=6, views=_views("csv")),
    Column("rate_hz", "rate", "Hz", lambda r: _number(r["pacing"].get("rate_hz")), digits=3, views=_views("csv")),
    Column("condition", "pacing", "", condition_label, views=_views("html")),
    Column("launch", "launch", "", lambda r: r.get("launch", ""), views=_views("table", "html", "csv")),
    Column("io", "io", "", lambda r: r.get("io", "none"), views=_views("csv")),
    Column("policy", "policy", "", lambda r: r.get("policy", ""), views=_views("csv")),
    Column("clocks", "clocks", "", lambda r: r.get("clocks", "default"), views=_views("csv")),
    Column("gap_work", "gap work", "", lambda r: r.get("gap_work", "none"), views=_views("html", "csv")),
    Column("status", "status", "", lambda r: r["status"], views=_views("html", "csv")),
    Column("n", "n", "", _summary("e2e_us", "n"), views=_views("table", "html", "csv")),
    *[
        Column(
            f"e2e_{k}_us",
            f"e2e {k}",
            "ms",
            _summary("e2e_us", k),
            1e3,
            views=_views("csv", "html", *(("table",) if k in ("p50", "p99", "max") else ())),
            ci=_summary_ci("e2e_us", k) if k in ("p50", "p99") else None,
            flag=_p99_unreliable if k == "p99" else None,
        )
        for k in ("p50", "p90", "p99", "max")
    ],
    Column("e2e_mean_us", "e2e mean", "ms", _summary("e2e_us", "mean"), 1e3, views=_views("csv")),
    Column("e2e_cov", "e2e CoV", "", _summary("e2e_us", "cov"), views=_views("csv")),
    Column(
        "device_p50_us", "device p50", "ms", _summary("device_us", "p50"), 1e3, views=_views("table", "html", "csv")
    ),
    Column(
        "submit_p50_us",
        "submit p50",
        "us",
        _summary("submit_us", "p50"),
        digits=1,
        views=_views("table", "html", "csv"),
    ),
    Column("write_p50_us", "input write p50", "us", _summary("write_us", "p50"), digits=1, views=_views("csv")),
    Column("gap_work_p50_us", "gap work p50", "ms", _summary("gap_work_us", "p50"), 1e3, views=_views("csv")),
    Column(
        "launch_p50_us", "launch p50", "us", _summary("launch_us", "p50"), digits=1, views=_views("gpu", "html", "csv")
    ),
    Column(
        "pacing_error_p99_us",
        "pacing error p99",
        "us",
        _summary("pacing_error_us", "p99"),
        digits=1,
        views=_views("csv"),
    ),
    Column(
        "sm_clock_nvml_p50_mhz",
        "SM MHz NVML",
        "",
        _summary("nvml_sm_mhz", "p50"),
        digits=0,
        views=_views("gpu", "html", "csv"),
    ),
    Column(
        "sm_clock_inband_p50_mhz",
        "SM MHz in-band",
        "",
        _summary("inband_mhz", "p50"),
        digits=0,
        views=_views("gpu", "html", "csv"),
    ),
    Column("power_mean_w", "power mean", "W", _telemetry("power_mean_w"), digits=0, views=_views("gpu", "html", "csv")),
    Column(
        "energy_per_inference_mj",
        "energy",
        "J/inf",
        _telemetry("energy_per_inference_mj"),
        1e3,
        views=_views("gpu", "html", "csv"),
    ),
    Column(
        "energy_above_idle_mj",
        "energy above idle",
        "J/inf",
        lambda r: r.get("energy_above_idle_mj", math.nan),
        1e3,
        views=_views("gpu", "html", "csv"),
    ),
    Column(
        "penalty_p50_x",
        "penalty p50",
        "x",
        lambda r: r["penalty"],
        digits=2,
        views=_views("table", "html", "csv"),
        ci=lambda r: (r.get("penalty_ci_low", math.nan), r.get("penalty_ci_high", math.nan)),
    ),
    Column(
        "penalty_p99_x",
        "penalty p99",
        "x",
        lambda r: r.get("penalty_p99", math.nan),
        digits=2,
        views=_views("html", "csv"),
        flag=_p99_unreliable,
    ),
    Column(
        "cpu_issue_p50_mhz",
        "CPU MHz at issue",
        "",
        _summary("cpu_mhz_issue", "p50"),
        digits=0,
        views=_views("html", "csv"),
    ),
]

# One row per policy of a compare. Views: "latency" and "cost" (terminal tables), "html".
POLICY_COLUMNS: list[Column] = [
    Column("policy", "policy", "", lambda s: s.label, views=_views("latency", "cost", "html")),
    Column("n", "n", "", lambda s: s.e2e_us["n"], views=_views("latency", "html")),
    Column(
        "e2e_p50_us",
        "e2e p50",
        "ms",
        lambda s: s.e2e_us["p50"],
        1e3,
        views=_views("latency", "html"),
        ci=lambda s: (s.e2e_us.get("p50_ci_low", math.nan), s.e2e_us.get("p50_ci_high", math.nan)),
    ),
    Column(
        "e2e_p99_us",
        "e2e p99",
        "ms",
        lambda s: s.e2e_us["p99"],
        1e3,
        views=_views("latency", "html"),
        ci=lambda s: (s.e2e_us.get("p99_ci_low", math.nan), s.e2e_us.get("p99_ci_high", math.nan)),
        flag=lambda s: not s.e2e_us.get("p99_reliable", True),
    ),
    Column("penalty_p50_x", "penalty p50", "x", lambda s: s.penalty, digits=2, views=_views("latency", "html")),
    Column(
        "submit_p50_us", "submit p50", "us", lambda s: s.submit_us["p50"], digits=1, views=_views("latency", "html")
    ),
    Column(
        "launch_p50_us", "launch p50", "us", lambda s: s.launch_us["p50"], digits=1, views=_views("latency", "html")
    ),
    Column("device_p50_us", "device p50", "ms", lambda s: s.device_us["p50"], 1e3, views=_views("latency", "html")),
    Column("sm_clock_nvml_p50_mhz", "SM MHz NVML", "", lambda s: s.nvml_sm_mhz["p50"], digits=0, views=_views("cost")),
    Column(
        "sm_clock_inband_p50_mhz",
        "SM MHz in-band",
        "",
        lambda s: s.inband_mhz["p50"],
        digits=0,
        views=_views("cost", "html"),
    ),
    Column("power_mean_w", "power mean", "W", lambda s: s.power_mean_w, digits=0, views=_views("cost", "html")),
    Column(
        "energy_per_inference_mj",
        "energy",
        "J/inf",
        lambda s: s.energy_per_inference_mj,
        1e3,
        views=_views("cost", "html"),
    ),
    Column(
        "energy_above_idle_mj",
        "energy above idle",
        "J/inf",
        lambda s: s.energy_above_idle_mj,
        1e3,
        views=_views("cost", "html"),
    ),
    Column("cpu_pct", "CPU", "% core", lambda s: s.cpu_pct, digits=0, views=_views("cost", "html")),
    Column("sm_held_pct", "SM held", "% SM", lambda s: s.sm_held_pct, digits=1, views=_views("cost", "html")),
]


def _on(row: Mapping[str, Any]) -> str:
    have, total = len(row["on_machines"]), row["machines_total"]
    return "all" if have == total else f"{have} of {total}"


# A fleet report (several results folders): the machine of each row, and how many machines
# measured its condition. Rows are SweepResult rows or {"summary": PolicySummary} items, merged
# by results.fleet.Fleet, which adds "machine", "on_machines" and "machines_total".
# Views: "table" (terminal), "html", "csv".
FLEET_COLUMNS: list[Column] = [
    Column("machine", "machine", "", lambda r: r["machine"], views=_views("table", "html", "csv")),
    Column("on", "on", "", _on, views=_views("table", "html")),
    Column("on_machines", "on machines", "", lambda r: "; ".join(r["on_machines"]), views=_views("csv")),
]


def columns(spec: list[Column], view: str) -> list[Column]:
    return [c for c in spec if view in c.views]


# Terminal tables (trtpace.report.terminal) never cut a number. Each starts with its label
# columns (workload, launch path, pacing; or the policy), which fold where space is short, then
# the headline: the penalty, next to the pacing. When the terminal is too narrow for every column
# even with the labels folded, whole columns are left out, in the order below (least important
# first), until the table fits, and the output names the ones left out. The columns not listed
# (the labels, the penalty, n, e2e p50 and p99 of the latency tables; the SM clock of the GPU
# table; power and CPU of the cost table) always stay: where even they do not fit, the table is
# printed wider than the terminal rather than cut. The launch path of a sweep is a label where
# rows differ in it, and the first to go where every row has the same one. Piped output (not a
# terminal) has every column at full width; COLUMNS, where set, is the width.
TERMINAL_LABELS = frozenset({"workload", "launch", "pacing", "condition", "policy"})
TERMINAL_FIRST: tuple[str, ...] = ("penalty_p50_x",)
TERMINAL_DROP_ORDER: dict[str, tuple[str, ...]] = {
    "table": ("launch", "e2e_max_us", "submit_p50_us", "device_p50_us"),
    "gpu": (
        "launch",
        "energy_per_inference_mj",
        "energy_above_idle_mj",
        "power_mean_w",
        "launch_p50_us",
        "sm_clock_inband_p50_mhz",
    ),
    "latency": ("device_p50_us", "launch_p50_us", "submit_p50_us"),
    "cost": (
        "sm_clock_nvml_p50_mhz",
        "sm_clock_inband_p50_mhz",
        "energy_per_inference_mj",
        "energy_above_idle_mj",
        "sm_held_pct",
    ),
}


def terminal_columns(spec: list[Column], view: str) -> list[Column]:
    """The columns of a terminal view in their terminal order: the headline (TERMINAL_FIRST) right
    after the label columns, the rest as in `spec`."""
    cols = columns(spec, view)
    first = [c for key in TERMINAL_FIRST for c in cols if c.csv == key]
    rest = [c for c in cols if c not in first]
    labels = [c for c in rest if c.csv in TERMINAL_LABELS]
    return labels + first + [c for c in rest if c not in labels]
