"""`trtpace report A B C ...`: results folders from several machines merged into one comparison.

The folders are real runs made here (host workloads) whose environment is then edited to name
other machines (the one stand-in: it is data), plus the committed H100 sweep."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import matplotlib.image
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import trtpace
from test_report_headline import _check_no_legend_covers_data
from trtpace.cli import app
from trtpace.report import fleet as fleet_report
from trtpace.report import html as html_report
from trtpace.results.fleet import load_fleet, machine_name

H100 = Path(__file__).parent / "data" / "h100-sweep"
runner = CliRunner()


def _edit(folder: Path, **env: object) -> None:
    doc = json.loads((folder / "sweep.json").read_text())
    doc["environment"].update(env)
    (folder / "sweep.json").write_text(json.dumps(doc))


def _drop_conditions(folder: Path, keep: int) -> None:
    doc = json.loads((folder / "sweep.json").read_text())
    doc["conditions"] = doc["conditions"][:keep]
    (folder / "sweep.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two host sweeps run here, written once; tests copy what they edit."""
    root = tmp_path_factory.mktemp("made")
    for name in ("one", "two"):
        trtpace.sweep(["host:us=20", "host:us=60"], gaps_s=[0, 0.001, 0.003], iterations=40, warmup=2, out=root / name)
    trtpace.compare("host:us=10", 0.001, ["sleep", "spin"], rounds=2, iterations=10, warmup=1, out=root / "cmp")
    return root


@pytest.fixture
def fleet_dirs(made: Path, tmp_path: Path) -> list[Path]:
    """Three machines: this one, an "L4 box" lacking one condition, and the H100 run."""
    a, b, c = tmp_path / "in" / "a", tmp_path / "in" / "b", tmp_path / "in" / "h100"
    shutil.copytree(made / "one", a)
    shutil.copytree(made / "two", b)
    shutil.copytree(H100, c)
    _edit(
        b,
        host="edge-1",
        gpu={"name": "NVIDIA L4", "pci_bus_id": "0000:01:00.0"},
        driver_release="570.86.10",
        date_utc="2026-10-01T08:00:00+00:00",
    )
    _drop_conditions(b, 5)  # host:us=60 at gap 0.003 s was not measured there
    return [a, b, c]


