"""The deployment gate of `trtpace sweep --max-penalty/--max-penalty-p99`: exit code 3 after
everything is printed and saved, one stderr line per condition over a limit."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.errors import EXIT_GATE, EXIT_USAGE
from trtpace.measure import pacing
from trtpace.results import ConditionResult, SweepResult
from trtpace.results.gate import check_limit, gate


def condition(workload: str, gap_s: float, e2e_us: list[float]) -> ConditionResult:
    """A closed-loop condition whose measured inferences took exactly `e2e_us`."""
    n = len(e2e_us)
    issue = np.arange(n, dtype=np.int64) * 10_000_000
    done = issue + (np.asarray(e2e_us) * 1e3).astype(np.int64)
    records = {
        "due_ns": issue,
        "issue_ns": issue,
        "submitted_ns": issue + 1000,
        "done_ns": done,
        "device_us": np.asarray(e2e_us, dtype=np.float64),
    }
    return ConditionResult(workload, pacing.gap(gap_s), "hybrid", "spin", 0, n, records)


def constructed() -> SweepResult:
    # Baseline p50 100, p99 ~199; gap 0.1: p50 x1.3, p99 ~x1.0; gap 0.2: p50 x1.1, p99 x2.
    base = [100.0] * 98 + [190.0, 200.0]
    slow_median = [130.0] * 98 + [190.0, 200.0]
    slow_tail = [110.0] * 98 + [380.0, 400.0]
    return SweepResult([condition("m", 0, base), condition("m", 0.1, slow_median), condition("m", 0.2, slow_tail)])


def test_p50_gate_names_the_conditions_over_the_limit() -> None:
    r = constructed()
    assert r.penalty(r.conditions[1]) == pytest.approx(1.3)
    failures = gate(r, max_p50=1.2)
    assert [(f.condition.pacing.gap_s, f.stat) for f in failures] == [(0.1, "p50")]
    assert failures[0].line() == "m, gap 0.1 s: p50 penalty 1.30x > 1.2x"
    assert gate(r, max_p50=1.3) == []  # at the limit passes
    assert len(gate(r, max_p50=1.05)) == 2


def test_p99_gate_is_separate_from_p50() -> None:
    r = constructed()
    assert r.penalty(r.conditions[2], "p99") == pytest.approx(2.0, rel=0.01)
    failures = gate(r, max_p99=1.5)
    assert [(f.condition.pacing.gap_s, f.stat) for f in failures] == [(0.2, "p99")]
    both = gate(r, max_p50=1.2, max_p99=1.5)
    assert [(f.condition.pacing.gap_s, f.stat) for f in both] == [(0.1, "p50"), (0.2, "p99")]
    assert gate(r) == []  # no limits, no gate


def test_baseline_is_not_gated_but_a_missing_baseline_fails() -> None:
    r = constructed()
    # A limit below 1 fails every gap condition, never the baseline itself (1.0 by definition).
    assert [f.condition.pacing.gap_s for f in gate(r, max_p50=0.5)] == [0.1, 0.2]
    orphan = SweepResult([condition("other", 0.1, [100.0] * 10)])
    (f,) = gate(orphan, max_p50=10)
    assert math.isnan(f.penalty) and "unknown" in f.line()


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_limits_must_be_positive_ratios(bad: float) -> None:
    with pytest.raises(trtpace.UsageError, match="--max-penalty must be a number > 0"):
        check_limit("--max-penalty", bad)
    assert check_limit("--max-penalty", None) is None
    assert check_limit("--max-penalty", 1.2) == 1.2


def sweep(tmp_path: Path, *limits: str):
    return CliRunner().invoke(
        app,
        [
            "sweep",
            "-w",
            "host:us=20",
            "--gaps",
            "0.001",
            "--iterations",
            "20",
            "--warmup",
            "2",
            "--out",
            str(tmp_path / "r"),
            "--no-report",
            *limits,
        ],
    )


def test_cli_gate_fails_with_code_3_after_saving(tmp_path: Path) -> None:
    # A host workload shows no penalty (~1.0x), so a limit of 0.5 must fail it.
    r = sweep(tmp_path, "--max-penalty", "0.5")
    assert r.exit_code == EXIT_GATE, r.output
    assert "trtpace sweep" in r.stdout  # the table was printed
    assert len(trtpace.load(tmp_path / "r").conditions) == 2  # and everything saved
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("gate failed:")]
    assert len(lines) == 1
    assert re.fullmatch(r"gate failed: host:us=20, gap 0\.001 s: p50 penalty \d+\.\d\dx > 0\.5x", lines[0])


def test_cli_gate_p99_and_pass(tmp_path: Path) -> None:
    # p99 of 20 inferences is nearly their maximum: one scheduling hiccup in the baseline can halve
    # the ratio, so the failing limit sits far below any ratio a host workload can give.
    r = sweep(tmp_path, "--max-penalty-p99", "0.001")
    assert r.exit_code == EXIT_GATE, r.output
    assert "p99 penalty" in r.stderr and "p50" not in r.stderr
    # Passing: p50 of a host workload stays near 1x; p99 of 20 host inferences on a busy CI
    # machine can be a scheduling hiccup of milliseconds, so its limit only has to be finite.
    r = sweep(tmp_path / "pass", "--max-penalty", "10", "--max-penalty-p99", "1e6")
    assert r.exit_code == 0, r.output
    assert "latency gate passed (p50 <= 10x, p99 <= 1e+06x)" in r.stderr


def test_cli_bad_limit_is_a_usage_error_before_running(tmp_path: Path) -> None:
    r = sweep(tmp_path, "--max-penalty", "0")
    assert r.exit_code == EXIT_USAGE
    assert r.stderr.strip().startswith("error: --max-penalty must be a number > 0")
    assert not (tmp_path / "r").exists()
