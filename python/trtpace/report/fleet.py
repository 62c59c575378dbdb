"""Fleet reports: several machines' results side by side, as terminal tables, one HTML page,
PNGs and one CSV, every table from the one column spec with the machine columns in front."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from trtpace.report import plots
from trtpace.report.columns import (
    CONDITION_COLUMNS,
    FLEET_COLUMNS,
    POLICY_COLUMNS,
    TERMINAL_DROP_ORDER,
    Column,
    columns,
    condition_label,
    gap_work_varies,
    terminal_columns,
)
from trtpace.report.html import environment_items, footnote, page, table, write_figure_pngs, write_rows_csv
from trtpace.report.terminal import LABEL_MIN_WIDTH, Fitted, fit_labelled
from trtpace.results.fleet import Fleet
from trtpace.results.folder import write_output
from trtpace.results.policies import summarize_policies

# A machine's name ("vm / NVIDIA H100 80GB HBM3 [folder]") may fold narrower than other labels:
# it is long, and every row has one.
MACHINE_FOLD = 8


def environment_facts(fleet: Fleet) -> tuple[list[str], list[list[str]]]:
    """The machines side by side: a header (fact, then one column per machine) and one row per fact."""
    per = [dict(environment_items(m.environment)) for m in fleet.machines]
    facts = [k for k, _ in environment_items(fleet.machines[0].environment)]
    rows = [[k, *(p.get(k, "-") for p in per)] for k in facts]
    rows.append(["folder", *(str(m.folder) for m in fleet.machines)])
    return ["fact", *fleet.names], rows


def _new_table(title: str, headers: list[str], right: int) -> Table:
    t = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    for i, h in enumerate(headers):
        numeric = i >= len(headers) - right
        t.add_column(h, justify="right" if numeric else "left", no_wrap=numeric, overflow="fold", min_width=6)
    return t


def environment_table(fleet: Fleet) -> Table:
    headers, rows = environment_facts(fleet)
    t = _new_table("machines", headers, 0)
    for r in rows:
        t.add_row(*(escape(x) for x in r))
    return t


def _grouped(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
    """Each row with whether it ends its matched condition's group (a rule is drawn there)."""
    return [(r, i + 1 == len(rows) or rows[i + 1]["match"] != r["match"]) for i, r in enumerate(rows)]


def condition_table(fleet: Fleet, view: str, title: str, width: int | None = None) -> Fitted | None:
    """One row per machine and condition (view "table": latency, "gpu": GPU state), fitted to
    `width` as every terminal table is: numbers never cut, labels fold, columns left out in
    TERMINAL_DROP_ORDER's order (and named) where even folded labels do not fit."""
    rows = fleet.rows()
    cols = terminal_columns(CONDITION_COLUMNS, view)  # the headline first, as in a sweep's own table
    if view == "gpu" and not any(
        math.isfinite(r["summary"]["launch_us"]["p50"]) or math.isfinite(r["summary"]["nvml_sm_mhz"]["p50"])
        for r in rows
    ):
        return None
    machine, on = columns(FLEET_COLUMNS, "table")
    mixed = gap_work_varies(rows)  # conditions differing only in gap work: the pacing says which is which
    pacing = [
        condition_label(r, mixed).removeprefix("gap ") + ("" if r["status"] == "done" else f" ({r['status']})")
        for r in rows
    ]
    labels = [
        ("machine", "machine", [machine.text(r) for r in rows], MACHINE_FOLD),
        ("workload", "workload", [str(r["workload"]) for r in rows], LABEL_MIN_WIDTH),
        ("pacing", "pacing", pacing, LABEL_MIN_WIDTH),
        ("on", on.header(), [on.text(r) for r in rows], LABEL_MIN_WIDTH),
    ]
    return fit_labelled(
        title, labels, rows, cols, _drop_order(labels, view), width, [last for _, last in _grouped(rows)]
    )


def _drop_order(labels: list[tuple[str, str, list[str], int]], view: str) -> tuple[str, ...]:
    """The view's drop order, with the GPU column ("on") first where every row says the same
    (one GPU per machine): then it tells nothing a narrow terminal needs."""
    on = next(cells for key, _, cells, _ in labels if key == "on")
    return (("on",) if len(set(on)) <= 1 else ()) + TERMINAL_DROP_ORDER[view]


