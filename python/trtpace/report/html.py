"""One self-contained HTML report (images embedded, no network), PNG files, and CSV summaries."""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trtpace.report import plots
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
from trtpace.report.view import CompareView, SweepView, compare_view, sweep_view
from trtpace.results import SweepResult
from trtpace.results.folder import make_output_folder, write_output
from trtpace.results.policies import PolicySummary, summarize_policies


def write_csv(result: SweepResult, path: str | Path) -> None:
    """One row per condition; every column header carries its unit. Written atomically (see
    write_output: never through a link, never over a run's own result files)."""
    write_rows_csv(result.rows(), columns(CONDITION_COLUMNS, "csv"), path)


def write_rows_csv(rows: Sequence[Mapping[str, Any]], cols: list[Column], path: str | Path, *, flag: str = "") -> None:
    """Rows as CSV through `cols`; a column with an interval gets its two bounds beside it."""
    write_output(path, render_rows_csv(rows, cols).encode(), flag=flag)


def render_rows_csv(rows: Sequence[Mapping[str, Any]], cols: list[Column]) -> str:
    """The CSV text of write_rows_csv."""
    with io.StringIO(newline="") as f:
        w = csv.writer(f)
        header = []
        for c in cols:
            header.append(c.csv)
            if c.ci is not None:  # e2e_p50_us -> e2e_p50_ci_low_us, e2e_p50_ci_high_us
                stem, _, unit = c.csv.rpartition("_") if c.csv.endswith(("_us", "_x")) else (c.csv, "", "")
                header += [
                    f"{stem}_ci_low" + (f"_{unit}" if unit else ""),
                    f"{stem}_ci_high" + (f"_{unit}" if unit else ""),
                ]
        w.writerow(header)
        for row in rows:  # numbers rounded to what they support (Column.csv_digits), "" where none
            values = []
            for c in cols:
                values.append(c.csv_value(row))
                if c.ci is not None:
                    values += [c.round(v) for v in c.ci_values(row)]
            w.writerow(values)
        return f.getvalue()


def is_compare(result: SweepResult) -> bool:
    return result.settings.get("command") == "compare"


def figures(result: SweepResult, policies: Sequence[PolicySummary] | None = None) -> list[tuple[str, Any]]:
    """(title, figure) for every plot the result supports, in report order. A compare's bars
    show `policies` where given (its view's rows: the whole run on one GPU), else every
    round of the run pooled."""
    out: list[tuple[str, Any]] = []
    if is_compare(result):
        bars = list(policies) if policies is not None else summarize_policies(result)
        out.append(("policies", plots.compare_bars(bars)))
    else:
        # The two pictures people look for first: the penalty per path, and where its time goes.
        out.append(("penalty-vs-gap", plots.penalty_vs_gap(result)))
        out.append(("attribution", plots.attribution_bars(result)))
        out.append(("latency-vs-gap", plots.latency_vs_gap(result)))
    out.append(("clock-trace", plots.clock_trace(result)))
    for i, c in enumerate(result.conditions):
        if is_compare(result) and (c.round or 0) != 0:
            continue  # one timeline per policy is enough
        out.append((f"timeline-{i:03d}", plots.timeline(c)))
    return [(t, f) for t, f in out if f is not None]


def write_pngs(result: SweepResult, directory: str | Path) -> list[Path]:
    return write_figure_pngs(figures(result), directory)


def write_figure_pngs(figs: list[tuple[str, Any]], directory: str | Path) -> list[Path]:
    """Each (title, figure) as directory/title.png, each written atomically; returns the paths."""
    d = make_output_folder(directory, "--png")
    return [write_output(d / f"{title}.png", plots.png_bytes(fig), flag="--png") for title, fig in figs]


def table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def footnote(cells: list[list[str]]) -> str:
    """The footnote of a table that marked some p99 as resting on too few samples."""
    marked = any(re.search(re.escape(UNRELIABLE_MARK) + r"( |$)", c) for row in cells for c in row)
    return f'<p class="note">{html.escape(FOOTNOTE)}</p>' if marked else ""


