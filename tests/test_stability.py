"""--until-stable's stopping rule: its quantile interval, its parsing, and a run that stops itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trtpace.errors import UsageError
from trtpace.measure import pacing, workloads
from trtpace.measure.runner import run_paced
from trtpace.measure.stability import StableTarget, is_stable, parse_target, quantile_interval


@pytest.mark.parametrize(("text", "rel"), [("2%", 0.02), ("0.02", 0.02), (0.05, 0.05), (" 10% ", 0.1)])
def test_targets_parse(text: object, rel: float) -> None:
    assert parse_target(text).rel == pytest.approx(rel)  # type: ignore[arg-type, union-attr]


@pytest.mark.parametrize("text", ["x", "2%%", "nan", "0", "60%", "-1%", "inf"])
def test_bad_targets_say_why(text: str) -> None:
    with pytest.raises(UsageError, match="--until-stable"):
        parse_target(text)


def test_no_target_runs_every_iteration() -> None:
    assert parse_target(None) is None and parse_target("") is None


@settings(max_examples=50, deadline=None)
@given(st.integers(200, 5000), st.sampled_from([0.5, 0.9, 0.99]), st.integers(0, 2**32 - 1))
def test_the_interval_holds_the_sample_quantile(n: int, q: float, seed: int) -> None:
    x = np.random.default_rng(seed).lognormal(4.0, 0.3, n)
    lo, mid, hi = quantile_interval(x, q)
    assert lo <= mid <= hi
    assert lo <= np.quantile(x, q) <= hi


def test_the_interval_covers_the_true_quantile_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(1)
    true_p50 = np.exp(4.0)  # the lognormal's median
    covered = sum(
        lo <= true_p50 <= hi for lo, _, hi in (quantile_interval(rng.lognormal(4.0, 0.3, 400), 0.5) for _ in range(400))
    )
    assert 0.91 <= covered / 400 <= 0.99


def test_stable_needs_enough_samples_and_a_narrow_interval() -> None:
    rng = np.random.default_rng(2)
    tight = rng.normal(100.0, 1.0, 5000)
    assert is_stable(tight, StableTarget(0.02))
    assert not is_stable(tight[:500], StableTarget(0.02))  # too few for p99
    assert is_stable(tight[:500], StableTarget(0.02, (0.5,)))
    wide = rng.lognormal(4.0, 1.5, 5000)
    assert not is_stable(wide, StableTarget(0.02))


def test_a_run_stops_once_stable_and_not_before() -> None:
    w = workloads.host(20)
    cap = 2_000_000
    out = run_paced(
        w, pacing.gap(0.0), iterations=cap, warmup=10, wait="spin", sync="spin", until_stable=StableTarget(0.05)
    )
    n = out.records["done_ns"].size - 10
    assert out.stable and out.error is None and out.interrupted is None
    assert 1_000 <= n < cap
    e2e = out.records["done_ns"][10:] - out.records["issue_ns"][10:]
    # what it stopped on holds for the rows it judged; the loop ran on a little while it judged
    # (on a loaded machine the rows after them may widen the interval again: they are kept, not judged)
    assert 1_000 <= out.stable_at <= n
    assert is_stable(e2e[: out.stable_at], StableTarget(0.05))
    capped = run_paced(
        w, pacing.gap(0.0), iterations=300, warmup=0, wait="spin", sync="spin", until_stable=StableTarget(0.001)
    )
    assert not capped.stable and capped.records["done_ns"].size == 300
