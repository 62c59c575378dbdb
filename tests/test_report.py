"""Reports from a saved sweep measured on an H100 (tests/data/h100-sweep, under 1 MB)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.report import html as html_report
from trtpace.report import plots
from trtpace.results.attribution import attribute, parts_us
from trtpace.results.policies import summarize_policies

FIXTURE = Path(__file__).parent / "data" / "h100-sweep"


@pytest.fixture(scope="module")
def sweep() -> trtpace.SweepResult:
    return trtpace.load(FIXTURE)


def _drawn(fig) -> int:
    """Data points plotted on a figure's axes (lines, bands and bars)."""
    n = 0
    for ax in fig.axes:
        n += sum(len(line.get_xdata()) for line in ax.get_lines())
        n += sum(len(c.get_paths()) for c in ax.collections)
        n += sum(1 for p in ax.patches if p.get_height() > 0) if hasattr(ax, "patches") else 0
    return n


def test_fixture_is_small_and_real(sweep: trtpace.SweepResult) -> None:
    assert sum(f.stat().st_size for f in FIXTURE.iterdir()) < 1_000_000
    assert sweep.environment["gpu"]["name"].startswith("NVIDIA H100")
    assert len(sweep.conditions) == 9


def test_every_plot_is_drawn_from_data(sweep: trtpace.SweepResult) -> None:
    figs = dict(html_report.figures(sweep))
    assert {"latency-vs-gap", "clock-trace"} <= set(figs) and sum(k.startswith("timeline") for k in figs) == 9
    gap = figs["latency-vs-gap"]
    assert len(gap.axes[0].get_lines()) == 3  # tiny, medium, large
    np.testing.assert_allclose(
        gap.axes[0].get_lines()[0].get_ydata()[0], sweep.rows()[0]["summary"]["e2e_us"]["p50"] / 1e3
    )
    for name, fig in figs.items():
        assert _drawn(fig) > 3, name
    tl = figs["timeline-001"]
    assert len(tl.axes[0].get_lines()[0].get_xdata()) == sweep.conditions[1].count  # one point per inference
    labels = [line.get_label() for line in tl.axes[1].get_lines()]
    assert "SM MHz in-band" in labels and "SM MHz NVML" in labels and "power W" in labels


def test_html_is_self_contained(sweep: trtpace.SweepResult) -> None:
    text = html_report.render_html(sweep)
    assert "NVIDIA H100 80GB HBM3" in text and "580.159.04" in text
    assert "tiny, gap 0.1 s: +0.059 ms = 0.064 submit" in text
    assert "http://" not in text and "https://" not in text  # nothing to fetch
    images = html_report.embedded_images(text)
    assert len(images) == 13  # the two headline plots, latency, clock trace, 9 timelines
    for png in images:
        img = matplotlib.image.imread(io.BytesIO(png), format="png")
        non_white = (img[..., :3] < 0.9).any(axis=2).mean()
        assert img.shape[0] > 200 and non_white > 0.02


