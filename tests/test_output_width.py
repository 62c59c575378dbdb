"""No output cuts a number: sweep, compare and report at 60, 80 and 120 columns (CliRunner with
COLUMNS) and piped (real subprocesses, stdout a pipe), checked against the numbers their --json
carries; narrow tables drop whole columns in the documented order and say so; user text (folder,
workload names) prints literally, never as rich markup."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import trtpace
from cli_command import TRTPACE
from trtpace.cli import app
from trtpace.measure import workloads
from trtpace.report.columns import TERMINAL_DROP_ORDER
from trtpace.report.terminal import LABEL_MIN_WIDTH, fit_compare_tables, fit_sweep_table
from trtpace.results.policies import summarize_policies

FIXTURE = Path(__file__).parent / "data" / "h100-sweep"
WIDTHS = (60, 80, 120)
ELLIPSIS = "…"


def invoke(args: list[str], width: int | None) -> Any:
    env = {"COLUMNS": str(width)} if width is not None else {}
    return CliRunner().invoke(app, args, env=env)


def piped(args: list[str], **extra: Any) -> subprocess.CompletedProcess[str]:
    """The real command with stdout and stderr pipes, as in `trtpace sweep | tee log` or CI."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(extra)
    return subprocess.run([*TRTPACE, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def _tokens(text: str) -> set[str]:
    return set(text.split())


def _has_number(tokens: set[str], number: str) -> bool:
    """The number printed whole as a cell (a p99 may carry the unreliable mark)."""
    return number in tokens or number + "*" in tokens


def sweep_headline(doc: dict[str, Any]) -> list[str]:
    """The headline numbers of each condition as the tables print them: penalty, n, e2e p50, p99."""
    out = []
    for c in doc["conditions"]:
        e2e = c["summary"]["e2e_us"]
        out += [f"{c['penalty']:.2f}x", str(e2e["n"]), f"{e2e['p50'] / 1e3:.3f}", f"{e2e['p99'] / 1e3:.3f}"]
    return out


def compare_headline(doc: dict[str, Any]) -> list[str]:
    out = []
    for s in doc["policies"]:
        e2e = s["e2e_us"]
        out += [f"{s['penalty']:.2f}x", str(e2e["n"]), f"{e2e['p50'] / 1e3:.3f}", f"{e2e['p99'] / 1e3:.3f}"]
    return out


def check_intact(text: str, numbers: list[str], width: int | None) -> None:
    assert ELLIPSIS not in text, text
    tokens = _tokens(text)
    missing = [n for n in numbers if not _has_number(tokens, n)]
    assert not missing, f"cut or missing: {missing}\n{text}"
    if width is not None:
        # each table's rule line is the table's width: fitted to the terminal
        rules = [line for line in text.splitlines() if line.strip() and set(line.strip()) == {"─"}]
        assert rules and all(len(r) <= width for r in rules), text


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sweep") / "r"
    r = invoke(
        [
            "sweep",
            "-w",
            "host:us=20",
            "-w",
            "host:us=40",
            "--gaps",
            "0,0.001",
            "--iterations",
            "30",
            "--warmup",
            "2",
            "--out",
            str(d),
            "--no-report",
        ],
        120,
    )
    assert r.exit_code == 0, r.output
    return d


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("compare") / "r"
    r = invoke(
        [
            "compare",
            "-w",
            "host:us=20",
            "--gap",
            "0.001",
            "--rounds",
            "2",
            "--iterations",
            "20",
            "--warmup",
            "2",
            "--out",
            str(d),
            "--no-report",
        ],
        120,
    )
    assert r.exit_code == 0, r.output
    return d


def report_json(folder: Path, tmp_path: Path) -> dict[str, Any]:
    """What `trtpace report FOLDER --json` says (any report.html it writes stays in tmp_path)."""
    html = ["--html", str(tmp_path / "j.html")] if folder == FIXTURE else []
    r = invoke(["report", str(folder), "--json", *html], None)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def h100_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return report_json(FIXTURE, tmp_path_factory.mktemp("h100"))


@pytest.mark.parametrize("width", WIDTHS)
def test_saved_h100_sweep_report_keeps_every_number(width: int, tmp_path: Path, h100_doc: dict[str, Any]) -> None:
    doc = h100_doc
    r = invoke(["report", str(FIXTURE), "--html", str(tmp_path / "r.html")], width)
    assert r.exit_code == 0, r.output
    check_intact(r.stdout, sweep_headline(doc), width)
    assert "1.54x" in _tokens(r.stdout)  # the headline the issue saw printed as "1.5" / "1.3"
    # the penalty sits next to the pacing: the first number after the pacing column
    row = next(line.split() for line in r.stdout.splitlines() if line.split()[:1] == ["tiny"] and " 0.1 s " in line)
    assert row[row.index("s") + 1] == "1.54x"
    if width == 60:
        assert "left out at 60 columns: launch, e2e max ms" in r.stdout.replace("\n", " ")
    if width == 120:
        assert "left out" not in r.stdout.split("GPU state")[0]  # every latency column fits


def test_saved_h100_sweep_report_piped_is_full_width(tmp_path: Path, h100_doc: dict[str, Any]) -> None:
    doc = h100_doc
    p = piped(["report", str(FIXTURE), "--html", str(tmp_path / "r.html")])
    assert p.returncode == 0, p.stderr
    check_intact(p.stdout, sweep_headline(doc), None)
    assert "left out" not in p.stdout
    for c in doc["conditions"]:  # every column: e2e max and submit too, whole
        assert f"{c['summary']['e2e_us']['max'] / 1e3:.3f}" in _tokens(p.stdout)
        assert f"{c['summary']['submit_us']['p50']:.1f}" in _tokens(p.stdout)
    # a line wider than rich's 80-column fallback: the attribution lines are never wrapped
    assert any(len(line) > 80 for line in p.stdout.splitlines())
    assert "report:" in p.stderr


@pytest.mark.parametrize("width", WIDTHS)
def test_sweep_output_at_each_width(width: int, tmp_path: Path) -> None:
    out = tmp_path / "r"
    r = invoke(
        [
            "sweep",
            "-w",
            "host:us=20",
            "--gaps",
            "0,0.001",
            "--iterations",
            "20",
            "--warmup",
            "2",
            "--out",
            str(out),
            "--no-report",
        ],
        width,
    )
    assert r.exit_code == 0, r.output
    check_intact(r.stdout, sweep_headline(report_json(out, tmp_path)), width)


def test_sweep_piped(tmp_path: Path) -> None:
    out = tmp_path / "r"
    p = piped(
        [
            "sweep",
            "-w",
            "host:us=20",
            "--gaps",
            "0,0.001",
            "--iterations",
            "20",
            "--warmup",
            "2",
            "--out",
            str(out),
            "--no-report",
        ]
    )
    assert p.returncode == 0, p.stderr
    check_intact(p.stdout, sweep_headline(report_json(out, tmp_path)), None)
    assert "━" not in p.stderr and "left" not in p.stderr  # no progress line when not a terminal
    assert p.stderr.strip().splitlines()[-1] == f"results saved in {out}"


@pytest.mark.parametrize("width", WIDTHS)
def test_sweep_report_at_each_width(sweep_dir: Path, width: int, tmp_path: Path) -> None:
    r = invoke(["report", str(sweep_dir), "--html", str(tmp_path / "r.html")], width)
    assert r.exit_code == 0, r.output
    check_intact(r.stdout, sweep_headline(report_json(sweep_dir, tmp_path)), width)


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_report_at_each_width(compare_dir: Path, width: int, tmp_path: Path) -> None:
    doc = report_json(compare_dir, tmp_path)
    r = invoke(["report", str(compare_dir), "--html", str(tmp_path / "r.html")], width)
    assert r.exit_code == 0, r.output
    check_intact(r.stdout, compare_headline(doc), width)
    row = next(line for line in r.stdout.splitlines() if line.split()[:1] == ["sleep"])
    sleep = next(s for s in doc["policies"] if s["label"] == "sleep")
    assert row.split()[1] == f"{sleep['penalty']:.2f}x"  # the penalty right after the policy


def test_compare_report_piped(compare_dir: Path, tmp_path: Path) -> None:
    doc = report_json(compare_dir, tmp_path)
    p = piped(["report", str(compare_dir), "--html", str(tmp_path / "r.html")])
    assert p.returncode == 0, p.stderr
    check_intact(p.stdout, compare_headline(doc), None)
    assert "left out" not in p.stdout


@pytest.mark.parametrize("width", [60, 80])
def test_compare_output_at_narrow_widths(width: int, tmp_path: Path) -> None:
    out = tmp_path / "r"
    r = invoke(
        [
            "compare",
            "-w",
            "host:us=20",
            "--policies",
            "sleep,spin,cpu-awake",
            "--gap",
            "0.001",
            "--rounds",
            "1",
            "--iterations",
            "20",
            "--out",
            str(out),
            "--no-report",
        ],
        width,
    )
    assert r.exit_code == 0, r.output
    check_intact(r.stdout, compare_headline(report_json(out, tmp_path)), width)
    # how to deploy the recommendation: code lines whole, never folded at the width
    lines = r.stdout.splitlines()
    assert any(line.startswith("deploy it: ") for line in lines), r.stdout
    python = next(line for line in lines if line.startswith("  Python: "))
    assert python.startswith("  Python: pacer = trtpace.Pacer(w") and python.endswith(")")
    assert "  C++:    trtpace::RunConfig config;" in lines


def test_compare_piped(tmp_path: Path) -> None:
    out = tmp_path / "r"
    p = piped(
        [
            "compare",
            "-w",
            "host:us=20",
            "--policies",
            "sleep,spin",
            "--gap",
            "0.001",
            "--rounds",
            "1",
            "--iterations",
            "20",
            "--out",
            str(out),
            "--no-report",
        ]
    )
    assert p.returncode == 0, p.stderr
    check_intact(p.stdout, compare_headline(report_json(out, tmp_path)), None)
    assert "━" not in p.stderr


def test_columns_go_in_the_documented_order() -> None:
    rows = trtpace.load(FIXTURE).rows()
    widths = {}
    for width in (200, 80, 72, 64, 50, 20):
        fitted = fit_sweep_table(rows, width)
        widths[width] = fitted
        order = list(TERMINAL_DROP_ORDER["table"])
        assert fitted.dropped == [
            {
                "launch": "launch",
                "e2e_max_us": "e2e max ms",
                "submit_p50_us": "submit p50 us",
                "device_p50_us": "device p50 ms",
            }[k]
            for k in order[: len(fitted.dropped)]
        ]
        assert fitted.width <= width or len(fitted.dropped) == len(order)
    assert widths[200].dropped == [] and len(widths[20].dropped) == 4
    # where even the columns that always stay do not fit, the table is wider than asked, not cut
    assert widths[20].width > 20


def test_long_labels_fold_and_numbers_stay_whole() -> None:
    made = [workloads.host(10, name="a-very-long-workload-name-from-an-onnx-file-path"), workloads.host(12, name="m")]
    result = trtpace.sweep(made, gaps_s=[0.001], iterations=10, warmup=1)
    rows = result.rows()
    for width in WIDTHS:
        fitted = fit_sweep_table(rows, width)
        assert fitted.width <= width
        text = _render(fitted.table)
        check_intact(text, sweep_headline(result.to_json()), width)
        # the label folded to fit, rather than a column of numbers
        assert "a-very-long-workload-name-from-an-onnx-file-path" not in text or width == 120
    compare = trtpace.compare(
        workloads.host(10, name="w"), 0.001, ["sleep", "spin+cpu-awake"], rounds=1, iterations=10, warmup=1
    )
    summaries = summarize_policies(compare)
    for width in WIDTHS:
        latency, cost = fit_compare_tables(summaries, width)
        text = _render(latency.table) + _render(cost.table)
        assert ELLIPSIS not in text
        for s in summaries:
            assert f"{s.penalty:.2f}x" in text and f"{s.e2e_us['p50'] / 1e3:.3f}" in text
    assert LABEL_MIN_WIDTH >= 8


def test_a_launch_path_that_differs_stays() -> None:
    made = []
    for path, us in (("eager", 30), ("graph", 10)):
        w = workloads.host(us, name="model")
        w.info["launch"] = path
        made.append(w)
    rows = trtpace.sweep(made, gaps_s=[0.001], iterations=10, warmup=1).rows()
    for width in (40, 60):
        fitted = fit_sweep_table(rows, width)
        assert "launch" not in fitted.dropped and fitted.dropped[:1] == ["e2e max ms"]
        text = _render(fitted.table)
        assert "eager" in text and "graph" in text
    same = trtpace.load(FIXTURE).rows()  # every row on the graph path: the first to go
    assert fit_sweep_table(same, 60).dropped[0] == "launch"


def test_labels_fold_at_separators() -> None:
    from rich.text import Text

    from trtpace.report.terminal import fold_label

    assert fold_label(Text("keepwarm:1ms+prewarm-graph:100us"), 13).plain == "keepwarm:1ms+\nprewarm-\ngraph:100us"
    assert fold_label(Text("abcdefghij"), 4).plain == "abcd\nefgh\nij"  # no separator: folded
    assert fold_label(Text("a  b"), 1).plain == "a\nb"
    assert fold_label(Text("short"), 12).plain == "short"
    styled = Text("gap 0.1 s")
    styled.append(" (partial)", style="yellow")
    folded = fold_label(styled, 9)
    assert folded.plain == "gap 0.1 s\n(partial)" and folded.spans[0].style == "yellow"


def _render(table: Any) -> str:
    import io

    from rich.console import Console

    console = Console(width=10_000, file=io.StringIO())
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


# -- user text is printed literally ------------------------------------------------------------

MARKUP_NAMES = ["[/]x", "[bold]b", "[link=x]l"]


@pytest.mark.parametrize("name", MARKUP_NAMES)
def test_folder_names_print_literally(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = invoke(["sweep", "-w", "host:us=10", "--gaps", "0.001", "--iterations", "5", "--out", name], 80)
    assert r.exit_code == 0, r.output
    assert f"results saved in {name}" in r.stderr and f"report: {name}/report.html" in r.stderr
    assert "MarkupError" not in r.output and "Traceback" not in r.output
    r = invoke(["report", name, "--html", str(tmp_path / "h.html")], 80)
    assert r.exit_code == 0, r.output
    p = piped(
        ["sweep", "-w", "host:us=10", "--gaps", "0.001", "--iterations", "5", "--out", name + "-2", "--no-report"]
    )
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip().splitlines()[-1] == f"results saved in {name}-2"


def test_workload_names_print_literally(tmp_path: Path) -> None:
    made = [workloads.host(10, name=n) for n in MARKUP_NAMES]
    trtpace.sweep(made, gaps_s=[0.001], iterations=10, warmup=1, out=tmp_path / "s")
    r = invoke(["report", str(tmp_path / "s"), "--html", str(tmp_path / "s.html")], 120)
    assert r.exit_code == 0, r.output
    for n in MARKUP_NAMES:
        assert n in r.stdout  # in the tables
        assert f"{n}, gap 0.001 s:" in r.stdout  # in the attribution lines
    p = piped(["report", str(tmp_path / "s"), "--html", str(tmp_path / "p.html")])
    assert p.returncode == 0, p.stderr
    assert all(n in p.stdout for n in MARKUP_NAMES)
    trtpace.compare(
        workloads.host(10, name="[bold]w[/]"),
        0.001,
        ["sleep", "spin"],
        rounds=1,
        iterations=10,
        warmup=1,
        out=tmp_path / "c",
    )
    r = invoke(["report", str(tmp_path / "c"), "--html", str(tmp_path / "c.html")], 80)
    assert r.exit_code == 0 and "recommendation" in r.stdout, r.output


def test_warnings_and_errors_print_literally(capsys: pytest.CaptureFixture[str]) -> None:
    from trtpace.cli import errors

    errors.warn("a [bold]name[/] and [link=x]")
    with pytest.raises(SystemExit):
        errors.fail("no folder [/]x", 2)
    err = capsys.readouterr().err
    assert "warning: a [bold]name[/] and [link=x]" in err and "error: no folder [/]x" in err


def test_unlimited_width_only_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from trtpace.cli import output

    monkeypatch.delenv("COLUMNS", raising=False)
    assert output.table_width(output.stdout_console()) is None  # pytest captures stdout: not a terminal
    monkeypatch.setenv("COLUMNS", "66")
    assert output.table_width(output.stdout_console()) == 66
    assert re.fullmatch(r"\d+", str(output.UNLIMITED_WIDTH))


@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_fleet_tables_keep_every_number_and_every_identity(
    width: int | None, tmp_path: Path, h100_doc: dict[str, Any]
) -> None:
    """Two machines' folders side by side (the saved H100 sweep twice): at every width, and piped
    (None), the machine, workload and pacing of each row stay, and no number is cut."""
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(FIXTURE, a)
    shutil.copytree(FIXTURE, b)
    args = ["report", str(a), str(b), "--html", str(tmp_path / "fleet.html")]
    out = piped(args).stdout if width is None else invoke(args, width).stdout
    latency = out.split("trtpace sweep, per machine")[1].split("GPU state")[0]
    check_intact(latency, sweep_headline(h100_doc), width)
    rows = [line for line in latency.splitlines() if "x " in line and line.split()[:1] != ["machine"]]
    assert len(rows) >= 2 * len(h100_doc["conditions"])
    for name in ("tiny", "medium", "large"):
        assert sum(name in line for line in latency.splitlines()) >= 2  # each workload on both machines
    if width == 60:
        assert "left out at 60 columns" in out.replace("\n", " ")
    if width is None:
        assert "left out" not in out
