"""Help and flags (nothing cut, no <bool> metavars, shell completion), --quiet, `trtpace env`
without Python Nones, the one transient progress line with its time estimate, and compare
leaving out on host work what needs a GPU."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

import trtpace
from cli_command import TRTPACE
from trtpace.cli import app
from trtpace.cli import env as env_cli
from trtpace.cli.compare import GPU_ONLY, compare_plan
from trtpace.cli.progress import OverallProgress, Planned, clock
from trtpace.cli.sweep import sweep_plan
from trtpace.measure import pacing
from trtpace.measure.policies import parse_policies
from trtpace.run.compare import DEFAULT_POLICIES

COMMANDS = [
    [],
    ["sweep"],
    ["compare"],
    ["report"],
    ["env"],
    ["clocks"],
    ["clocks", "show"],
    ["clocks", "lock"],
    ["clocks", "reset"],
]


def invoke(args: list[str], width: int | None = None) -> Any:
    return CliRunner().invoke(app, args, env={"COLUMNS": str(width)} if width else {})


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(extra)
    return env


def piped(args: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRTPACE, *args], capture_output=True, text=True, env=_env(**extra), timeout=300, check=False
    )


# -- help --------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [60, 80])
def test_compare_help_shows_every_default_policy(width: int) -> None:
    r = invoke(["compare", "--help"], width)
    assert r.exit_code == 0, r.output
    assert "armed" in r.stdout
    flat = "".join(r.stdout.split())  # the help wraps lines (and at hyphens), never cuts them
    assert "Default:" + ",".join(DEFAULT_POLICIES) + "." in flat
    assert "…" not in r.stdout
    p = piped(["compare", "--help"], COLUMNS=str(width))
    assert p.returncode == 0 and "Default:" + ",".join(DEFAULT_POLICIES) + "." in "".join(p.stdout.split())


def help_text(args: list[str], width: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The help as a terminal of `width` columns shows it (CliRunner fixes help at 80)."""
    monkeypatch.setenv("COLUMNS", str(width))
    with pytest.raises(SystemExit) as e:
        app([*args, "--help"], prog_name="trtpace")
    assert e.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "trtpace")
