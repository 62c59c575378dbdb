"""Remedy policies: parsing, interleaving, recommendation and cost arithmetic (no GPU needed)."""

from __future__ import annotations

import html
import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.errors import UsageError
from trtpace.measure import pacing
from trtpace.measure.policies import parse_policies, parse_policy
from trtpace.results import CompareTag, RunStats
from trtpace.results.policies import CONTINUOUS, PolicySummary, recommend, summarize_policies


def test_parse_tokens_and_combinations() -> None:
    p = parse_policy("spin+keepwarm:1ms")
    assert (p.wait, p.keepwarm_period_ms, p.keepwarm_work_us) == ("spin", 1.0, 5.0)
    assert p.runner_kwargs()["keepwarm_period_ns"] == 1_000_000 and p.runner_kwargs()["keepwarm_work_ns"] == 5_000
    p = parse_policy("prewarm:2ms:20us")
    assert (p.prewarm_lead_ms, p.prewarm_work_us, p.wait) == (2.0, 20.0, "hybrid")
    assert parse_policy("sync-block").sync == "block" and parse_policy("direct").launch == "direct"
    assert parse_policy("locked:max").lock_clocks == "max"
    assert parse_policy("keepwarm:500us").keepwarm_period_ms == 0.5
    assert parse_policy("prewarm-stream:200us").prewarm_target == "stream"
    g = parse_policy("prewarm-graph:100us")
    assert (g.prewarm_target, g.prewarm_work_us, g.runner_kwargs()["prewarm_lead_ns"]) == ("graph", 0.0, 100_000)
    assert [p.name for p in parse_policies("sleep,spin,keepwarm:1ms")] == ["sleep", "spin", "keepwarm:1ms"]
    h = parse_policy("armed:kernel+hybrid:2ms")
    assert (h.wait, h.hybrid_margin_ms, h.armed_gate) == ("hybrid", 2.0, "kernel")
    assert h.runner_kwargs()["hybrid_margin_ns"] == 2_000_000
    assert parse_policy("hybrid").runner_kwargs()["hybrid_margin_ns"] == 0  # 0: the calibrated margin
    assert parse_policy("armed:kernel+sync-flag").sync == "flag"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nap", "unknown policy"),
        ("keepwarm", "expected keepwarm:TIME"),
        ("keepwarm:1", "needs a number with a unit"),
        ("keepwarm:0ms", "must be > 0"),
        ("keepwarm:1ms:2ms", "shorter than the period"),
        ("prewarm:1h", "unit"),
        ("locked:", "expected locked:max"),
        ("", "empty policy"),
        ("prewarm:100us:200us", "shorter than the lead"),
        ("hybrid:6ms", "at most 5ms"),
        ("hybrid:0us", "must be > 0"),
        ("hybrid:", "needs a number"),
    ],
)
def test_bad_policies(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_policy(text)


def test_duplicate_policies_rejected() -> None:
    with pytest.raises(UsageError, match="twice"):
        parse_policies("spin,spin")


def test_compare_interleaves_rounds_with_a_baseline() -> None:
    result = trtpace.compare("host:us=10", 0.001, ["sleep", "spin"], rounds=3, iterations=8, warmup=1)
    order = [(c.info["round"], c.policy, c.pacing.gap_s) for c in result.conditions]
    assert order == [(r, p, g) for r in range(3) for p, g in ((CONTINUOUS, 0.0), ("sleep", 0.001), ("spin", 0.001))]
    summaries = summarize_policies(result)
    assert [s.policy for s in summaries] == [CONTINUOUS, "sleep", "spin"]
    assert all(s.rounds == 3 and s.e2e_us["n"] == 24 for s in summaries)
    cont = summaries[0]
    assert cont.penalty == 1.0
    # spin burns a core (less of one when other processes compete for it); sleep almost nothing
    spin = summaries[2]
    sleep = summaries[1]
    assert spin.cpu_pct > 25 and sleep.cpu_pct * 2 < spin.cpu_pct


def _summary(
    name: str, p99: float, power: float, cpu: float, *, n: int = 200, half: float = 1.0, p50: float | None = None
) -> PolicySummary:
    """A policy's pooled summary with 95% intervals of +-`half` us around its p50 and p99."""
    p50 = p99 * 0.9 if p50 is None else p50
    s = {
        "n": n,
        "p50": p50,
        "p90": p99,
        "p99": p99,
        "max": p99,
        "mean": p99,
        "cov": 0.1,
        "p50_ci_low": p50 - half,
        "p50_ci_high": p50 + half,
        "p99_ci_low": p99 - half,
        "p99_ci_high": p99 + half,
        "p99_reliable": n >= 1000,
    }
    nan = dict.fromkeys(s, math.nan)
    return PolicySummary(name, 1, s, nan, nan, nan, nan, nan, 1.0, power, math.nan, cpu)


def test_a_clear_winner_is_named_with_the_next_one() -> None:
    rec = recommend(
        [
            _summary(CONTINUOUS, 50, 400, 100),
            _summary("spin", 100, 150, 100),
            _summary("keepwarm:1ms", 120, 140, 10),
            _summary("sleep", 140, 110, 1),
        ]
    )
    assert rec is not None and rec["outcome"] == "winner" and rec["recommended"] == "spin"
    assert rec["ranked_on"] == "p50" and rec["tied"] == []
    assert rec["line"].startswith(
        "spin is fastest on p50: spin 0.090 ms [0.089, 0.091], clear of the next: "
        "keepwarm:1ms 0.108 ms [0.107, 0.109]; use spin (p50 0.090 ms, 150 W"
    )
    assert "ranked on p50: a p99 of 200 inferences per policy rests on 2 sample(s) beyond it" in rec["line"]
    assert [r["policy"] for r in rec["ranking"]] == ["spin", "keepwarm:1ms", "sleep"]
    assert recommend([_summary(CONTINUOUS, 50, 1, 1)]) is None


def test_overlapping_intervals_name_no_winner() -> None:
    # spin is lowest, but keepwarm's interval overlaps it: the same at this n; the cheaper of the two
    rec = recommend(
        [
            _summary("spin", 100, 150, 100, half=5),
            _summary("keepwarm:1ms", 104, 140, 10, half=5),
            _summary("sleep", 140, 110, 1, half=5),
        ]
    )
    assert rec is not None and rec["outcome"] == "same" and rec["tied"] == ["spin", "keepwarm:1ms"]
    assert rec["recommended"] == "keepwarm:1ms"
    assert "is fastest" not in rec["line"] and "none is a winner" in rec["line"]
    assert rec["line"].startswith("no difference at this n on p50 between spin, keepwarm:1ms (95% intervals")
    assert "the cheapest of them: keepwarm:1ms (p50 0.094 ms, 140 W, 10% of a core)" in rec["line"]
    # without power readings the cheaper CPU wins among the same
    rec = recommend([_summary("spin", 100, math.nan, 100, half=5), _summary("prewarm:2ms", 104, math.nan, 3, half=5)])
    assert rec["recommended"] == "prewarm:2ms" and " W" not in rec["line"].split("cheapest of them:")[1]


def test_within_one_percent_is_the_same_however_narrow_the_intervals() -> None:
    rec = recommend([_summary("spin", 100, 150, 100, half=0.01), _summary("sleep", 100.5, 110, 1, half=0.01)])
    assert rec["outcome"] == "same" and rec["recommended"] == "sleep"


def test_p99_ranks_only_with_1000_inferences_per_policy() -> None:
    # p50 says sleep, p99 says spin; with 1,000 each the tail decides
    few = [_summary("spin", 100, 150, 100, p50=95), _summary("sleep", 140, 110, 1, p50=80)]
    rec = recommend(few)
    assert rec["ranked_on"] == "p50" and rec["recommended"] == "sleep"
    many = [_summary("spin", 100, 150, 100, p50=95, n=1000), _summary("sleep", 140, 110, 1, p50=80, n=1000)]
    rec = recommend(many)
    assert rec["ranked_on"] == "p99" and rec["recommended"] == "spin" and rec["why"] == ""
    assert rec["line"].startswith("spin is fastest on p99: spin 0.100 ms [0.099, 0.101]")


def test_the_recommendation_says_how_to_deploy_it() -> None:
    armed = _summary("armed", 100, 150, 10)
    armed.armed_gate, armed.launch = "wait", "graph"
    rec = recommend([armed, _summary("sleep", 200, 110, 1)])
    assert rec["recommended"] == "armed"
    assert rec["deploy"]["python"][0] == 'pacer = trtpace.Pacer(w, armed="wait")'
    assert "config.arm.gate = trtpace::GateKind::wait;" in rec["deploy"]["cpp"]


def test_energy_and_power_arithmetic_per_policy() -> None:
    from test_attribution import _condition

    a = _condition(0.1, 66, 6, 110, 3)
    a.policy, a.stats, a.compare_tag = "spin", RunStats(cpu_ns=50 * 10**9), CompareTag(round=0)
    base = _condition(0.0, 6, 2, 101, 3)
    base.policy, base.stats, base.compare_tag = CONTINUOUS, RunStats(cpu_ns=199 * 10**9), CompareTag(round=0)
    (_c, s) = summarize_policies(trtpace.SweepResult(conditions=[base, a]))
    assert s.power_mean_w == pytest.approx(200.0) and s.energy_per_inference_mj == pytest.approx(29.85)
    wall = a.records["done_ns"][-1] - a.records["issue_ns"][0]
    assert s.cpu_pct == pytest.approx(100 * 50e9 / wall)
    assert s.penalty == pytest.approx(np.median(a.column("e2e_us")) / np.median(base.column("e2e_us")))
    assert math.isnan(s.sm_held_pct)  # results from before SM time was recorded say so, not 0


def test_sm_held_counts_the_kernel_gate_from_arm_to_release_and_fillers() -> None:
    from test_attribution import _condition

    c = _condition(0.1, 2, 2, 100, 3)
    wall = float(c.records["done_ns"][-1] - c.records["issue_ns"][0])
    c.records["armed_ns"] = c.records["issue_ns"] - 900_000_000  # armed 0.9 s before each 1 s-spaced issue
    c.stats = RunStats(filler_work_ns=0, armed_gate="kernel")
    assert c.sm_held_pct() == pytest.approx(100 * 200 * 0.9e9 / wall)
    # a stream memory wait holds no SM, only the filler work counts
    c.stats = RunStats(filler_work_ns=1_000_000_000, armed_gate="wait")
    assert c.sm_held_pct() == pytest.approx(100 * 1e9 / wall)


def test_compare_cli(tmp_path) -> None:
    r = CliRunner().invoke(
        app,
        [
            "compare",
            "-w",
            "host:us=10",
            "--gap",
            "0.001",
            "--policies",
            "sleep,spin",
            "--rounds",
            "2",
            "--iterations",
            "10",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    import json

    doc = json.loads(r.stdout)
    assert [p["policy"] for p in doc["policies"]] == [CONTINUOUS, "sleep", "spin"]
    assert doc["recommendation"]["recommended"] in ("sleep", "spin")
    assert doc["recommendation"]["ranked_on"] == "p50"  # 20 inferences per policy: no p99 ranking
    assert doc["recommendation"]["deploy"]["python"][0].startswith("pacer = trtpace.Pacer(w")
    assert len(trtpace.load(tmp_path).conditions) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gap", "0"], "gap > 0"),
        (["--policies", "nap"], "unknown policy"),
        (["--rounds", "0"], "rounds must be"),
        (["--policies", "keepwarm:1ms"], "need a GPU workload"),
        (["--policies", "armed:kernel"], "need a GPU workload"),
        (["-w", "resnet"], "unknown workload"),
    ],
)
def test_compare_bad_input_is_one_line(tmp_path, args: list[str], message: str) -> None:
    r = CliRunner().invoke(app, ["compare", "-w", "host:us=1", "--out", str(tmp_path), *args])
    assert r.exit_code == 2, r.output
    assert len(r.output.strip().splitlines()) == 1 and message in r.output


def test_armed_runs_on_graph_paths_and_beside_python_ones() -> None:
    """Armed policies naming no path skip eager and python (they cannot be queued whole) and run on
    the graph an app on those paths could switch to; naming such a path is refused."""
    from trtpace import _core
    from trtpace.measure.workloads import Workload
    from trtpace.run.compare import plan_steps

    def wl(launch: str) -> Workload:
        return Workload(name="m", core=_core.HostWorkload(1.0), info={"kind": "torch", "launch": launch})

    plan = parse_policies("sleep,armed,keepwarm:1ms")
    gap = pacing.gap(0.1)
    steps, plain = plan_steps(plan, gap, {"eager": wl("eager"), "replay": wl("replay")}, wl("graph"))
    got = [(p.name, w.info["launch"] if w else None, switch) for p, _, w, switch in steps]
    assert got == [
        ("continuous", "eager", False),
        ("sleep", "eager", False),
        ("keepwarm:1ms", "eager", False),
        ("continuous", "replay", False),
        ("sleep", "replay", False),
        ("armed", "replay", False),
        ("keepwarm:1ms", "replay", False),
        ("continuous", "graph", True),
        ("sleep", "graph", True),
        ("armed", "graph", True),
    ]
    assert plain.name == "sleep"
    with pytest.raises(UsageError, match="armed launch queues a whole inference"):
        trtpace.compare([wl("eager")], 0.1, ["eager+armed"])


def test_what_plain_armed_chose_is_said_once_in_tables_json_and_report(capsys: pytest.CaptureFixture[str]) -> None:
    from test_attribution import _condition
    from trtpace.cli.output import print_compare
    from trtpace.report.html import render_html
    from trtpace.results.policies import armed_choices

    line = "armed: the kernel gate (median e2e at 20 ms gaps: kernel 108.6 us, wait 109.0 us)"
    base = _condition(0.0, 6, 2, 101, 3)
    base.policy, base.compare_tag = CONTINUOUS, CompareTag(round=0)
    rounds = []
    for r in range(2):
        c = _condition(0.1, 2, 2, 100, 3)
        c.policy, c.compare_tag = "armed", CompareTag(round=r)
        c.stats = RunStats(armed_choice=line, armed_gate="kernel")
        rounds.append(c)
    result = trtpace.SweepResult(
        conditions=[base, *rounds], settings={"command": "compare", "workload": "tiny", "gap_s": 0.1}
    )
    assert armed_choices(result) == [line]
    assert render_html(result).count(html.escape(line)) == 1
    print_compare(result, False)
    assert line in capsys.readouterr().out
    print_compare(result, True)
    assert json.loads(capsys.readouterr().out)["armed_choice"] == [line]
