"""Figures of sweep and compare results (matplotlib, drawn off-screen).

Each function returns a Figure whose axes hold the plotted data, so callers (and tests) can
check that a plot was drawn from data rather than left empty. Legends sit outside the axes
(`fig.legend(loc="outside ...")` with the constrained layout), so they never cover data.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # Figure objects, not pyplot: no window, no global registry

from trtpace.results import ConditionResult, SweepResult
from trtpace.results.attribution import PARTS
from trtpace.results.stats import summarize

PART_COLORS = {
    "late": "tab:gray",
    "write": "tab:brown",
    "submit": "tab:orange",
    "launch": "tab:blue",
    "copy_in": "tab:olive",
    "device": "tab:green",
    "copy_out": "tab:cyan",
    "wakeup": "tab:red",
    "launch+wakeup": "tab:purple",
}
PART_LABELS = {
    "late": "late issue",
    "write": "input write (host, after the gap)",
    "submit": "submit (host call)",
    "launch": "launch (to GPU start)",
    "copy_in": "copy in (to the GPU)",
    "device": "device",
    "copy_out": "copy out (to the host)",
    "wakeup": "wake-up (GPU done to host)",
    "launch+wakeup": "launch + wake-up",
}


def outside_legend(fig: Figure, handles: list[Any] | None = None, labels: list[str] | None = None, **kw: Any) -> Any:
    """A legend beside the axes, never over them: the constrained layout makes room for it."""
    if handles is None:
        handles, labels = [], []
        for ax in fig.axes:
            h, lab = ax.get_legend_handles_labels()
            handles += h
            labels += lab
    if not handles:
        return None
    kw.setdefault("fontsize", "small")
    return fig.legend(handles, labels or [], loc="outside right upper", **kw)


def _series_name(c: ConditionResult) -> str:
    name = c.workload + (f" [{c.launch}]" if c.launch else "")
    name += "" if c.clocks == "default" else f" ({c.clocks})"
    name += "" if c.gap_work_spec == "none" else f" gap work {c.gap_work_spec}"
    return name + (f" {c.gpu_label} {c.gpu_mode}" if c.gpu_label else "")  # one line per GPU of a multi-GPU run


PenaltySeries = dict[str, list[tuple[float, float, float, float, float, float]]]
P99_NOTE = "hollow, faint p99: fewer than 1,000 inferences, too few beyond it to trust"


def _penalty_series(result: SweepResult) -> PenaltySeries:
    """Per workload and launch path: (gap, p50 penalty, p99 penalty, p50 CI low, high, p99
    reliable: 1.0 where both sides have 1,000 inferences, else 0.0) per gap condition."""
    series: PenaltySeries = {}
    for c in result.conditions:
        if c.pacing.kind != "gap" or c.count <= c.warmup:
            continue
        b = result.baseline(c)
        if b is None or b.count <= b.warmup:
            continue
        sc, sb = summarize(c.column("e2e_us")), summarize(b.column("e2e_us"))
        lo, hi = result.penalty_interval(c)
        p99 = sc["p99"] / sb["p99"] if sb["p99"] > 0 else np.nan
        reliable = float(bool(sc["p99_reliable"] and sb["p99_reliable"]))
        series.setdefault(_series_name(c), []).append((c.pacing.gap_s, result.penalty(c), p99, lo, hi, reliable))
    return series


def _draw_penalty(ax: Any, series: PenaltySeries, colors: dict[str, str] | None = None) -> list[Any]:
    """The penalty lines of one run on `ax`; `colors` keeps a series' colour across panels. A p99
    that rests on fewer than 1,000 inferences (either side) is drawn hollow and faint, its legend
    entry saying so: it is not to be read as a measured tail."""
    handles: list[Any] = []
    for name, points in series.items():
        points.sort()
        cols = np.array(points, dtype=np.float64).T
        x, p50, p99, lo, hi, ok = cols[0], cols[1], cols[2], cols[3], cols[4], cols[5] > 0
        err = np.nan_to_num(np.vstack([np.clip(p50 - lo, 0, None), np.clip(hi - p50, 0, None)]))
        color = {"color": colors[name]} if colors else {}
        bars = ax.errorbar(x, p50, yerr=err, marker="o", capsize=3, label=f"{name} p50", **color)
        c = bars.lines[0].get_color()
        if ok.all():
            (line,) = ax.plot(x, p99, linestyle="--", marker="^", color=c, alpha=0.7, label=f"{name} p99")
        else:
            (line,) = ax.plot(
                x,
                p99,
                linestyle=":",
                marker="^",
                color=c,
                alpha=0.35,
                markerfacecolor="none",
                label=f"{name} p99 (n<1,000: unreliable)",
            )
        handles += [bars, line]
    ax.axhline(1.0, color="black", linewidth=0.8, alpha=0.6)
    return handles


def unreliable_p99(fig: Figure) -> bool:
    """Does the figure draw a p99 from too few inferences (its legend says so)?"""
    return any("unreliable" in t.get_text() for legend in fig.legends for t in legend.get_texts())


def _linthresh(gaps: list[float]) -> float:
    positive = [g for g in gaps if g > 0]
    return min(positive) if positive else 1e-3


def penalty_vs_gap(result: SweepResult) -> Figure | None:
    """The headline: p50 and p99 e2e against the gap, each normalised to the continuous run of its
    own workload and launch path; one line per workload and launch path (bars: 95% CI of the p50)."""
    series = _penalty_series(result)
    if not series or all(len(v) < 2 for v in series.values()):
        return None
    fig, ax = _new(9.0, 4.5)
    handles = _draw_penalty(ax, series)
    ax.set_xscale("symlog", linthresh=_linthresh([g for v in series.values() for g, *_ in v]))
    ax.set_xlabel("gap (s)")
    ax.set_ylabel("latency / continuous (x)")
    ax.set_title("Penalty after an idle gap, per workload and launch path")
    outside_legend(fig, handles, [h.get_label() for h in handles])
    if unreliable_p99(fig):  # said under the axis, where the layout makes room for it
        ax.set_xlabel(f"gap (s)\n{P99_NOTE}", fontsize="small")
    return fig


def attribution_bars(result: SweepResult) -> Figure | None:
    """The headline's explanation: per gap condition, a stacked bar of where the extra p50 time
    goes (submit, launch, device, wake-up, late issue), from the attribution parts; parts that
    shrank stack below zero."""
    bars = []
    for row, c in zip(result.rows(), result.conditions, strict=True):
        a = row["attribution"]
        if a and not c.pacing.is_continuous:
            bars.append((f"{_series_name(c)}\n{c.pacing.label}", a["parts_us"]))
    if not bars:
        return None
    fig, ax = _new(max(6.0, 1.1 * len(bars) + 3.5), 4.8)
    x = np.arange(len(bars))
    keys = [k for k in (*PARTS, "launch+wakeup") if any(k in parts for _, parts in bars)]
    up, down = np.zeros(len(bars)), np.zeros(len(bars))
    for k in keys:
        v = np.array([parts.get(k, 0.0) for _, parts in bars]) / 1e3
        v = np.nan_to_num(v)
        pos, neg = np.clip(v, 0, None), np.clip(v, None, 0)
        ax.bar(x, pos, 0.6, bottom=up, color=PART_COLORS[k], label=PART_LABELS[k])
        ax.bar(x, neg, 0.6, bottom=down, color=PART_COLORS[k])
        up, down = up + pos, down + neg
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x, [name for name, _ in bars], rotation=30, ha="right", fontsize="x-small")
    ax.set_ylabel("extra time vs continuous (ms)")
    ax.set_title("Where the extra time goes (parts averaged around the median)")
    outside_legend(fig)
    return fig


def _new(width: float = 8.0, height: float = 4.5) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    return fig, ax


def _latency_groups(result: SweepResult) -> dict[str, list[ConditionResult]]:
    """The gap conditions with records, per workload (and clocks), sorted by gap."""
    by_workload: dict[str, list[ConditionResult]] = {}
    for c in result.conditions:
        if c.pacing.kind == "gap" and c.count > c.warmup:
            name = f"{c.workload}" + ("" if c.clocks == "default" else f" ({c.clocks})")
            by_workload.setdefault(name + (f" {c.gpu_label} {c.gpu_mode}" if c.gpu_label else ""), []).append(c)
    return {k: sorted(v, key=lambda c: c.pacing.gap_s) for k, v in by_workload.items()}


def _draw_latency(ax: Any, groups: dict[str, list[ConditionResult]], colors: dict[str, str] | None = None) -> None:
    for name, conds in groups.items():
        by_gap: dict[float, list[np.ndarray]] = {}  # a multi-GPU run's rounds pool into one point per gap
        for c in conds:
            by_gap.setdefault(c.pacing.gap_s, []).append(c.column("e2e_us"))
        x = np.array(sorted(by_gap))
        s = [summarize(np.concatenate(by_gap[g])) for g in x]
        p50, p90, p99 = (np.array([v[k] for v in s]) / 1e3 for k in ("p50", "p90", "p99"))
        (line,) = ax.plot(x, p50, marker="o", label=f"{name} p50", **({"color": colors[name]} if colors else {}))
        ax.fill_between(x, p50, p90, color=line.get_color(), alpha=0.25, linewidth=0)
        ax.fill_between(x, p90, p99, color=line.get_color(), alpha=0.1, linewidth=0)


def latency_vs_gap(result: SweepResult) -> Figure | None:
    """e2e p50 per workload against the gap, with the p50-p90 and p90-p99 bands (log x axis)."""
    groups = _latency_groups(result)
    if not groups:
        return None
    fig, ax = _new()
    _draw_latency(ax, groups)
    ax.set_xscale("symlog", linthresh=_linthresh([c.pacing.gap_s for cs in groups.values() for c in cs]))
    ax.set_yscale("log")
    ax.set_xlabel("gap (s)")
    ax.set_ylabel("e2e latency (ms); bands: p50-p90, p90-p99")
    ax.set_title("Latency against the idle gap")
    outside_legend(fig)
    return fig


def _panels(count: int, width: float = 4.6, height: float = 3.6, sharex: bool = True) -> tuple[Figure, list[Any]]:
    """One panel per machine, up to three a row, sharing the y axis (and x unless told otherwise)
    so the machines read alike."""
    ncols = min(count, 3)
    nrows = -(-count // ncols)
    fig = Figure(figsize=(width * ncols + 2.5, height * nrows + 0.6), dpi=100, layout="constrained")
    grid = fig.subplots(nrows, ncols, sharex=sharex, sharey=True, squeeze=False)
    axes = list(grid.flat)
    for ax in axes[count:]:
        fig.delaxes(ax)
    for ax in axes[:count]:
        ax.grid(True, alpha=0.3)
    return fig, axes[:count]


def _colors(names: list[str]) -> dict[str, str]:
    """One colour per series across every panel (first seen, first colour)."""
    return {n: f"C{i % 10}" for i, n in enumerate(dict.fromkeys(names))}


def _unique_legend(fig: Figure, drawn: list[Any] | None = None) -> None:
    """One legend entry per label over all panels, in the order drawn."""
    handles: dict[str, Any] = {}
    if drawn is None:
        drawn = [h for ax in fig.axes for h in ax.get_legend_handles_labels()[0]]
    for h in drawn:
        handles.setdefault(h.get_label(), h)
    outside_legend(fig, list(handles.values()), list(handles))


def _gap_axes(axes: list[Any], gaps: list[float]) -> None:
    """The same symlog gap axis on every panel, with room beside the first and last gap (shared
    autoscaling of symlog axes clips the last point and runs into negative gaps)."""
    linthresh = _linthresh(gaps)
    right = max(gaps, default=1.0)
    for ax in axes:
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xlim(-0.3 * linthresh, right * 1.6 if right > 0 else 1.0)


def _label_panels(fig: Figure, axes: list[Any], names: list[str], title: str, xlabel: str, ylabel: str) -> None:
    for ax, name in zip(axes, names, strict=True):
        ax.set_title(name, fontsize="small")
    fig.suptitle(title)
    fig.supxlabel(xlabel)
    fig.supylabel(ylabel)


def penalty_vs_gap_fleet(machines: Sequence[tuple[str, SweepResult]]) -> Figure | None:
    """The headline per machine, side by side on shared axes: one panel per machine, each series
    in the same colour on every panel."""
    per = [(name, _penalty_series(r)) for name, r in machines]
    if all(len(v) < 2 for _, series in per for v in series.values()):
        return None
    colors = _colors([k for _, series in per for k in series])
    fig, axes = _panels(len(per))
    drawn = []
    for ax, (_, series) in zip(axes, per, strict=True):
        drawn += _draw_penalty(ax, series, colors)
    _gap_axes(axes, [g for _, series in per for v in series.values() for g, *_ in v])
    _label_panels(
        fig, axes, [n for n, _ in per], "Penalty after an idle gap, per machine", "gap (s)", "latency / continuous (x)"
    )
    _unique_legend(fig, drawn)
    return fig


def latency_vs_gap_fleet(machines: Sequence[tuple[str, SweepResult]]) -> Figure | None:
    """Latency against the gap per machine, side by side on shared axes."""
    per = [(name, _latency_groups(r)) for name, r in machines]
    if not any(groups for _, groups in per):
        return None
    colors = _colors([k for _, groups in per for k in groups])
    fig, axes = _panels(len(per))
    for ax, (_, groups) in zip(axes, per, strict=True):
        _draw_latency(ax, groups, colors)
    _gap_axes(axes, [c.pacing.gap_s for _, groups in per for cs in groups.values() for c in cs])
    for ax in axes:
        ax.set_yscale("log")
    _label_panels(
        fig,
        axes,
        [n for n, _ in per],
        "Latency against the idle gap, per machine",
        "gap (s)",
        "e2e latency (ms); bands: p50-p90, p90-p99",
    )
    _unique_legend(fig)
    return fig


def compare_bars_fleet(machines: Sequence[tuple[str, Sequence[Any]]]) -> Figure | None:
    """Per machine, e2e p50 and p99 bars per policy, side by side on a shared latency axis."""
    if not any(summaries for _, summaries in machines):
        return None
    # x not shared: each machine's policies get their own ticks
    fig, axes = _panels(len(machines), width=4.2, height=3.8, sharex=False)
    for ax, (_, summaries) in zip(axes, machines, strict=True):
        x = np.arange(len(summaries))
        ax.bar(x - 0.2, [s.e2e_us["p50"] / 1e3 for s in summaries], 0.4, color="C0", label="p50")
        ax.bar(x + 0.2, [s.e2e_us["p99"] / 1e3 for s in summaries], 0.4, color="C1", label="p99")
        ax.set_xticks(x, [s.label for s in summaries], rotation=30, ha="right", fontsize="small")
    _label_panels(fig, axes, [n for n, _ in machines], "Latency per policy, per machine", "policy", "e2e latency (ms)")
    _unique_legend(fig)
    return fig


def timeline(c: ConditionResult) -> Figure | None:
    """Per inference: e2e, device and submit times, with the SM clock and power on a second axis;
    titled with the workload, its launch path and the policy it ran (a compare's timelines)."""
    if c.count == 0:
        return None
    fig, ax = _new(9.0, 4.0)
    t0 = c.records["issue_ns"][0]
    t = (c.records["issue_ns"] - t0) / 1e9
    positive = False
    for metric, label in (("e2e_us", "e2e"), ("device_us", "device"), ("submit_us", "submit")):
        values = c.column(metric, include_warmup=True)
        ax.plot(t, values, ".", markersize=3, label=f"{label} (us)")
        positive = positive or bool((values > 0).any())
    if c.warmup:
        ax.axvspan(t[0], t[min(c.warmup, c.count) - 1], color="grey", alpha=0.15, label="warm-up")
    if positive:  # a log axis needs a value above 0 (a damaged or host condition may have none)
        ax.set_yscale("log")
    ax.set_xlabel("time since the first issue (s)")
    ax.set_ylabel("time (us)")
    ax2 = ax.twinx()
    inband = c.column("inband_mhz", include_warmup=True)
    if np.isfinite(inband).any():
        ax2.plot(t, inband, "-", color="tab:red", alpha=0.6, linewidth=1, label="SM MHz in-band")
    # NVML values as each inference saw them (the sample last before its issue), so a condition
    # shorter than the sampling period still shows the clock it ran at.
    sm = c.joined("sm_mhz")
    if np.isfinite(sm).any():
        ax2.plot(t, sm, "-", color="tab:purple", alpha=0.6, linewidth=1, label="SM MHz NVML")
    power = c.joined("power_mw") / 1e3 if "tel_power_mw" in c.telemetry else np.full(c.count, np.nan)
    if np.isfinite(power).any():
        ax2.plot(t, power, "-", color="tab:olive", alpha=0.5, linewidth=1, label="power W")
    ax2.set_ylabel("MHz, W")
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    outside_legend(fig, handles[0] + handles2[0], handles[1] + handles2[1], fontsize="x-small")
    ax.set_title(f"{timeline_title(c)}: every inference")
    return fig


def timeline_title(c: ConditionResult) -> str:
    """ "tiny [graph], policy keepwarm:1ms, gap 0.1 s" (no policy where it ran none: a sweep)."""
    parts = [c.workload + (f" [{c.launch}]" if c.launch else "")]
    if c.policy:
        parts.append(f"policy {c.policy}")
    parts.append(c.pacing.label + ("" if c.clocks == "default" else f", {c.clocks}"))
    return ", ".join(parts)


def clock_trace(result: SweepResult) -> Figure | None:
    """The NVML SM clock over the whole run, with each condition's span shaded and named."""
    pieces = [c for c in result.conditions if c.telemetry.get("tel_t_ns") is not None and c.telemetry["tel_t_ns"].size]
    if not pieces:
        return None
    fig, ax = _new(10.0, 3.8)
    t0 = min(int(c.telemetry["tel_t_ns"][0]) for c in pieces)
    for i, c in enumerate(pieces):
        ts = (c.telemetry["tel_t_ns"] - t0) / 1e9
        ax.plot(
            ts,
            c.telemetry["tel_sm_mhz"],
            "-",
            color="tab:purple",
            linewidth=0.8,
            label="SM MHz NVML" if i == 0 else None,
        )
        clk_t = c.telemetry.get("tel_clk_t_ns")
        if clk_t is not None and clk_t.size:
            ax.plot(
                (clk_t - t0) / 1e9,
                c.telemetry["tel_clk_sm_mhz"],
                ".",
                color="tab:blue",
                markersize=2,
                label="driver clock samples" if i == 0 else None,
            )
        w = c.window_ns()
        if w is not None:
            a, b = (w[0] - t0) / 1e9, (w[1] - t0) / 1e9
            ax.axvspan(a, b, color=f"C{i % 10}", alpha=0.12)
            ax.text(
                (a + b) / 2,
                1.0,
                f"{c.workload}\n{c.pacing.label}",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                fontsize="xx-small",
            )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("SM clock (MHz)")
    ax.set_title("SM clock over the run (shaded: each condition's measured window)")
    outside_legend(fig, fontsize="x-small")
    return fig


def compare_bars(summaries: Sequence[Any]) -> Figure | None:
    """Per policy: e2e p50 and p99 bars, and energy per inference where measured."""
    if not summaries:
        return None
    fig = Figure(figsize=(10.0, 4.0), dpi=100, layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    names = [s.label for s in summaries]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [s.e2e_us["p50"] / 1e3 for s in summaries], 0.4, label="p50")
    ok = [bool(s.e2e_us.get("p99_reliable", False)) for s in summaries]
    p99 = [s.e2e_us["p99"] / 1e3 for s in summaries]
    if any(ok):
        ax.bar(x + 0.2, [v if k else 0.0 for v, k in zip(p99, ok, strict=True)], 0.4, color="tab:orange", label="p99")
    if not all(ok):  # hollow and hatched: a p99 from fewer than 1,000 inferences is no measured tail
        ax.bar(
            x + 0.2,
            [0.0 if k else v for v, k in zip(p99, ok, strict=True)],
            0.4,
            fill=False,
            hatch="//",
            edgecolor="tab:orange",
            alpha=0.6,
            label="p99 (n<1,000: unreliable)",
        )
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize="small")
    ax.set_ylabel("e2e latency (ms)")
    ax.set_title("Latency per policy")
    ax.grid(True, axis="y", alpha=0.3)
    energy = [s.energy_per_inference_mj / 1e3 for s in summaries]
    above = [getattr(s, "energy_above_idle_mj", np.nan) / 1e3 for s in summaries]
    ax2.bar(x - 0.2, np.nan_to_num(energy), 0.4, color="tab:olive", label="energy per inference")
    ax2.bar(x + 0.2, np.nan_to_num(above), 0.4, color="tab:green", label="above idle (the inference's own)")
    ax2.set_xticks(x, names, rotation=30, ha="right", fontsize="small")
    ax2.set_ylabel("energy per inference (J; 0: not measured)")
    ax2.set_title("Energy per policy: total and above idle")
    outside_legend(
        fig, *[a + b for a, b in zip(ax.get_legend_handles_labels(), ax2.get_legend_handles_labels(), strict=True)]
    )
    ax2.grid(True, axis="y", alpha=0.3)
    return fig


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
