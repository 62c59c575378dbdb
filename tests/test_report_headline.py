"""The report's headline plots, confidence intervals in the tables, the unreliable-p99 mark, and
legends that never cover data, checked over every figure the report makes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.transforms import Bbox

import trtpace
from trtpace.measure import workloads
from trtpace.report import html as html_report
from trtpace.report import plots
from trtpace.report.columns import CONDITION_COLUMNS, FOOTNOTE, columns
from trtpace.report.terminal import sweep_table
from trtpace.results.policies import summarize_policies

FIXTURE = Path(__file__).parent / "data" / "h100-sweep"


@pytest.fixture(scope="module")
def sweep() -> trtpace.SweepResult:
    return trtpace.load(FIXTURE)


@pytest.fixture(scope="module")
def paths_sweep() -> trtpace.SweepResult:
    made = []
    for path, us in (("eager", 80), ("graph", 30)):
        w = workloads.host(us, name="model")
        w.info["launch"] = path
        made.append(w)
    return trtpace.sweep(made, gaps_s=[0.001, 0.003], iterations=30, warmup=2)


@pytest.fixture(scope="module")
def compare_result() -> trtpace.SweepResult:
    return trtpace.compare("host:us=10", 0.001, ["sleep", "spin"], rounds=2, iterations=10, warmup=1)


def _data_boxes(ax) -> list[Bbox]:
    """Display-space boxes of every data artist on an axes: each line point, each bar, each band."""
    boxes = []
    for line in ax.get_lines():
        xy = line.get_xydata()
        xy = xy[np.isfinite(xy).all(axis=1)] if len(xy) else xy
        for x, y in line.get_transform().transform(xy) if len(xy) else []:  # axhline: axes coords in x
            boxes.append(Bbox.from_extents(x - 1, y - 1, x + 1, y + 1))
    for patch in ax.patches:
        if patch.get_height() != 0 or patch.get_width() != 0:
            boxes.append(patch.get_window_extent())
    for coll in ax.collections:
        ext = coll.get_window_extent()
        if np.isfinite(ext.get_points()).all() and ext.width > 0:
            boxes.append(ext)
    return boxes


def _legends(fig) -> list:
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]


def _check_no_legend_covers_data(fig) -> int:
    # A bare Figure's canvas draws nothing: render with Agg, as the report's PNGs are, so the
    # constrained layout has placed the axes and the legends.
    FigureCanvasAgg(fig).draw()
    legends = [lg.get_window_extent() for lg in _legends(fig)]
    checked = 0
    for ax in fig.axes:
        for box in _data_boxes(ax):
            for lg in legends:
                assert not lg.overlaps(box), f"a legend covers data on {ax.get_title()!r}"
            checked += 1
        for lg in legends:  # and never over the plotting area at all
            assert not lg.overlaps(ax.get_window_extent()), f"a legend sits inside {ax.get_title()!r}"
    return checked


def test_no_legend_covers_data_in_any_report_figure(sweep, paths_sweep, compare_result) -> None:
    total = 0
    for result in (sweep, paths_sweep, compare_result):
        figs = html_report.figures(result)
        assert figs
        for _, fig in figs:
            total += _check_no_legend_covers_data(fig)
    assert total > 100


def test_the_check_catches_a_legend_over_data() -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    ax.plot(np.linspace(0, 1, 50), np.linspace(0, 1, 50), label="data")
    ax.legend(loc="center")
    with pytest.raises(AssertionError, match="legend"):
        _check_no_legend_covers_data(fig)


def test_headline_plots_lead_the_report(sweep, paths_sweep) -> None:
    assert [t for t, _ in html_report.figures(sweep)][:3] == ["penalty-vs-gap", "attribution", "latency-vs-gap"]
    fig = plots.penalty_vs_gap(paths_sweep)
    labels = fig.legends[0].get_texts()
    # 30 inferences per condition: each p99 drawn hollow and faint, its legend entry saying why
    assert {t.get_text() for t in labels} >= {
        "model [eager] p50",
        "model [eager] p99 (n<1,000: unreliable)",
        "model [graph] p50",
    }
    assert plots.unreliable_p99(fig) and plots.P99_NOTE in fig.axes[0].get_xlabel()
    # each line is normalised to its own path's continuous run: the first point sits at 1
    ax = fig.axes[0]
    for container in ax.containers:
        assert container.lines[0].get_ydata()[0] == pytest.approx(1.0)
    for line in ax.get_lines():
        if " p99" in line.get_label():
            assert line.get_ydata()[0] == pytest.approx(1.0)
    bars = plots.attribution_bars(paths_sweep)
    assert len(bars.axes[0].get_xticklabels()) == 4  # two gaps on two paths


def test_tables_show_intervals_and_mark_a_thin_p99(sweep, tmp_path: Path) -> None:
    rows = sweep.rows()
    p50 = next(c for c in CONDITION_COLUMNS if c.csv == "e2e_p50_us")
    text = p50.text_ci(rows[1])
    assert text.count("[") == 1 and text.endswith("]")
    lo, hi = (float(x) for x in text[text.index("[") + 1 : -1].split(", "))
    assert lo <= float(text.split()[0]) <= hi
    page = html_report.render_html(sweep)
    assert FOOTNOTE in page and "*" in page  # 100 inferences per condition: p99 marked
    assert sweep_table(rows).caption == FOOTNOTE
    html_report.write_csv(sweep, tmp_path / "s.csv")
    read = list(csv.DictReader(io.StringIO((tmp_path / "s.csv").read_text())))
    assert float(read[1]["e2e_p50_ci_low_us"]) <= float(read[1]["e2e_p50_us"]) <= float(read[1]["e2e_p50_ci_high_us"])
    assert (
        float(read[1]["penalty_p50_ci_low_x"])
        <= float(read[1]["penalty_p50_x"])
        <= float(read[1]["penalty_p50_ci_high_x"])
    )
    assert read[1]["launch"] == "graph"
    j = sweep.to_json()["conditions"][1]
    assert j["summary"]["e2e_us"]["p99_reliable"] is False and "penalty_ci_low" in j


def test_compare_report_labels_and_intervals(compare_result) -> None:
    s = summarize_policies(compare_result)
    assert [x.label for x in s] == ["continuous", "sleep", "spin"]
    page = html_report.render_html(compare_result)
    assert "[" in page and FOOTNOTE in page


def test_a_reliable_p99_is_drawn_as_measured(sweep) -> None:
    fig = plots.penalty_vs_gap(sweep)  # 100 inferences per condition: marked
    assert plots.unreliable_p99(fig)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    thin = lines["tiny [graph] p99 (n<1,000: unreliable)"]
    assert thin.get_linestyle() == ":" and thin.get_markerfacecolor() == "none"
    many = trtpace.sweep([workloads.host(5, name="h")], gaps_s=[0.0002, 0.0004], iterations=1000, warmup=1)
    fig = plots.penalty_vs_gap(many)  # 1,000 per condition: the p99 is drawn as measured
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "h p99" in labels and not plots.unreliable_p99(fig) and fig.axes[0].get_xlabel() == "gap (s)"


def test_compare_timelines_are_titled_with_their_policy(compare_result) -> None:
    titles = [
        fig.axes[0].get_title() for name, fig in html_report.figures(compare_result) if name.startswith("timeline")
    ]
    assert titles == [
        "host:us=10, policy continuous, gap 0 s: every inference",
        "host:us=10, policy sleep, gap 0.001 s: every inference",
        "host:us=10, policy spin, gap 0.001 s: every inference",
    ]
    bars = plots.compare_bars(summarize_policies(compare_result))
    labels = [t.get_text() for t in bars.legends[0].get_texts()]
    assert "p99 (n<1,000: unreliable)" in labels and "p99" not in labels  # 20 per policy: none measured
    assert "above idle (the inference's own)" in labels


def test_compare_html_opens_with_the_recommendation_and_how_to_deploy_it(compare_result) -> None:
    page = html_report.render_html(compare_result)
    section = page[page.index('<section id="verdict">') : page.index("</section>")]
    assert "<b>Recommendation:</b>" in section and "ranked on p50" in section
    assert "pacer = trtpace.Pacer(w" in section and "trtpace::RunConfig config;" in section
    assert 'id="policies"' in section and page.index('<section id="verdict">') < page.index("<h2>Environment</h2>")


def test_views_still_have_their_columns() -> None:
    assert [c.csv for c in columns(CONDITION_COLUMNS, "table")][:2] == ["launch", "n"]
