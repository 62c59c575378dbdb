"""Launch paths: one vocabulary, per-path baselines, the switching line, --launch/--io on the CLI,
and compare across paths (host workloads stand in for the paths: the orchestration is the same)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.errors import UsageError
from trtpace.measure import pacing, workloads
from trtpace.measure.launch import LAUNCH_PATHS, launch_of, parse_launch
from trtpace.measure.policies import parse_policy
from trtpace.results import ConditionResult, SweepResult
from trtpace.results.policies import CONTINUOUS, summarize_policies, switch_lines


def test_parse_launch() -> None:
    assert parse_launch("eager, graph", LAUNCH_PATHS) == ["eager", "graph"]
    for bad, match in (
        ("", "at least one"),
        ("fast", "unknown launch path"),
        ("eager,eager", "twice"),
        ("python", "does not apply"),
    ):
        with pytest.raises(UsageError, match=match):
            parse_launch(bad, ("eager", "replay", "graph"))


def test_launch_of_normalises_workload_info() -> None:
    assert launch_of({"kind": "tensorrt", "launch": "direct"}) == "python"  # capture failed: enqueued from Python
    assert launch_of({"kind": "torch", "launch": "eager"}) == "eager"
    assert launch_of({"kind": "graph"}) == "graph"
    assert launch_of({"kind": "callable"}) == "python"
    assert launch_of({"kind": "host"}) == ""


def test_policy_launch_tokens_and_cpu_awake() -> None:
    assert parse_policy("eager+spin").launch == "eager"
    assert parse_policy("graph").launch == "graph"
    assert parse_policy("replay+cpu-awake").cpu_awake
    assert not parse_policy("spin").cpu_awake
    with pytest.raises(UsageError, match="cpu-awake"):
        parse_policy("cpu-sleepy")


def _as(path: str, us: float = 20) -> workloads.Workload:
    w = workloads.host(us, name="model")
    w.info["launch"] = path
    return w


def test_sweep_keeps_one_baseline_per_launch_path(tmp_path: Path) -> None:
    result = trtpace.sweep(
        [_as("eager", 60), _as("graph", 20)], gaps_s=[0.002], iterations=30, warmup=2, out=tmp_path / "r"
    )
    rows = result.rows()
    assert [(r["launch"], r["pacing"]["gap_s"]) for r in rows] == [
        ("eager", 0),
        ("eager", 0.002),
        ("graph", 0),
        ("graph", 0.002),
    ]
    eager_gap, graph_gap = result.conditions[1], result.conditions[3]
    assert result.baseline(eager_gap) is result.conditions[0]
    assert result.baseline(graph_gap) is result.conditions[2]
    # each path's penalty is against its own continuous run, not the other path's (60 vs 20 us):
    # exactly its p50 over its own baseline's (a loaded machine moves the numbers, not the pairing)
    p50 = [float(np.median(c.column("e2e_us"))) for c in result.conditions]
    assert rows[1]["penalty"] == pytest.approx(p50[1] / p50[0], rel=1e-6)
    assert rows[3]["penalty"] == pytest.approx(p50[3] / p50[2], rel=1e-6)
    switches = result.launch_switches()
    assert len(switches) == 1 and switches[0]["from"] == "eager" and switches[0]["to"] == "graph"
    assert "switching eager -> graph" in switches[0]["line"] and "gap 0.002 s" in switches[0]["line"]
    doc = json.loads((tmp_path / "r" / "sweep.json").read_text())
    assert [c["launch"] for c in doc["conditions"]] == ["eager", "eager", "graph", "graph"]
    loaded = trtpace.load(tmp_path / "r")
    assert [c.launch for c in loaded.conditions] == ["eager", "eager", "graph", "graph"]
    assert loaded.launch_switches()[0]["line"] == switches[0]["line"]


def test_compare_runs_every_policy_on_each_path_and_the_switch(tmp_path: Path) -> None:
    result = trtpace.compare(
        [_as("eager", 50)], 0.002, ["sleep", "spin"], rounds=2, iterations=10, warmup=1, switch_to=_as("graph", 15)
    )
    order = [(c.info["round"], c.policy, c.launch) for c in result.conditions]
    per_round = [
        (CONTINUOUS, "eager"),
        ("sleep", "eager"),
        ("spin", "eager"),
        (CONTINUOUS, "graph"),
        ("sleep", "graph"),
    ]
    assert order == [(r, p, lp) for r in range(2) for p, lp in per_round]
    assert result.settings["plain_policy"] == "sleep" and result.settings["switch_to"] == "graph"
    summaries = summarize_policies(result)
    labels = [s.label for s in summaries]
    assert labels == ["continuous (eager)", "sleep (eager)", "spin (eager)", "continuous (graph)", "sleep (graph)"]
    graph_sleep = summaries[-1]
    assert graph_sleep.switch and 0.5 < graph_sleep.penalty < 2  # against the graph path's own continuous rounds
    lines = switch_lines(summaries, "sleep")
    assert len(lines) == 1 and lines[0].startswith("switching eager -> graph:")


def test_compare_policy_naming_a_missing_path_is_refused() -> None:
    with pytest.raises(UsageError, match="needs launch path 'replay'"):
        trtpace.compare([_as("eager")], 0.002, ["replay"], rounds=1, iterations=5, warmup=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", "-w", "host:us=10", "--launch", "graph"], "--launch goes with --torch"),
        (["sweep", "-w", "host:us=10", "--io", "pinned"], "--io goes with --torch"),
        (["sweep", "--torch", "os:getcwd", "--launch", "python"], "does not apply"),
        (["sweep", "--torch", "os:getcwd", "--launch", "graph", "--io", "pageable"], "cannot go into a CUDA graph"),
        (["sweep", "--torch", "os:getcwd", "--io", "disk"], "--io must be one of"),
        (["compare", "-w", "host:us=10", "--launch", "eager"], "--launch and --io go with"),
        (["compare", "-w", "tiny", "--torch", "os:getcwd"], "not both"),
    ],
)
def test_cli_launch_and_io_errors_are_one_line(args: list[str], message: str) -> None:
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    assert len(r.output.strip().splitlines()) == 1 and message in r.output


def test_condition_without_launch_info_is_host_work() -> None:
    rec = {k: np.arange(3, dtype=np.int64) for k in ("due_ns", "issue_ns", "submitted_ns", "done_ns")}
    rec["device_us"] = np.zeros(3)
    c = ConditionResult("w", pacing.gap(0), "spin", "spin", 0, 3, rec)
    assert (c.launch, c.io) == ("", "none")
    assert SweepResult(conditions=[c]).rows()[0]["launch"] == ""