def test_report_cli_html_png_csv_json(sweep: trtpace.SweepResult, tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app,
        [
            "report",
            str(FIXTURE),
            "--html",
            str(tmp_path / "r.html"),
            "--png",
            str(tmp_path / "png"),
            "--csv",
            str(tmp_path / "r.csv"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "trtpace sweep" in r.stdout and "where the extra time goes" in r.stdout
    assert (tmp_path / "r.html").stat().st_size > 100_000
    assert len(list((tmp_path / "png").glob("*.png"))) == 13
    with open(tmp_path / "r.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9 and float(rows[1]["penalty_p50_x"]) == pytest.approx(sweep.rows()[1]["penalty"], abs=5e-4)
    units = ("_us", "_mhz", "_w", "_mj", "_x", "_cov", "_s", "_hz")
    for header in rows[0]:
        assert header in (
            "gpu",
            "gpu_mode",
            "gpu_uuid",
            "workload",
            "run",
            "pacing",
            "launch",
            "io",
            "policy",
            "clocks",
            "gap_work",
            "status",
            "n",
        ) or header.endswith(units), header
    assert {row["gap_work"] for row in rows} == {"none"}  # saved before gap work: an idle gap
    r = CliRunner().invoke(app, ["report", str(FIXTURE), "--html", str(tmp_path / "j.html"), "--json"])
    assert json.loads(r.stdout)["conditions"][4]["summary"]["e2e_us"]["n"] == 100


def test_partial_results_render(tmp_path: Path) -> None:
    d = tmp_path / "partial"
    shutil.copytree(FIXTURE, d)
    doc = json.loads((d / "sweep.json").read_text())
    doc["conditions"][8]["status"] = "running"  # the run died during the last condition
    (d / "condition-008.npz").unlink()
    (d / "sweep.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(app, ["report", str(d)])
    assert r.exit_code == 0, r.output
    assert "(lost)" in r.stdout
    text = (d / "report.html").read_text()
    assert ">lost<" in text and len(html_report.embedded_images(text)) == 12


def test_compare_report(tmp_path: Path) -> None:
    result = trtpace.compare("host:us=10", 0.001, ["sleep", "spin"], rounds=2, iterations=10, warmup=1, out=tmp_path)
    r = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "trtpace compare" in r.stdout and "recommendation" in r.stdout
    text = (tmp_path / "report.html").read_text()
    assert "Recommendation:" in text and 'id="policies"' in text
    fig = plots.compare_bars(summarize_policies(result))
    assert len([p for p in fig.axes[0].patches if p.get_height() > 0]) == 6  # p50 and p99 per policy


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(sweep: trtpace.SweepResult, tmp_path: Path) -> None:
    page = html_report.write_html(sweep, tmp_path / "report.html")
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,9000"]
    dom = subprocess.run(
        [*flags, "--virtual-time-budget=5000", "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    assert loaded and int(loaded.group(1)) == 13, "every plot decoded by the browser"
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    img = matplotlib.image.imread(shot)
    assert img.shape[:2] == (9000, 1280)
    # Below the tables, 11 plots of 380-450 pixels each fill the page: every 500-pixel band down to
    # the end of the plots carries drawing, and the page ends there.
    rows_inked = (img[:, :, :3] < 0.9).any(axis=2).mean(axis=1)
    last = int(np.nonzero(rows_inked > 0.001)[0].max())
    assert last > 5000
    bands = [rows_inked[y : y + 500].mean() for y in range(1500, last - 500, 500)]
    assert min(bands) > 0.01, bands


def test_a_sweep_saved_before_gap_work_loads_as_an_idle_gap(sweep: trtpace.SweepResult) -> None:
    """tests/data/h100-sweep has no gap_work anywhere, nor staged_ns, gap_work_ns or relaunched."""
    assert all(c.gap_work == {"kind": "none", "spec": "none", "description": "idle"} for c in sweep.conditions)
    assert not any("staged_ns" in c.records or "relaunched" in c.records for c in sweep.conditions)
    assert [w["spec"] for w in sweep.gap_works()] == ["none"]
    rows = sweep.rows()
    assert {r["gap_work"] for r in rows} == {"none"}
    parts = [r["attribution"]["parts_us"] for r in rows if r["attribution"]]
    assert parts and not any("write" in p for p in parts)  # submit stays one part, as before
    for c in sweep.conditions:
        b = sweep.baseline(c)
        if b is None or b is c:
            continue
        a = attribute(c, b)
        means = []
        for x in (c, b):
            e2e = parts_us(x)["e2e"]
            lo, hi = np.percentile(e2e, [35, 65])
            means.append(e2e[(e2e >= lo) & (e2e <= hi)].mean())
        assert a.parts_sum_us == pytest.approx(means[0] - means[1], abs=1e-6)  # the parts still sum exactly
    text = html_report.render_html(sweep)
    assert '<p class="gap">' not in text and "<th>gap work</th>" in text


def test_a_timeline_of_records_with_no_positive_time_draws_on_a_linear_axis() -> None:
    # Found by hypothesis (test_results_hardening_damaged): a whole condition file of one
    # inference stamped all zeros made matplotlib warn, and warnings are errors here.
    from trtpace.measure import pacing
    from trtpace.results import ConditionResult

    cols = ("due_ns", "issue_ns", "submitted_ns", "done_ns")
    records = {k: np.zeros(1, dtype=np.int64) for k in cols} | {"device_us": np.zeros(1)}
    fig = plots.timeline(ConditionResult("w", pacing.gap(0.1), "hybrid", "spin", 0, 1, records))
    assert fig is not None and fig.axes[0].get_yscale() == "linear"
