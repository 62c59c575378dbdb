"""--append never pools unlike runs: a compare (which pools each policy's rounds) is refused in one
line onto a run of another GPU, workload, gap, launch paths, host I/O or gap work, changing nothing; a
sweep keeps each appended run's rows apart, each condition against its own run's baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import trtpace
from trtpace.cli import app
from trtpace.measure import pacing
from trtpace.results import ConditionResult, GpuIdentity, Placement, SweepResult, save
from trtpace.results.policies import summarize_policies

runner = CliRunner()
COMPARE = ["compare", "--policies", "sleep,spin", "--rounds", "1", "--iterations", "5", "--warmup", "0"]


def _one_error_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), text
    return lines[0]


@pytest.mark.parametrize(
    ("other", "said"),
    [
        (["-w", "host:us=7", "--gap", "0.002"], "workload host:us=5, not host:us=7"),
        (["-w", "host:us=5", "--gap", "0.003"], "gap 0.002 s, not 0.003 s"),
        (["-w", "host:us=5", "--gap", "0.002", "--gap-work", "busy:1ms"], "--gap-work none, not busy:1ms"),
        (["-w", "host:us=7", "--gap", "0.003"], "workload host:us=5, not host:us=7; gap 0.002 s, not 0.003 s"),
    ],
)
def test_compare_append_of_an_unlike_run_is_refused(tmp_path: Path, other: list[str], said: str) -> None:
    out = tmp_path / "c"
    assert runner.invoke(app, [*COMPARE, "-w", "host:us=5", "--gap", "0.002", "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = runner.invoke(app, [*COMPARE, *other, "--out", str(out), "--append"])
    assert r.exit_code == 2, r.output
    line = _one_error_line(r.stderr)
    assert "--append:" in line and said in line and "would pool" in line, line
    assert r.stdout == ""  # refused before any work
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # The same run pools: each policy has both runs' rounds.
    r = runner.invoke(app, [*COMPARE, "-w", "host:us=5", "--gap", "0.002", "--out", str(out), "--append"])
    assert r.exit_code == 0, r.output
    assert {s.policy: s.rounds for s in summarize_policies(trtpace.load(out))} == {
        "continuous": 2,
        "sleep": 2,
        "spin": 2,
    }


def test_compare_append_checks_launch_paths_and_host_copies(tmp_path: Path) -> None:
    out = tmp_path / "c"
    trtpace.compare("host:us=5", 0.002, ["sleep"], rounds=1, iterations=3, warmup=0, out=out)
    doc = json.loads((out / "sweep.json").read_text())
    for key, value, said in (
        ("launch", ["eager", "graph"], "launch paths eager, graph, not -"),
        ("io", ["pinned"], "--io pinned, not none"),
    ):
        changed = json.loads(json.dumps(doc))
        changed["settings"][key] = value
        (out / "sweep.json").write_text(json.dumps(changed))
        with pytest.raises(trtpace.UsageError, match=said):
            trtpace.compare("host:us=5", 0.002, ["sleep"], rounds=1, iterations=3, out=out, out_mode="append")
    # Measured on another GPU (here: the earlier run on an H100, this one on the host).
    changed = json.loads(json.dumps(doc))
    changed["environment"]["gpu"] = {"uuid": "GPU-5f1c", "name": "NVIDIA H100", "index": 0}
    (out / "sweep.json").write_text(json.dumps(changed))
    with pytest.raises(trtpace.UsageError, match="GPU GPU-5f1c, not none"):
        trtpace.compare("host:us=5", 0.002, ["sleep"], rounds=1, iterations=3, out=out, out_mode="append")
    # A compare written before the settings named its host copies: its conditions say them.
    del doc["settings"]["io"]
    (out / "sweep.json").write_text(json.dumps(doc))
    trtpace.compare("host:us=5", 0.002, ["sleep"], rounds=1, iterations=3, warmup=0, out=out, out_mode="append")
    assert len(trtpace.load(out).conditions) == 4


def _condition(workload: str, gap: float, e2e_us: float, n: int = 50) -> ConditionResult:
    issue = np.arange(n, dtype=np.int64) * 10_000_000
    done = issue + int(e2e_us * 1000)
    records = {
        "due_ns": issue,
        "issue_ns": issue,
        "submitted_ns": issue + 1000,
        "done_ns": done,
        "device_us": np.full(n, e2e_us * 0.9),
    }
    return ConditionResult(workload, pacing.gap(gap), "spin", "spin", 0, n, records)


def test_sweep_append_keeps_each_runs_rows_against_its_own_baseline(tmp_path: Path) -> None:
    """Run 0 measured `model` at 100 us, run 1 (another precision, the same name) at 1000 us: run
    1's gap condition is 1.1x its own baseline, not 11x run 0's."""
    out = tmp_path / "r"
    save(SweepResult([_condition("model", 0.0, 100), _condition("model", 0.01, 120)], {}, {"command": "sweep"}), out)
    save(
        SweepResult([_condition("model", 0.0, 1000), _condition("model", 0.01, 1100)], {}, {"command": "sweep"}),
        out,
        mode="append",
    )
    loaded = trtpace.load(out)
    assert [c.run for c in loaded.conditions] == [0, 0, 1, 1]
    rows = loaded.rows()
    assert [r["run"] for r in rows] == [0, 0, 1, 1]
    assert [round(r["penalty"], 2) for r in rows] == [1.0, 1.2, 1.0, 1.1]
    assert rows[3]["attribution"]["delta_p50_us"] == pytest.approx(100)
    doc = json.loads((out / "sweep.json").read_text())
    assert [e["run"] for e in doc["conditions"]] == [0, 0, 1, 1]
    copy = trtpace.load(save(loaded, tmp_path / "copy"))  # a copy keeps the runs apart
    assert [c.run for c in copy.conditions] == [0, 0, 1, 1] and [c.run for c in loaded.conditions] == [0, 0, 1, 1]
    assert [round(r["penalty"], 2) for r in copy.rows()] == [1.0, 1.2, 1.0, 1.1]


def test_sweep_append_of_another_workload_and_gap_keeps_rows_apart(tmp_path: Path) -> None:
    out = tmp_path / "r"
    sweep = ["sweep", "--iterations", "5", "--warmup", "0", "--out", str(out)]
    assert runner.invoke(app, [*sweep, "-w", "host:us=5", "--gaps", "0.001"]).exit_code == 0
    r = runner.invoke(app, [*sweep, "-w", "host:us=9", "-w", "host:us=5", "--gaps", "0.002", "--append"])
    assert r.exit_code == 0, r.output
    loaded = trtpace.load(out)
    assert [(c.workload, c.pacing.gap_s, c.run) for c in loaded.conditions] == [
        ("host:us=5", 0.0, 0),
        ("host:us=5", 0.001, 0),
        ("host:us=9", 0.0, 1),
        ("host:us=9", 0.002, 1),
        ("host:us=5", 0.0, 1),
        ("host:us=5", 0.002, 1),
    ]
    for c in loaded.conditions:  # each against the baseline of its own workload and run
        b = loaded.baseline(c)
        assert b is not None and (b.workload, b.run) == (c.workload, c.run) and b.pacing.is_continuous
    r = runner.invoke(app, ["report", str(out), "--json"])
    rows = json.loads(r.stdout)["conditions"]
    assert len(rows) == 6 and [x["run"] for x in rows] == [0, 0, 1, 1, 1, 1]


def test_multi_gpu_rounds_pool_within_one_run(tmp_path: Path) -> None:
    """Together vs alone pools a condition's rounds; an appended run's rounds stay apart (run 0:
    together 1.5x slower; run 1, another load on the machine: no change)."""

    def run(together_us: float, alone_us: float) -> SweepResult:
        conditions = []
        for mode, e2e in (("together", together_us), ("alone", alone_us)):
            c = _condition("model", 0.01, e2e)
            c.placement = Placement(gpu=GpuIdentity(label="gpu0", worker=0), mode=mode, round=0)
            conditions.append(c)
        return SweepResult(conditions, {}, {"command": "sweep"})

    out = tmp_path / "r"
    save(run(150, 100), out)
    save(run(100, 100), out, mode="append")
    ratios = {x["condition"]: round(x["ratio"], 2) for x in trtpace.load(out).together_vs_alone()[0]["conditions"]}
    assert ratios == {"model gap 0.01 s": 1.5, "model gap 0.01 s (run 1)": 1.0}


def test_appended_runs_are_told_apart_in_the_table_and_the_csv(tmp_path: Path) -> None:
    """Two runs of the same workload and gap in one folder: the terminal table gains a run
    column (else the rows would look like duplicates) and the CSV says each row's run."""
    import csv

    from typer.testing import CliRunner

    from trtpace.cli import app

    out = tmp_path / "r"
    save(SweepResult([_condition("model", 0.0, 100), _condition("model", 0.01, 120)], {}, {"command": "sweep"}), out)
    one = CliRunner().invoke(app, ["report", str(out), "--csv", str(tmp_path / "one.csv")], env={"COLUMNS": "120"})
    assert one.exit_code == 0, one.output
    header = next(line for line in one.stdout.splitlines() if "workload" in line)
    assert header.split()[0] == "workload"  # one run: no run column
    save(
        SweepResult([_condition("model", 0.0, 1000), _condition("model", 0.01, 1100)], {}, {"command": "sweep"}),
        out,
        mode="append",
    )
    r = CliRunner().invoke(app, ["report", str(out), "--csv", str(tmp_path / "two.csv")], env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    header = next(line for line in lines if "workload" in line)
    assert header.split()[:2] == ["run", "workload"]
    table = lines[lines.index(header) + 2 :]
    assert [line.split()[0] for line in table[:5] if line.strip()] == ["0", "0", "1", "1"]
    with open(tmp_path / "two.csv") as f:
        assert [row["run"] for row in csv.DictReader(f)] == ["0", "0", "1", "1"]


def test_sweep_append_of_another_gpu_is_refused(tmp_path: Path) -> None:
    """One folder is one machine: a sweep measured on another GPU goes to its own folder (a fleet
    report puts the two side by side), and the folder is left as it was."""
    out = tmp_path / "s"
    trtpace.sweep(["host:us=5"], [0.0, 0.002], iterations=3, warmup=0, telemetry=False, out=out)
    doc = json.loads((out / "sweep.json").read_text())
    doc["environment"]["gpu"] = {"uuid": "GPU-5f1c", "name": "NVIDIA H100", "index": 0}
    (out / "sweep.json").write_text(json.dumps(doc))
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(trtpace.UsageError, match="measured on GPU-5f1c, not none"):
        trtpace.sweep(["host:us=5"], [0.0, 0.002], iterations=3, warmup=0, telemetry=False, out=out, out_mode="append")
    assert sorted(p.name for p in out.iterdir()) == before
    assert json.loads((out / "sweep.json").read_text()) == doc
