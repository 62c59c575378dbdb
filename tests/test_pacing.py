"""Parsing gaps, open-loop schedules and trace files, with one clear error for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from trtpace.errors import UsageError
from trtpace.measure import pacing


def test_parse_gaps_in_order_without_duplicates() -> None:
    gaps = pacing.parse_gaps(" 0, 0.1,0.2,0.1 ")
    assert [g.gap_s for g in gaps] == [0.0, 0.1, 0.2]
    assert gaps[0].is_continuous and not gaps[1].is_continuous
    assert gaps[1].label == "gap 0.1 s"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "comma-separated"),
        ("0,,0.1", "comma-separated"),
        ("0,abc", "not a number"),
        ("-0.1", ">= 0"),
        ("nan", "finite"),
        ("inf", "finite"),
        ("7200", "limit"),
    ],
)
def test_bad_gaps_are_rejected(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        pacing.parse_gaps(text)


def test_open_loop_constructors_validate() -> None:
    assert pacing.period(0.01).open_loop
    assert pacing.poisson(50, seed=3).seed == 3
    for bad in (lambda: pacing.period(0), lambda: pacing.poisson(-1), lambda: pacing.poisson(float("nan"))):
        with pytest.raises(UsageError):
            bad()


def test_to_core_matches_kind() -> None:
    assert pacing.period(0.002).to_core(4).offsets_ns.tolist() == [0, 2_000_000, 4_000_000, 6_000_000]
    assert pacing.gap(0.5).to_core(1).gap_ns == 500_000_000
    assert len(pacing.poisson(100).to_core(9).offsets_ns) == 9


def test_trace_file_relative_to_first_due_time(tmp_path: Path) -> None:
    f = tmp_path / "arrivals.csv"
    f.write_text("time_s,frame\n# camera log\n10.0,1\n10.033,2\n\n10.1,3 # late frame\n")
    p = pacing.trace(f)
    assert p.trace_offsets_ns == (0, 33_000_000, 100_000_000)
    assert p.open_loop and p.label == "trace arrivals.csv"
    assert pacing.Pacing.from_json(p.to_json()) == p


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "no due times"), ("0\n0.2\n0.1\n", "must not decrease"), ("0\nx\n", "not a time"), ("-1\n", ">= 0")],
)
def test_bad_trace_files(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "t.txt"
    f.write_text(content)
    with pytest.raises(UsageError, match=message):
        pacing.trace(f)


def test_missing_trace_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read trace file"):
        pacing.trace(tmp_path / "nope.txt")


@pytest.mark.parametrize("seconds", [1e-12, 1e-9, 5e-7])
def test_a_period_below_the_loop_resolution_is_refused_up_front(seconds: float) -> None:
    with pytest.raises(UsageError, match="at least 1 us"):
        pacing.period(seconds)


@pytest.mark.parametrize("seed", [-1, 2**64, 2**80, True])
def test_a_seed_outside_uint64_is_refused_up_front(seed: int) -> None:
    with pytest.raises(UsageError, match="seed"):
        pacing.poisson(10.0, seed)


@pytest.mark.parametrize(
    "args", [["--period", "1e-12"], ["--rate", "10", "--seed", str(2**64)], ["--rate", "10", "--seed", "-1"]]
)
def test_bad_open_loop_arguments_fail_before_any_work(tmp_path: Path, args: list[str]) -> None:
    import subprocess
    import sys

    out = tmp_path / "r"
    r = subprocess.run(
        [sys.executable, "-m", "trtpace", "sweep", "-w", "host:us=20", "--iterations", "5", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not out.exists()  # nothing ran, nothing was written