def _one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    assert "Traceback" not in output
    return lines[0]


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_fleet_report_merges_three_machines(fleet_dirs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = {f: sorted(p.name for p in f.iterdir()) for f in fleet_dirs}
    r = runner.invoke(
        app,
        [
            "report",
            *map(str, fleet_dirs),
            "--html",
            str(out / "fleet.html"),
            "--csv",
            str(out / "fleet.csv"),
            "--png",
            str(out / "png"),
        ],
    )
    assert r.exit_code == 0, r.output
    names = ["vm / no GPU", "edge-1 / NVIDIA L4", "vm / NVIDIA H100 80GB HBM3"]
    local = trtpace.load(fleet_dirs[0]).environment["host"]
    names[0] = f"{local} / no GPU"
    for name in names:
        assert name in r.stdout
    assert "machines" in r.stdout and "trtpace sweep, per machine" in r.stdout
    assert "measured on only some machines" in r.stdout
    assert "host:us=60, gap 0.003 s: measured on " + names[0] + "; not on edge-1 / NVIDIA L4" in " ".join(
        r.stdout.split()
    )
    assert {f: sorted(p.name for p in f.iterdir()) for f in fleet_dirs} == before  # nothing written there

    # CSV: one row per machine and condition, each machine's numbers exactly its own report's
    rows = _csv(out / "fleet.csv")
    assert list(rows[0])[:2] == ["machine", "on_machines"]
    assert len(rows) == 6 + 5 + 9
    for name, folder in zip(names, fleet_dirs, strict=True):
        html_report.write_csv(trtpace.load(folder), tmp_path / "single.csv")
        single = _csv(tmp_path / "single.csv")
        mine = [
            {k: v for k, v in row.items() if k not in ("machine", "on_machines")}
            for row in rows
            if row["machine"] == name
        ]
        key = lambda x: (x["workload"], x["pacing"])
        assert sorted(mine, key=key) == sorted(single, key=key)
    shared = [row for row in rows if row["workload"] == "host:us=20"]
    assert all(row["on_machines"] == f"{names[0]}; {names[1]}" for row in shared)
    lonely = [row for row in rows if row["workload"] == "host:us=60" and row["pacing"] == "gap 0.003 s"]
    assert [row["machine"] for row in lonely] == [names[0]] and lonely[0]["on_machines"] == names[0]
    # grouped by condition: the two machines' gap-0 host:us=20 rows sit together
    assert [row["machine"] for row in rows[:2]] == names[:2] and rows[0]["pacing"] == rows[1]["pacing"]

    # HTML: environments side by side, one table with the machine and "on" columns, plots decoded
    page = (out / "fleet.html").read_text()
    for fact in (
        "NVIDIA L4",
        "570.86.10",
        "2026-10-01T08:00:00+00:00",
        "580.159.04",
        "NVIDIA H100 80GB HBM3",
        str(fleet_dirs[1]),
    ):
        assert fact in page
    assert "<th>machine</th><th>on</th>" in page and "<td>1 of 3</td>" in page and "<td>2 of 3</td>" in page
    assert "Measured on only some machines" in page and "vm / NVIDIA H100 80GB HBM3: tiny, gap 0.1 s" in page
    images = html_report.embedded_images(page)
    assert len(images) == 2
    for png in images:
        img = matplotlib.image.imread(io.BytesIO(png), format="png")
        assert img.shape[1] > 1200 and (img[..., :3] < 0.9).any(axis=2).mean() > 0.02
    assert sorted(p.name for p in (out / "png").iterdir()) == ["fleet-latency-vs-gap.png", "fleet-penalty-vs-gap.png"]


def test_fleet_plots_panel_per_machine_on_shared_axes(fleet_dirs: list[Path]) -> None:
    fleet = load_fleet(fleet_dirs)
    figs = dict(fleet_report.figures(fleet))
    penalty, latency = figs["fleet-penalty-vs-gap"], figs["fleet-latency-vs-gap"]
    for fig in (penalty, latency):
        axes = fig.axes
        assert [ax.get_title() for ax in axes] == fleet.names
        assert len({ax.get_xlim() for ax in axes}) == 1 and len({ax.get_ylim() for ax in axes}) == 1
        assert _check_no_legend_covers_data(fig) > 20
    # each machine's panel holds its own series, the same colour for one series on every panel
    lat = {ax.get_title(): {line.get_label(): line.get_color() for line in ax.get_lines()} for ax in latency.axes}
    assert set(lat[fleet.names[2]]) == {"tiny p50", "medium p50", "large p50"}
    assert lat[fleet.names[0]]["host:us=20 p50"] == lat[fleet.names[1]]["host:us=20 p50"]
    h100 = trtpace.load(fleet_dirs[2])
    tiny = next(line for line in latency.axes[2].get_lines() if line.get_label() == "tiny p50")
    assert tiny.get_ydata()[0] == pytest.approx(h100.rows()[0]["summary"]["e2e_us"]["p50"] / 1e3)
    labels = [t.get_text() for t in penalty.legends[0].get_texts()]
    # the p99 label may say it rests on fewer than 1,000 inferences (plots.py)
    assert labels[0] == "host:us=20 p50" and labels[1].startswith("host:us=20 p99") and len(labels) == len(set(labels))


def test_many_machines_wrap_into_rows_and_legends_stay_outside(made: Path, tmp_path: Path) -> None:
    dirs = []
    for i in range(5):
        d = tmp_path / f"m{i}"
        shutil.copytree(made / "one", d)
        _edit(d, host=f"node-{i}")
        dirs.append(d)
    fleet = load_fleet(dirs)
    for _, fig in fleet_report.figures(fleet):
        assert len(fig.axes) == 5 and fig.axes[0].get_gridspec().get_geometry() == (2, 3)
        _check_no_legend_covers_data(fig)


def test_equal_machines_are_told_apart_by_folder(made: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "x" / "run", tmp_path / "y" / "run"
    c = tmp_path / "y" / "other"
    for d in (a, b, c):
        shutil.copytree(made / "one", d)
    fleet = load_fleet([a, c])
    base = machine_name(fleet.machines[0].environment)
    assert fleet.names == [f"{base} [run]", f"{base} [other]"]
    fleet = load_fleet([a, b, c])  # the same folder name twice: its path decides
    assert fleet.names == [f"{base} [run] [{a}]", f"{base} [run] [{b}]", f"{base} [other]"]
    assert len(set(fleet.names)) == 3


@given(
    st.lists(
        st.tuples(st.sampled_from(["vm", "edge", ""]), st.sampled_from(["NVIDIA L4", None])), min_size=2, max_size=6
    )
)
def test_machine_names_are_always_unique(machines: list[tuple[str, str | None]]) -> None:
    from trtpace.results.fleet import _unique_names
    from trtpace.results.result import SweepResult

    folders = [Path(f"/r{i % 2}/run{i}") for i in range(len(machines))]
    results = [SweepResult(environment={"host": h, "gpu": {"name": g} if g else None}) for h, g in machines]
    names = _unique_names(folders, results)
    assert len(set(names)) == len(names)
    assert all(n.startswith(machine_name(r.environment)) for n, r in zip(names, results, strict=True))


def test_conditions_match_on_launch_path_and_clocks(made: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(made / "one", a)
    shutil.copytree(made / "two", b)
    doc = json.loads((b / "sweep.json").read_text())
    for c in doc["conditions"][:3]:  # host:us=20 on b ran on another launch path; host:us=60 locked clocks
        c["info"]["launch"], c["launch"] = "graph", "graph"
    for c in doc["conditions"][3:]:
        c["clocks"] = "locked max"
    (b / "sweep.json").write_text(json.dumps(doc))
    fleet = load_fleet([a, b])
    rows = fleet.rows()
    assert all(r["on_machines"] == [r["machine"]] for r in rows)  # nothing matched
    assert len(fleet.only_on_some()) == 12
    labels = {x["condition"] for x in fleet.only_on_some()}
    assert "host:us=20, gap 0.001 s [graph]" in labels and "host:us=60, gap 0 s [locked max]" in labels


def test_a_repeated_condition_matches_by_occurrence(made: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(made / "one", a)
    shutil.copytree(made / "two", b)
    trtpace.sweep("host:us=20", gaps_s=[0.001], iterations=20, warmup=2, out=a, out_mode="append")
    fleet = load_fleet([a, b])
    repeat = [r for r in fleet.rows() if r["workload"] == "host:us=20" and r["pacing"]["label"] == "gap 0.001 s"]
    assert [len(r["on_machines"]) for r in repeat] == [2, 2, 1]
    # the appended run brought its own continuous baseline too
    assert [x["condition"] for x in fleet.only_on_some()] == [
        "host:us=20, gap 0 s (repeat 2)",
        "host:us=20, gap 0.001 s (repeat 2)",
    ]


def test_json_prints_the_merged_table(fleet_dirs: list[Path], tmp_path: Path) -> None:
    r = runner.invoke(app, ["report", *map(str, fleet_dirs[:2]), "--json", "--html", str(tmp_path / "f.html")])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["command"] == "sweep" and [m["folder"] for m in doc["machines"]] == list(map(str, fleet_dirs[:2]))
    assert doc["machines"][1]["environment"]["gpu"]["name"] == "NVIDIA L4"
    assert len(doc["conditions"]) == 11 and doc["conditions"][1]["machine"] == "edge-1 / NVIDIA L4"
    assert doc["conditions"][0]["summary"]["e2e_us"]["n"] == 40
    assert doc["only_on_some"] == [
        {
            "condition": "host:us=60, gap 0.003 s",
            "on_machines": [doc["machines"][0]["name"]],
            "missing_on": ["edge-1 / NVIDIA L4"],
        }
    ]


def test_compare_fleet_puts_policies_side_by_side(made: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(made / "cmp", a)
    shutil.copytree(made / "cmp", b)
    _edit(b, host="edge-2")
    r = runner.invoke(
        app, ["report", str(a), str(b), "--html", str(tmp_path / "c.html"), "--csv", str(tmp_path / "c.csv")]
    )
    assert r.exit_code == 0, r.output
    assert "trtpace compare, per machine" in r.stdout and "what it costs, per machine" in r.stdout
    assert r.stdout.count("recommendation") == 2
    fleet = load_fleet([a, b])
    assert [(x["machine"].split(" /")[0], x["summary"].policy) for x in fleet.policy_rows()] == [
        (m, p) for p in ("continuous", "sleep", "spin") for m in (fleet.names[0].split(" /")[0], "edge-2")
    ]
    figs = dict(fleet_report.figures(fleet))
    bars = figs["fleet-policies"]
    assert [ax.get_title() for ax in bars.axes] == fleet.names
    assert [t.get_text() for t in bars.axes[1].get_xticklabels()] == ["continuous", "sleep", "spin"]
    _check_no_legend_covers_data(bars)
    page = (tmp_path / "c.html").read_text()
    assert "Recommendation per machine" in page and len(html_report.embedded_images(page)) == 1
    assert len(_csv(tmp_path / "c.csv")) == 12  # 6 rounds' conditions on each machine
    j = json.loads(runner.invoke(app, ["report", str(a), str(b), "--json", "--html", str(tmp_path / "d.html")]).stdout)
    assert len(j["policies"]) == 6 and set(j["recommendations"]) == set(fleet.names)


def test_sweeps_and_compares_do_not_mix(made: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["report", str(made / "one"), str(made / "cmp"), "--html", str(tmp_path / "f.html")])
    assert r.exit_code == 2
    line = _one_error_line(r.output)
    assert "cannot merge sweeps" in line and str(made / "cmp") in line
    assert not (tmp_path / "f.html").exists()


@pytest.mark.parametrize("where", ["html in a folder", "html via ..", "csv deeper", "png in a folder", "default html"])
def test_output_inside_an_input_folder_is_refused(
    fleet_dirs: list[Path], where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = fleet_dirs[:2]
    args = {
        "html in a folder": ["--html", str(b / "fleet.html")],
        "html via ..": ["--html", str(a / "sub" / ".." / "x.html")],
        "csv deeper": ["--csv", str(a / "x" / "y.csv"), "--html", str(a.parent / "ok.html")],
        "png in a folder": ["--png", str(b), "--html", str(a.parent / "ok.html")],
        "default html": [],
    }[where]
    if where == "default html":
        monkeypatch.chdir(a)
    before = {f: sorted(p.name for p in f.rglob("*")) for f in (a, b)}
    r = runner.invoke(app, ["report", str(a), str(b), *args])
    assert r.exit_code == 2
    line = _one_error_line(r.output)
    assert "inside the results folder" in line
    assert {f: sorted(p.name for p in f.rglob("*")) for f in (a, b)} == before
    assert not (a.parent / "ok.html").exists()


def test_default_html_goes_to_the_current_folder(
    fleet_dirs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    r = runner.invoke(app, ["report", *map(str, fleet_dirs[:2])])
    assert r.exit_code == 0, r.output
    written = list(here.glob("trtpace-fleet-*.html"))
    assert len(written) == 1 and written[0].stat().st_size > 10_000
    assert f"report: {written[0].name} (in the current folder" in " ".join(r.stderr.split())


@pytest.mark.parametrize("damage", ["unknown format", "no sweep.json", "a file", "missing", "not json"])
def test_unreadable_folder_is_named_in_one_line(fleet_dirs: list[Path], tmp_path: Path, damage: str) -> None:
    bad = fleet_dirs[1]
    if damage == "unknown format":
        doc = json.loads((bad / "sweep.json").read_text())
        doc["format"] = "trtpace-sweep/2"
        (bad / "sweep.json").write_text(json.dumps(doc))
    elif damage == "no sweep.json":
        (bad / "sweep.json").unlink()
    elif damage == "a file":
        shutil.rmtree(bad)
        bad.write_text("hello")
    elif damage == "missing":
        shutil.rmtree(bad)
    else:
        (bad / "sweep.json").write_bytes(b"\x00\xff{")
    r = runner.invoke(app, ["report", str(fleet_dirs[0]), str(bad), "--html", str(tmp_path / "f.html")])
    assert r.exit_code == 2
    assert str(bad) in _one_error_line(r.output)
    assert not (tmp_path / "f.html").exists()


def test_the_same_folder_twice_is_refused(fleet_dirs: list[Path], tmp_path: Path) -> None:
    a = fleet_dirs[0]
    r = runner.invoke(app, ["report", str(a), str(a / ".." / a.name), "--html", str(tmp_path / "f.html")])
    assert r.exit_code == 2 and "given twice" in _one_error_line(r.output)


def test_a_damaged_condition_warns_once_and_reports(fleet_dirs: list[Path], tmp_path: Path) -> None:
    (fleet_dirs[2] / "condition-004.npz").write_bytes(b"not a zip")
    (fleet_dirs[1] / "condition-001.npz").unlink()
    r = runner.invoke(
        app, ["report", *map(str, fleet_dirs), "--html", str(tmp_path / "f.html"), "--csv", str(tmp_path / "f.csv")]
    )
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    text = " ".join(r.stderr.split())
    assert len(warnings) == 1 and "2 of 20 conditions have no records" in text
    assert f"{fleet_dirs[2]} #4 medium gap 0.1 s (corrupt" in text and f"{fleet_dirs[1]} #1 " in text and "lost" in text
    rows = _csv(tmp_path / "f.csv")
    assert sorted(r["status"] for r in rows if r["status"] != "done") == ["corrupt", "lost"]
    assert len(html_report.embedded_images((tmp_path / "f.html").read_text())) == 2


def test_one_folder_keeps_its_own_report(made: Path, tmp_path: Path) -> None:
    a = tmp_path / "a"
    shutil.copytree(made / "one", a)
    r = runner.invoke(app, ["report", str(a), "--csv", str(a / "inside.csv")])  # inside is fine for one folder
    assert r.exit_code == 0, r.output
    header = next(line for line in r.stdout.splitlines() if "workload" in line)
    assert "trtpace sweep" in r.stdout and "machine" not in header  # one folder: no machine column
    assert "workload" in next(iter(_csv(a / "inside.csv")))
    assert not (a / "report.html").exists()  # only --csv was asked for: no report.html unasked
    assert not list(Path.cwd().glob("trtpace-fleet-*.html"))
