"""The one computed view (trtpace.report.view): frozen, and what the terminal, the HTML report and
--json show of a compare and a sweep is what it holds."""

from __future__ import annotations

import dataclasses
import html
import json

import pytest

import trtpace
from trtpace.cli.output import print_compare
from trtpace.report.html import render_html
from trtpace.report.view import compare_view, sweep_view
from trtpace.results.info import CompareTag
from trtpace.results.verdict import verdicts_json


def _compare() -> trtpace.SweepResult:
    from test_attribution import _condition

    base = _condition(0.0, 6, 2, 101, 3)
    base.policy, base.compare_tag = "continuous", CompareTag(round=0)
    rounds = []
    for r in range(2):
        for name, us in (("sleep", 140), ("spin", 100)):
            c = _condition(0.1, 2, 2, us, 3)
            c.policy, c.compare_tag = name, CompareTag(round=r)
            rounds.append(c)
    return trtpace.SweepResult(
        conditions=[base, *rounds], settings={"command": "compare", "workload": "tiny", "gap_s": 0.1}
    )


def test_the_compare_view_is_frozen_and_every_output_shows_it(capsys: pytest.CaptureFixture[str]) -> None:
    result = _compare()
    view = compare_view(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.groups = ()  # type: ignore[misc]
    assert not view.multi_gpu and len(view.groups) == 1
    group = view.groups[0]
    assert group.recommendation is not None
    line = group.recommendation["line"]
    print_compare(view, True)
    doc = json.loads(capsys.readouterr().out)
    assert doc["recommendation"]["line"] == line
    assert [p["policy"] for p in doc["policies"]] == [s.policy for s in group.policies]
    assert list(doc) == ["environment", "settings", "policies", "recommendation", "armed_choice", "switching"]
    print_compare(view, False)
    assert f"recommendation: {line}" in capsys.readouterr().out
    assert html.escape(line) in render_html(result)


def test_the_sweep_view_carries_the_verdict_json_says() -> None:
    from test_attribution import _condition

    result = trtpace.SweepResult(conditions=[_condition(0.0, 6, 2, 101, 3), _condition(0.1, 2, 2, 140, 3)])
    view = sweep_view(result)
    assert view.verdict_json() == verdicts_json(result)
    assert view.groups[0].rows == view.rows and len(view.rows) == 2  # one GPU: its group is the run