def test_help_is_never_cut_and_flags_have_no_metavar(
    command: list[str], width: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = help_text(command, width, capsys, monkeypatch)
    assert out.startswith(f"Usage: trtpace {' '.join(command)}".rstrip())
    assert "…" not in out and "<bool>" not in out and "Traceback" not in out
    assert all(len(line) <= width for line in out.splitlines()), out
    # the command lists say each command's whole short help
    listed = out.split("Commands:")[1].splitlines() if "Commands:" in out else []
    assert not any(line.rstrip().endswith("...") for line in listed), out


@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_says_the_gate_mode_and_what_compare_ranks_on(
    width: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flat = "".join(help_text(["sweep"], width, capsys, monkeypatch).split())
    assert "--max-penalty-mode" in flat and "interval(failonlywhereitswhole95%intervalisoverit" in flat
    flat = "".join(help_text(["compare"], width, capsys, monkeypatch).split())
    assert "ranksthepoliciesonp50andsaysso" in flat and "ap99rankingneeds1,000perpolicy" in flat


def test_boolean_flags_show_no_value() -> None:
    out = invoke(["sweep", "--help"], 100).stdout
    assert re.search(r"--overwrite\s+Replace", out) and re.search(r"--no-report\s+Do not", out)
    assert re.search(r"-q, --quiet\s+Print no progress", out)
    assert "--telemetry / --no-telemetry" in out
    assert re.search(r"-q, --quiet\s+Print no progress", invoke(["compare", "--help"], 100).stdout)


def test_shell_completion_is_on() -> None:
    out = invoke(["--help"], 80).stdout
    assert "--install-completion" in out and "--show-completion" in out
    p = subprocess.run(
        TRTPACE,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_env(_TRTPACE_COMPLETE="complete_bash", COMP_WORDS="trtpace comp", COMP_CWORD="1"),
    )
    assert p.returncode == 0 and "compare" in p.stdout.split(), p.stderr
    p = subprocess.run(
        TRTPACE,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_env(_TRTPACE_COMPLETE="complete_bash", COMP_WORDS="trtpace compare --qu", COMP_CWORD="2"),
    )
    assert p.returncode == 0 and "--quiet" in p.stdout.split(), p.stderr


# -- env ---------------------------------------------------------------------------------------


def test_env_prints_no_python_none() -> None:
    r = invoke(["env"], 80)
    assert r.exit_code == 0, r.output
    assert not re.search(r"\bNone\b", r.stdout), r.stdout
    doc = json.loads(invoke(["env", "--json"]).stdout)
    for key, value in doc.items():  # every null of the JSON is said in words
        if value is None and key not in ("jetson", "cuda_problem"):
            assert f"{key}: {env_cli.said(key, None)}" in r.stdout


def test_env_words_for_missing_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = {
        "trtpace": "0.1",
        "cuda_driver": None,
        "tensorrt": None,
        "cpu_governor": None,
        "cuda_module_loading_env": None,
        "may_change_clocks": False,
        "gpus": [{"index": 0, "name": "G", "pstate": None, "persistence_mode": True, "power_limit_w": None}],
        "jetson": {
            "gpu_devfreq": {"node": "/sys/x", "governor": None, "railgate": True},
            "emc_rate_hz": None,
            "nvpmodel": None,
        },
        "missing": ["torch: not installed"],
        "cuda_problem": None,
    }
    monkeypatch.setattr(env_cli, "collect", lambda: facts)
    r = invoke(["env"], 200)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert not re.search(r"\b(None|True|False)\b", out), out
    assert "cuda_driver: not found" in out and "tensorrt: not installed" in out
    assert "cpu_governor: unknown" in out and "cuda_module_loading_env: not set" in out
    assert "may_change_clocks: no" in out
    assert "GPU 0: name=G, pstate=unknown, persistence_mode=yes, power_limit_w=unknown" in out
    assert "jetson: gpu_devfreq=(node=/sys/x, governor=unknown, railgate=yes), emc_rate_hz=unknown" in out


# -- --quiet -----------------------------------------------------------------------------------


def test_quiet_sweep_prints_only_the_closing_line(tmp_path: Path) -> None:
    out = tmp_path / "r"
    r = invoke(
        [
            "sweep",
            "-q",
            "-w",
            "host:us=10",
            "--gaps",
            "0.001",
            "--iterations",
            "5",
            "--out",
            str(out),
            "--max-penalty",
            "100",
        ],
        80,
    )
    assert r.exit_code == 0, r.output
    assert r.stdout == "" and r.stderr.strip().splitlines() == [f"results saved in {out}"]
    assert (out / "report.html").exists()  # still written, only not said
    r = invoke(
        [
            "sweep",
            "--quiet",
            "--json",
            "-w",
            "host:us=10",
            "--gaps",
            "0.001",
            "--iterations",
            "5",
            "--out",
            str(tmp_path / "j"),
        ],
        80,
    )
    assert r.exit_code == 0 and len(json.loads(r.stdout)["conditions"]) == 2
    assert r.stderr.strip().splitlines() == [f"results saved in {tmp_path / 'j'}"]


def test_quiet_compare_piped(tmp_path: Path) -> None:
    out = tmp_path / "r"
    p = piped(
        ["compare", "-q", "-w", "host:us=10", "--gap", "0.001", "--rounds", "1", "--iterations", "5", "--out", str(out)]
    )  # the default policies: the note about those left out is not said either
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and p.stderr.strip().splitlines() == [f"results saved in {out}"]


def test_quiet_still_says_errors() -> None:
    r = invoke(["sweep", "-q", "-w", "host:us=10", "--gaps", "abc"], 80)
    assert r.exit_code == 2 and r.output.strip().startswith("error:")
    r = invoke(
        ["sweep", "-q", "-w", "host:us=10", "--gaps", "0.001", "--iterations", "5", "--out", "/proc/trtpace-no"], 80
    )
    assert r.exit_code != 0 and "error:" in r.output


def test_quiet_does_not_outlive_its_command(tmp_path: Path) -> None:
    from trtpace.cli import errors

    invoke(["sweep", "-q", "-w", "host:us=10", "--gaps", "0.001", "--iterations", "5", "--out", str(tmp_path / "a")])
    assert invoke(["env"]).exit_code == 0
    assert not errors.is_quiet()


# -- compare on host work ----------------------------------------------------------------------


def test_compare_on_host_work_leaves_out_what_needs_a_gpu(tmp_path: Path) -> None:
    r = invoke(
        [
            "compare",
            "-w",
            "host:us=10",
            "--gap",
            "0.001",
            "--rounds",
            "1",
            "--iterations",
            "5",
            "--out",
            str(tmp_path / "r"),
            "--no-report",
            "--json",
        ],
        80,
    )
    assert r.exit_code == 0, r.output
    notes = [line for line in r.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1, r.stderr
    left_out = [p for p in DEFAULT_POLICIES if p not in ("sleep", "spin")]
    assert notes[0].startswith(f"note: left out {', '.join(left_out)}: {GPU_ONLY}")
    assert notes[0].endswith("compared sleep, spin")
    assert [s["label"] for s in json.loads(r.stdout)["policies"]] == ["continuous", "sleep", "spin"]


@pytest.mark.parametrize("policies", ["keepwarm:1ms", "armed,prewarm:1ms", "locked:max"])
def test_compare_with_nothing_that_applies_is_one_line_exit_2(policies: str, tmp_path: Path) -> None:
    r = invoke(["compare", "-w", "host:us=10", "--policies", policies, "--out", str(tmp_path / "r")], 80)
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: none of the policies runs on host:us=10"), r.output
    assert not (tmp_path / "r").exists()


# -- progress ----------------------------------------------------------------------------------


def test_plans_match_what_runs_report() -> None:
    plan = parse_policies("sleep,spin,cpu-awake")
    planned = compare_plan(plan, 0.001, "host:us=10", None, rounds=2, count=6)
    result = trtpace.compare("host:us=10", 0.001, ["sleep", "spin", "cpu-awake"], rounds=2, iterations=5, warmup=1)
    assert len(planned) == len(result.conditions)
    assert [p.pacing.gap_s for p in planned] == [c.pacing.gap_s for c in result.conditions]
    assert [p.count for p in planned] == [c.count for c in result.conditions]
    pacings = [pacing.gap(0.0), pacing.gap(0.1)]
    assert [(p.pacing, p.group) for p in sweep_plan(2, pacings, 11, 1)] == [
        (pacings[0], "0"),
        (pacings[1], "0"),
        (pacings[0], "1"),
        (pacings[1], "1"),
    ]
    assert len(sweep_plan(3, pacings, 11, 2)) == 12


def test_progress_estimates_the_time_left_from_the_plan() -> None:
    t = [0.0]
    gap0, gap1 = pacing.gap(0.0), pacing.gap(0.1)
    plan = [Planned(gap0, 10, "a"), Planned(gap1, 10, "a"), Planned(gap1, 10, "b")]
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with OverallProgress(console, plan, now=lambda: t[0]) as bar:
        assert bar.left_s() == pytest.approx(2.0)  # 20 x 0.1 s of gaps, inference time not measured yet
        bar.condition_started("a", gap0, 10)
        t[0] = 0.05
        bar.advanced(5, 10)
        assert bar.left_s() == pytest.approx(5 * 0.01 + 2.0)  # the running one at its own pace
        t[0] = 0.1
        bar.condition_finished(SimpleNamespace(count=10))  # type: ignore[arg-type]
        bar.condition_started("a", gap1, 10)
        # (gap + the 10 ms per inference measured) for each inference left; b takes a's measure
        assert bar.left_s() == pytest.approx(20 * 0.11)
        t[0] = 1.2
        bar.condition_finished(SimpleNamespace(count=10))  # type: ignore[arg-type]
        bar.condition_started("b", gap1, 10)
        bar.condition_started("b", gap1, 10)  # one more than planned: taken as it comes
        assert len(bar.plan) == 4 and len(bar.bars.tasks) == 1  # one line, never one per condition
        assert bar.bars.tasks[0].fields["conditions"] == "4/4"
    assert bar.bars.live.transient
    assert clock(3725) == "1:02:05"
    period = Planned(pacing.period(0.01), 100)
    assert OverallProgress(console, [period]).left_s() == pytest.approx(1.0)


def _run_in_a_terminal(args: list[str], cwd: Path) -> str:
    """The command with stdin, stdout and stderr on a pseudo-terminal (100 columns); all it wrote."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    proc = subprocess.Popen([*TRTPACE, *args], stdin=slave, stdout=slave, stderr=slave, env=_env(), cwd=cwd)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def test_one_transient_progress_line_in_a_terminal(tmp_path: Path) -> None:
    out = _run_in_a_terminal(
        [
            "sweep",
            "-w",
            "host:us=20",
            "--gaps",
            "0,0.02",
            "--iterations",
            "40",
            "--out",
            str(tmp_path / "r"),
            "--no-report",
        ],
        tmp_path,
    )
    assert re.search(r"about \d:\d\d:\d\d left", out), out
    assert "2/2" in out and "━" in out  # the second of two conditions (the first may pass between redraws)
    last = out.rindex(" left")
    title = out.index("trtpace sweep", last)
    assert "\x1b[2K" in out[last:title]  # erased before the tables: transient
    quiet = _run_in_a_terminal(
        [
            "sweep",
            "-q",
            "-w",
            "host:us=20",
            "--gaps",
            "0.02",
            "--iterations",
            "20",
            "--out",
            str(tmp_path / "q"),
            "--no-report",
        ],
        tmp_path,
    )
    assert "━" not in quiet and " left" not in quiet
    assert quiet.strip().splitlines() == [f"results saved in {tmp_path / 'q'}"]