def policy_tables(fleet: Fleet, width: int | None = None) -> list[Fitted]:
    """A compare fleet: per machine and policy, latency, then what it costs; fitted to `width`."""
    rows = fleet.policy_rows()
    machine, on = columns(FLEET_COLUMNS, "table")
    sections = [last for _, last in _grouped(rows)]
    labels = [
        ("machine", "machine", [machine.text(r) for r in rows], MACHINE_FOLD),
        ("on", on.header(), [on.text(r) for r in rows], LABEL_MIN_WIDTH),
    ]
    summaries = [r["summary"] for r in rows]
    order = {view: _drop_order(labels, view) for view in ("latency", "cost")}
    return [
        fit_labelled(title, labels, summaries, columns(POLICY_COLUMNS, view), order[view], width, sections)
        for title, view in (("trtpace compare, per machine", "latency"), ("what it costs, per machine", "cost"))
    ]


def only_on_some_lines(fleet: Fleet) -> list[str]:
    return [
        f"{x['condition']}: measured on {', '.join(x['on_machines'])}; not on {', '.join(x['missing_on'])}"
        for x in fleet.only_on_some()
    ]


def attribution_lines(fleet: Fleet) -> list[str]:
    """Where the extra time goes, per machine and gap condition."""
    return [f"{r['machine']}: {r['attribution']['line']}" for r in fleet.rows() if r["attribution"]]


def recommendation_lines(fleet: Fleet) -> list[str]:
    return [f"{name}: {rec['line']}" for name, rec in fleet.recommendations().items() if rec]


def figures(fleet: Fleet) -> list[tuple[str, Any]]:
    """(title, figure) of the side-by-side plots, in report order."""
    if fleet.command == "compare":
        out = [
            (
                "fleet-policies",
                plots.compare_bars_fleet([(m.name, summarize_policies(m.result)) for m in fleet.machines]),
            )
        ]
    else:
        machines = [(m.name, m.result) for m in fleet.machines]
        out = [
            ("fleet-penalty-vs-gap", plots.penalty_vs_gap_fleet(machines)),
            ("fleet-latency-vs-gap", plots.latency_vs_gap_fleet(machines)),
        ]
    return [(t, f) for t, f in out if f is not None]


def _list(title: str, lines: list[str], code: bool = False) -> str:
    if not lines:
        return ""
    wrap = (lambda x: f"<code>{x}</code>") if code else (lambda x: x)
    return f"<h2>{title}</h2><ul>" + "".join(f"<li>{wrap(html.escape(x))}</li>" for x in lines) + "</ul>"


def _html_rows(rows: list[dict[str, Any]], cols: list[Column], item: Any) -> str:
    fleet_cols = columns(FLEET_COLUMNS, "html")
    cells = [
        [html.escape(c.text(r)) for c in fleet_cols] + [html.escape(c.text_ci(item(r))) for c in cols] for r in rows
    ]
    return table([c.header() for c in (*fleet_cols, *cols)], cells) + footnote(cells)


def render_fleet_html(fleet: Fleet) -> str:
    """The whole fleet comparison as one self-contained HTML page."""
    headers, env_rows = environment_facts(fleet)
    environment = table(headers, [[html.escape(x) for x in r] for r in env_rows]).replace(
        "<table>", '<table class="env">', 1
    )
    parts = []
    if fleet.command == "compare":
        parts.append(_html_rows(fleet.policy_rows(), columns(POLICY_COLUMNS, "html"), lambda r: r["summary"]))
        recs = recommendation_lines(fleet)
        if recs:
            parts.append(
                '<p class="rec"><b>Recommendation per machine:</b><br>'
                + "<br>".join(html.escape(x) for x in recs)
                + "</p>"
            )
    else:
        parts.append(_html_rows(fleet.rows(), columns(CONDITION_COLUMNS, "html"), lambda r: r))
    parts.append(_list("Measured on only some machines", only_on_some_lines(fleet)))
    if fleet.command != "compare":
        parts.append(_list("Where the extra time goes, per machine", attribution_lines(fleet), code=True))
    heading = f"trtpace fleet: {fleet.command} on {len(fleet.machines)} machines"
    return page(heading, environment, parts, figures(fleet))


def write_fleet_html(fleet: Fleet, path: str | Path) -> Path:
    """Written atomically, never through a link (see trtpace.results.folder.write_output)."""
    return write_output(path, render_fleet_html(fleet).encode())


def write_fleet_csv(fleet: Fleet, path: str | Path) -> None:
    """One row per machine and condition (compare rounds included), the machine columns first."""
    write_rows_csv(fleet.rows(), columns(FLEET_COLUMNS, "csv") + columns(CONDITION_COLUMNS, "csv"), path)


def write_fleet_pngs(fleet: Fleet, directory: str | Path) -> list[Path]:
    return write_figure_pngs(figures(fleet), directory)