def environment_items(env: dict[str, Any]) -> list[tuple[str, str]]:
    """What the report says about the machine a run was measured on: (fact, value) pairs."""
    gpu = env.get("gpu") or {}
    tel = env.get("telemetry") or {}
    items = [
        (
            "GPU",
            (
                f"{gpu.get('name', '-')} ({gpu.get('pci_bus_id', '-')}, {gpu.get('multiprocessors', '-')} SMs, "
                f"max SM clock {gpu.get('max_sm_clock_mhz', '-')} MHz)"
            ),
        ),
        (
            "driver",
            (
                f"{env.get('driver_release') or '-'} (CUDA driver {env.get('cuda_driver') or '-'}, "
                f"runtime {env.get('cuda_runtime') or '-'})"
            ),
        ),
        ("trtpace", env.get("trtpace_version", "-")),
        ("host", f"{env.get('host', '-')}, {env.get('platform', '-')}"),
        ("measured", env.get("date_utc", "-")),
        (
            "telemetry",
            f"{tel.get('source') or tel.get('reason') or 'off'}"
            + (f" at {tel['rate_hz']:.0f} Hz, power {tel.get('power_source')}" if tel.get("rate_hz") else ""),
        ),
        ("clock state", "; ".join(env.get("warnings", [])) or "no trtpace lock; clocks as found"),
    ]
    return [(k, str(v)) for k, v in items]


def _environment(result: SweepResult) -> str:
    return table(
        ["fact", "value"], [[html.escape(k), html.escape(v)] for k, v in environment_items(result.environment)]
    ).replace("<table>", '<table class="env">', 1)


def render_html(result: SweepResult, title: str | None = None) -> str:
    """The whole report as one HTML string with every image inline, rendered from the run's one
    computed view (trtpace.report.view), as the terminal and --json are."""
    if is_compare(result):
        cview = compare_view(result)
        s = result.settings
        heading = title or f"trtpace compare: {s.get('workload')} at a {s.get('gap_s')} s gap"
        parts = _gap(cview.gap_lines) + _compare_parts(cview)
        lead, together = compare_verdict_html(cview), cview.together
        # on one GPU the plot's bars are the table's rows; a multi-GPU run's pool every GPU
        policies = None if cview.multi_gpu else cview.groups[0].policies
    else:
        sview = sweep_view(result)
        heading = title or "trtpace sweep"
        parts = _gap(sview.gap_lines) + _sweep_parts(sview)
        lead, together, policies = sweep_verdict_html(sview), sview.together, None
    if together:
        parts.append(
            '<h2>Running together vs alone</h2><ul id="together-vs-alone">'
            + "".join(
                f"<li>{html.escape(g['line'])}<ul>"
                + "".join(f"<li>{html.escape(x['condition'])}: {x['ratio']:.3f}x</li>" for x in g["conditions"])
                + "</ul></li>"
                for g in together
            )
            + "</ul>"
        )
    headline = ("policies",) if is_compare(result) else ("penalty-vs-gap",)
    return page(heading, _environment(result), parts, figures(result, policies), lead=lead, lead_figs=headline)


def _gap(lines: tuple[str, ...]) -> list[str]:
    return [f'<p class="gap">{html.escape(line)}</p>' for line in lines]


def _compare_parts(view: CompareView) -> list[str]:
    """Per GPU group: the policy table, the armed choice and the switching lines."""
    parts = []
    cols = columns(POLICY_COLUMNS, "html")
    for group in view.groups:
        if group.label:
            parts.append(f"<h3>{html.escape(group.label)}, {html.escape(group.mode)}</h3>")
        cells = [[html.escape(c.text_ci(x)) for c in cols] for x in group.policies]
        parts.append(table([c.header() for c in cols], cells) + footnote(cells))
        for line in group.armed_choice:
            parts.append(f"<p>{html.escape(line)}</p>")
        if group.switching:
            parts.append("<p>" + "<br>".join(html.escape(x) for x in group.switching) + "</p>")
    return parts


def _sweep_parts(view: SweepView) -> list[str]:
    """The condition table (every GPU group's rows), launch-path switches, attribution, host note."""
    rows = list(view.rows)
    cols = columns(CONDITION_COLUMNS, "html")
    mixed = gap_work_varies(rows)  # the pacing says each row's gap work where appended runs differ
    cells = [
        [html.escape(condition_label(r, mixed) if c.csv == "condition" else c.text_ci(r)) for c in cols] for r in rows
    ]
    parts = [table([c.header() for c in cols], cells) + footnote(cells)]
    if view.launch_lines:
        parts.append(
            "<h2>Switching launch path</h2><ul>"
            + "".join(f"<li>{html.escape(x)}</li>" for x in view.launch_lines)
            + "</ul>"
        )
    lines = view.attribution_lines
    if lines:
        parts.append(
            "<h2>Where the extra time goes</h2><ul>"
            + "".join(f"<li><code>{html.escape(x)}</code></li>" for x in lines)
            + "</ul>"
        )
    if view.host_note:
        parts.append(f"<p>{html.escape(view.host_note)}</p>")
    return parts


