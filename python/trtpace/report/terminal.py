"""Terminal tables (rich) of sweep and compare results, from the one column spec.

No table ever cuts a number: numeric columns are as wide as their widest cell, label columns
(workload, launch path, pacing, policy) fold where space is short, and where even folded labels
leave too little room, whole columns are left out in the documented order of
`columns.TERMINAL_DROP_ORDER` (least important first) and `Fitted.dropped` names them. Every cell
is plain text: names a user gave (workloads, policies, paths) print as given, never as markup.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from trtpace.report.columns import (
    CONDITION_COLUMNS,
    FOOTNOTE,
    POLICY_COLUMNS,
    TERMINAL_DROP_ORDER,
    TERMINAL_LABELS,
    UNRELIABLE_MARK,
    Column,
    condition_label,
    gap_work_varies,
    terminal_columns,
)
from trtpace.report.view import SweepView
from trtpace.results import SweepResult
from trtpace.results.verdict import summary_line, sweep_verdicts

LABEL_MIN_WIDTH = 12  # a label column folds down to this (or its header, or its widest cell, if narrower)


@dataclass
class _Col:
    key: str  # the column's csv name (TERMINAL_DROP_ORDER speaks it)
    header: str
    cells: list[Text]
    label: bool  # folds (left-justified); else a number, never narrower than its widest cell
    fold_to: int = LABEL_MIN_WIDTH  # a label folds down to this (or its header, if wider)

    @property
    def natural(self) -> int:
        return max([cell_len(line) for line in self.header.split("\n")] + [c.cell_len for c in self.cells] + [1])

    @property
    def minimum(self) -> int:
        if not self.label:
            return self.natural
        header = max(cell_len(line) for line in self.header.split("\n"))
        return min(self.natural, max(header, self.fold_to))

    @property
    def title(self) -> str:
        return self.header.replace("\n", " ")


@dataclass
class Fitted:
    """A table fitted to a width: `dropped` names the columns left out for it (titles, in the
    order they went), `width` is the width it prints at (wider than asked only where the columns
    that always stay need more)."""

    table: Table
    dropped: list[str] = field(default_factory=list)
    width: int = 0


_BREAKS = " +,/:-="  # a folded label breaks after one of these where it can (keepwarm:1ms+|prewarm-|graph)


def fold_label(text: Text, width: int) -> Text:
    """A label in lines of at most `width` cells, broken after a separator where there is one
    within reach (the policy "keepwarm:1ms+prewarm-graph:100us" in 13 cells: "keepwarm:1ms+" /
    "prewarm-" / "graph:100us"), else folded; the text itself, styles and all, is kept whole."""
    plain = text.plain
    if width < 1 or cell_len(plain) <= width or "\n" in plain:
        return text
    lines, start = [], 0
    while start < len(plain):
        if cell_len(plain[start:]) <= width:
            end = len(plain)
        else:
            reach = start
            while reach < len(plain) and cell_len(plain[start : reach + 1]) <= width:
                reach += 1
            breaks = [i + 1 for i in range(start, reach) if plain[i] in _BREAKS]
            if reach < len(plain) and plain[reach] == " ":
                breaks.append(reach)  # a word that ends right at the edge
            end = max(breaks, default=max(reach, start + 1))
        line = text[start:end]
        line.rstrip()  # the space it broke after
        lines.append(line)
        start = end
        while start < len(plain) and plain[start] == " ":
            start += 1
    return Text("\n").join(lines)


def _measure(table: Table) -> int:
    console = Console(width=1_000_000, file=io.StringIO())
    return console.measure(table).maximum


def _build(
    title: str | Text, cols: list[_Col], widths: list[int], caption: str | None, sections: Sequence[bool] = ()
) -> Table:
    table = Table(
        title=title if isinstance(title, Text) else Text(title),
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    for c, w in zip(cols, widths, strict=True):
        if c.label:
            table.add_column(c.header, width=w, overflow="fold")
        else:
            table.add_column(c.header, width=w, justify="right", no_wrap=True)
    folded = [
        [fold_label(cell, w) for cell in c.cells] if c.label else c.cells for c, w in zip(cols, widths, strict=True)
    ]
    for i, row in enumerate(zip(*folded, strict=True)):
        table.add_row(*row, end_section=i < len(sections) and sections[i])
    if caption:
        table.caption, table.caption_justify = caption, "left"
    return table


def _fit(
    title: str | Text,
    cols: list[_Col],
    drop_order: Sequence[str],
    width: int | None,
    caption: str | None = None,
    sections: Sequence[bool] = (),
) -> Fitted:
    """The table at `width` (None: unlimited): labels at full width where they fit, folded where
    not; columns of `drop_order` left out, in that order, while even folded labels do not fit.
    `sections`: per row, whether a rule follows it (a fleet's groups of matched conditions)."""
    kept = list(cols)
    dropped: list[str] = []
    order = [k for k in drop_order if any(c.key == k for c in cols)]
    while True:
        mins = [c.minimum for c in kept]
        need = _measure(_build(title, kept, mins, caption, sections))
        if width is None or need <= width or not order:
            break
        key = order.pop(0)
        dropped += [c.title for c in kept if c.key == key]
        kept = [c for c in kept if c.key != key]
    widths = [c.minimum for c in kept]
    slack = math.inf if width is None else width - need
    for i, c in enumerate(kept):  # what room is left unfolds the labels, first ones first
        if c.label and slack > 0:
            grow = int(min(slack, c.natural - widths[i]))
            widths[i] += grow
            slack -= grow
    table = _build(title, kept, widths, caption, sections)
    return Fitted(table, dropped, _measure(table))


def _number_cols(items: Sequence[Any], cols: list[Column]) -> tuple[list[_Col], bool]:
    out, marked = [], False
    for c in cols:
        cells = [c.text(item) for item in items]
        marked = marked or any(x.endswith(UNRELIABLE_MARK) for x in cells)
        out.append(_Col(c.csv, c.narrow_header(), [Text(x) for x in cells], label=c.csv in TERMINAL_LABELS))
    return out, marked


def fit_labelled(
    title: str | Text,
    labels: Sequence[tuple[str, str, list[str], int]],
    items: Sequence[Any],
    cols: list[Column],
    drop_order: Sequence[str],
    width: int | None,
    sections: Sequence[bool] = (),
) -> Fitted:
    """A table of label columns (key, header, plain cells, the width they may fold down to) then
    the spec's numeric `cols` of `items`, fitted to `width` as every terminal table is (for the
    fleet report)."""
    label_cols = [_Col(key, header, [Text(x) for x in cells], True, fold) for key, header, cells, fold in labels]
    numbers, marked = _number_cols(items, cols)
    return _fit(title, label_cols + numbers, drop_order, width, FOOTNOTE if marked else None, sections)


def _condition_labels(rows: Sequence[Mapping[str, Any]]) -> tuple[list[_Col], list[str]]:
    """Workload, launch path and pacing of each row; and the drop order's adjustment: a launch
    path that every row shares may go (first), one that differs is a label that stays."""
    mixed = gap_work_varies(rows)  # appended runs with different gap work: each row says its own
    pacing = []
    for row in rows:
        cell = Text(condition_label(row, mixed).removeprefix("gap "))
        if row["status"] != "done":
            cell.append(f" ({row['status']})", style="yellow")
        pacing.append(cell)
    launches = [str(row.get("launch", "") or "") for row in rows]
    labels = [_Col("workload", "workload", [Text(str(r["workload"])) for r in rows], label=True)]
    if len({r.get("run", 0) for r in rows}) > 1:  # appended runs: each row says which run measured it
        labels.insert(0, _Col("run", "run", [Text(str(r.get("run", 0))) for r in rows], label=True))
    stay: list[str] = []
    if any(launches):
        labels.append(_Col("launch", "launch", [Text(x) for x in launches], label=True))
        if len(set(launches)) > 1:
            stay.append("launch")
    labels.append(_Col("pacing", "pacing", pacing, label=True))
    return labels, stay


def _condition_table(rows: Sequence[Mapping[str, Any]], view: str, title: str | Text, width: int | None) -> Fitted:
    labels, stay = _condition_labels(rows)
    cols = [c for c in terminal_columns(CONDITION_COLUMNS, view) if c.csv not in TERMINAL_LABELS]
    numbers, marked = _number_cols(rows, cols)
    order = [k for k in TERMINAL_DROP_ORDER[view] if k not in stay]
    return _fit(title, labels + numbers, order, width, FOOTNOTE if marked and view == "table" else None)


def fit_sweep_table(
    rows: Sequence[Mapping[str, Any]], width: int | None = None, title: str | Text = "trtpace sweep"
) -> Fitted:
    """Latency per condition: the penalty, e2e percentiles, device and submit times; fitted to
    `width` columns (None: every column at full width).

    The JSON output and saved results carry every statistic (p90, mean, CoV too).
    """
    return _condition_table(rows, "table", title, width)


def sweep_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """The latency table with every column (fit_sweep_table fits it to a width)."""
    return fit_sweep_table(rows).table


def fit_gpu_table(
    rows: Sequence[Mapping[str, Any]], width: int | None = None, title: str | Text = "GPU state"
) -> Fitted | None:
    """What the GPU was doing per condition: launch latency, SM clock (NVML and in-band), power,
    energy; None where nothing of it was measured (host work)."""
    if not any(
        math.isfinite(r["summary"]["launch_us"]["p50"]) or math.isfinite(r["summary"]["nvml_sm_mhz"]["p50"])
        for r in rows
    ):
        return None
    return _condition_table(rows, "gpu", title, width)


def gpu_table(rows: Sequence[Mapping[str, Any]]) -> Table | None:
    fitted = fit_gpu_table(rows)
    return fitted.table if fitted is not None else None


def fit_compare_tables(summaries: list[Any], width: int | None = None, suffix: str = "") -> tuple[Fitted, Fitted]:
    """Per policy: the penalty, latency and its parts; then what it costs (power, energy, CPU);
    each fitted to `width` columns (None: every column at full width). `suffix` follows each
    title (": gpu0, together")."""
    out = []
    for title, view in (("trtpace compare", "latency"), ("what it costs", "cost")):
        numbers, marked = _number_cols(summaries, terminal_columns(POLICY_COLUMNS, view))
        out.append(_fit(Text(title + suffix), numbers, TERMINAL_DROP_ORDER[view], width, FOOTNOTE if marked else None))
    return out[0], out[1]


def compare_tables(summaries: list[Any]) -> tuple[Table, Table]:
    """The compare tables with every column (fit_compare_tables fits them to a width)."""
    latency, cost = fit_compare_tables(summaries)
    return latency.table, cost.table


def _wrap(text: str, width: int | None, indent: str, rest: str | None = None) -> list[str]:
    """`text` in lines of at most `width` cells, broken only at spaces (a number, a path or a
    command is never cut); one line where there is no limit."""
    if width is None:
        return [indent + text]
    return textwrap.wrap(
        text,
        width=max(20, width),
        initial_indent=indent,
        subsequent_indent=indent if rest is None else rest,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent]


def verdict_lines(source: SweepResult | SweepView, width: int | None = None) -> list[str]:
    """What to do, said in words (trtpace.results.verdict): the one sentence for the whole run,
    then per workload its penalty, where the time goes, what the SM clock did and whether locking
    clocks helps, and the next command on a line of its own (never folded: it is to be copied)."""
    if isinstance(source, SweepResult):
        verdicts = sweep_verdicts(source)
        summary = summary_line(verdicts, source.environment)
    else:
        verdicts, summary = list(source.verdicts), source.summary
    if not verdicts:
        return []
    out = _wrap(summary, width, "  ", "    ")
    for v in verdicts:
        out += _wrap(v.sentence, width, "  ", "    ")
        if v.next_command:
            out.append(f"    next: {v.next_command}")
            if v.next_why:
                out += _wrap(f"({v.next_why})", width, "      ")
    return out


def deploy_lines(rec: dict[str, Any] | None, width: int | None = None) -> list[str]:
    """How to run a compare's recommended policy in an app: the Python and C++ lines, unfolded
    (code is copied, not read around a wrap)."""
    if not rec or not rec.get("deploy"):
        return []
    d = rec["deploy"]
    out = []
    for name, lines in (("Python", d.get("python") or []), ("C++", d.get("cpp") or [])):
        for i, line in enumerate(lines):
            out.append(f"  {name + ':' if i == 0 else '':8}{line}")
    if d.get("note"):
        out += _wrap(d["note"], width, "  ", "    ")
    return out