def _code(lines: list[str]) -> str:
    return "<pre><code>" + html.escape("\n".join(lines)) + "</code></pre>"


def verdict_html(result: SweepResult) -> str:
    """What the report opens with: the verdict (trtpace.results.verdict) of a sweep, or a
    compare's recommendation and how to deploy it (Python and C++), as the terminal says them."""
    if is_compare(result):
        return compare_verdict_html(compare_view(result))
    return sweep_verdict_html(sweep_view(result))


def compare_verdict_html(view: CompareView) -> str:
    """A compare's recommendation per GPU group and how to deploy it (Python and C++)."""
    out = []
    for group in view.groups:
        rec = group.recommendation
        if not rec:
            continue
        where = f" ({html.escape(group.label)}, {html.escape(group.mode)})" if group.label else ""
        out.append(f'<p class="rec"><b>Recommendation{where}:</b> {html.escape(rec["line"])}</p>')
        d = rec.get("deploy") or {}
        if d.get("python") or d.get("cpp"):
            out.append(
                f"<p>Deploy {html.escape(rec['recommended_label'])} in your app:</p>"
                + _code(["# Python", *d.get("python", [])])
                + _code(["// C++", *d.get("cpp", [])])
            )
        if d.get("note"):
            out.append(f"<p>{html.escape(d['note'])}</p>")
    return "".join(out)


def sweep_verdict_html(view: SweepView) -> str:
    """A sweep's verdict: the one sentence, then one item per workload with its next command."""
    if not view.verdicts:
        return ""
    out = [f'<p class="rec"><b>{html.escape(view.summary)}</b></p><ul>']
    for v in view.verdicts:
        cmd = (
            (
                f"<br>next: <code>{html.escape(v.next_command)}</code>"
                + (f" ({html.escape(v.next_why)})" if v.next_why else "")
            )
            if v.next_command
            else ""
        )
        out.append(f"<li>{html.escape(v.sentence)}{cmd}</li>")
    out.append("</ul>")
    return "".join(out)


def page(
    heading: str,
    environment: str,
    parts: list[str],
    figs: list[tuple[str, Any]],
    *,
    lead: str = "",
    lead_figs: tuple[str, ...] = (),
) -> str:
    """A whole report page: heading, the verdict (`lead`) with the headline plots (`lead_figs`,
    by name), environment, result parts, then the other plots embedded as PNGs."""
    images: list[str] = []
    top: list[str] = []
    for name, fig in figs:
        data = base64.b64encode(plots.png_bytes(fig)).decode()
        (top if name in lead_figs else images).append(
            f'<figure id="{name}"><img alt="{name}" src="data:image/png;base64,{data}"></figure>'
        )
    if any(plots.unreliable_p99(fig) for name, fig in figs if name in lead_figs):
        top.append(f'<p class="note">{html.escape(plots.P99_NOTE)}.</p>')
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222} table{border-collapse:collapse;"
        "margin:1em 0;font-size:0.85em} th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "th{background:#f3f3f3} td:first-child,th:first-child{text-align:left} img{max-width:100%}"
        " .rec{background:#eef7ee;padding:0.6em;border-left:4px solid #4a4} .env td{text-align:left}"
    )
    # Counts the plots the browser actually decoded, for headless checks (no network is used).
    script = (
        "<script>window.addEventListener('load',()=>{document.body.dataset.imagesLoaded="
        "[...document.images].filter(i=>i.complete&&i.naturalWidth>0).length;});</script>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(heading)}</title>"
        f"<style>{style}</style>{script}</head><body><h1>{html.escape(heading)}</h1>"
        + (f'<section id="verdict"><h2>Verdict: what to do</h2>{lead}{"".join(top)}</section>' if lead or top else "")
        + f"<h2>Environment</h2>{environment}<h2>Results</h2>{''.join(parts)}"
        f"<h2>Plots</h2>{''.join(images)}</body></html>"
    )


def write_html(result: SweepResult, path: str | Path) -> Path:
    """The report as one file, written atomically (a temporary file beside it, fsync, rename): a
    reader never sees half of it, a link at `path` is refused rather than followed, a run's own
    result files are never its target, and into a results folder only while no other run writes
    there. UsageError or ResultsWriteError (a full disk, a file-size limit), one line."""
    return write_output(path, render_html(result).encode())


def embedded_images(text: str) -> list[bytes]:
    """The PNGs embedded in a report (for tests and tools)."""
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


__all__ = [
    "embedded_images",
    "environment_items",
    "figures",
    "footnote",
    "page",
    "render_html",
    "render_rows_csv",
    "table",
    "write_csv",
    "write_html",
    "write_pngs",
    "write_rows_csv",
]
