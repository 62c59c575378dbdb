"""The verdict: what a sweep says to do, pinned for the saved H100 sweep and for synthetic runs where
the SM clock holds, drops (a discrete GPU, a fake-sysfs Jetson) or was locked; the sweep's output
and --json carry it; the interval mode of the gate; energy above idle; the CSV's numeric columns."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from test_jetson import make_tree
from test_output_width import invoke
from trtpace.errors import UsageError
from trtpace.measure import pacing, telemetry
from trtpace.platform import jetson
from trtpace.report.columns import CONDITION_COLUMNS, columns
from trtpace.report.html import render_html, render_rows_csv
from trtpace.report.terminal import verdict_lines
from trtpace.results import ConditionResult, SweepResult, WorkloadMeta, load
from trtpace.results.attribution import energy_above_idle_mj, idle_power_w
from trtpace.results.gate import gate
from trtpace.results.verdict import deployment, machine_kind, summary_line, sweep_verdicts

FIXTURE = Path(__file__).parent / "data" / "h100-sweep"
H100_ENV = {"gpu": {"name": "NVIDIA H100 80GB HBM3", "integrated": False}, "telemetry": {"source": "nvml"}}


@pytest.fixture(scope="module")
def h100() -> SweepResult:
    return load(FIXTURE)


def _condition(
    gap_s: float,
    submit_us: float,
    device_us: float,
    *,
    n: int = 400,
    sm_mhz: float = 1980.0,
    inband: float = 1975.0,
    clocks: str = "default",
    seed: int = 0,
    spread: float = 0.5,
    workload: str = "tiny",
) -> ConditionResult:
    """A graph workload's inferences with known parts (launch 4 us, wake-up 3 us) and clocks."""
    rng = np.random.default_rng(seed + int(gap_s * 1000))
    jitter = rng.normal(0, spread, size=n)
    period = int((gap_s + 0.001) * 1e9)
    issue = np.arange(n, dtype=np.int64) * period + 10**12
    submitted = issue + ((submit_us + jitter) * 1e3).astype(np.int64)
    start = submitted + 4_000
    done = start + int((device_us + 3) * 1e3)
    records = {
        "due_ns": issue.copy(),
        "issue_ns": issue,
        "submitted_ns": submitted,
        "done_ns": done,
        "device_us": np.full(n, device_us),
        "gpu_start_ns": start,
        "inband_mhz": np.full(n, inband),
    }
    tel = {
        "tel_t_ns": issue - 5_000,
        "tel_sm_mhz": np.full(n, sm_mhz),
        "tel_power_mw": np.full(n, 100_000.0),
        "tel_energy_mj": np.arange(n) * 1.0,
    }
    return ConditionResult(
        workload,
        pacing.gap(gap_s),
        "hybrid",
        "spin",
        0,
        n,
        records,
        telemetry=tel,
        clocks=clocks,
        workload_meta=WorkloadMeta(kind="synthetic", launch="graph"),
    )


def _sweep(*conds: ConditionResult, env: dict | None = None) -> SweepResult:
    return SweepResult(list(conds), env if env is not None else H100_ENV, {})


# --- the saved H100 sweep -------------------------------------------------------------------


def test_h100_verdicts_are_pinned(h100: SweepResult) -> None:
    v = {x.workload: x for x in sweep_verdicts(h100)}
    assert list(v) == ["tiny", "medium", "large"]
    tiny = v["tiny"]
    assert (tiny.severity, tiny.largest_part, tiny.clock, tiny.locking, tiny.machine) == (
        "penalty",
        "submit",
        "steady",
        "no-help",
        "gpu",
    )
    assert tiny.condition == "gap 0.1 s" and tiny.penalty == pytest.approx(1.544, abs=0.002)
    lo, hi = tiny.interval
    assert 1.5 < lo < tiny.penalty < hi < 1.6
    assert tiny.next_command == "trtpace compare -w tiny --gap 0.1"
    assert tiny.sentence == (
        "tiny [graph]: 1.54x slower at gap 0.1 s (worst of 2; 95% interval 1.53-1.55x; +0.059 ms p50). Most of it "
        "is the launch path: the host's submit call (+0.064 ms). The SM clock held (1980 MHz NVML, 1981 MHz "
        "in-band), so locking clocks will not help on this GPU: the cost is the launch path."
    )
    assert v["medium"].severity == "small" and "act only if that matters" in v["medium"].sentence
    assert v["large"].severity == "none" and v["large"].next_command == ""
    assert "nothing to do" in v["large"].sentence
    assert summary_line(list(v.values()), h100.environment) == (
        "what to do on this H100: pick a launch-path remedy (keep-warm, pre-warm or armed launch); locking clocks "
        "will not help: `trtpace compare -w tiny --gap 0.1` (tiny [graph] pays 1.54x at gap 0.1 s)."
    )


@pytest.mark.parametrize("width", [60, 80, 120, None])
def test_h100_verdict_lines_fold_at_spaces_only(h100: SweepResult, width: int | None) -> None:
    lines = verdict_lines(h100, width)
    text = "\n".join(lines)
    assert lines[0].startswith("  what to do on this H100")
    assert "    next: trtpace compare -w tiny --gap 0.1" in lines  # the command whole, on its own line
    words = set(text.split())
    for number in ("1.54x", "1.53-1.55x;", "(+0.064", "(1980", "0.1"):
        assert number in words, number
    if width is not None:
        assert all(len(line) <= width for line in lines if not line.lstrip().startswith("next:")), text


def test_h100_html_opens_with_the_verdict_and_the_headline_plot(h100: SweepResult) -> None:
    page = render_html(h100)
    verdict = page.index('<section id="verdict">')
    assert verdict < page.index("<h2>Environment</h2>")
    section = page[verdict : page.index("</section>")]
    assert "what to do on this H100" in section and "<code>trtpace compare -w tiny --gap 0.1</code>" in section
    assert 'id="penalty-vs-gap"' in section  # the headline plot leads, beside the verdict
    assert page.count('id="penalty-vs-gap"') == 1
    assert "fewer than 1,000 inferences" in section  # its p99 rests on 100 inferences: said


# --- synthetic runs: the clock holds, drops, or was locked ----------------------------------


def test_steady_clock_launch_path_cost_says_locking_will_not_help() -> None:
    r = _sweep(_condition(0, 6, 100), _condition(0.1, 66, 100))
    (v,) = sweep_verdicts(r)
    assert (v.severity, v.largest_part, v.clock, v.locking) == ("penalty", "submit", "steady", "no-help")
    assert "locking clocks will not help" in v.sentence
    assert v.next_command == "trtpace compare -w tiny --gap 0.1"


def test_a_clock_drop_on_a_discrete_gpu_says_locking_may_help() -> None:
    r = _sweep(_condition(0, 6, 100), _condition(0.5, 6, 160, sm_mhz=1200, inband=1190))
    (v,) = sweep_verdicts(r)
    assert (v.largest_part, v.clock, v.locking) == ("device", "dropped", "may-help")
    assert "The SM clock fell (1980 MHz -> 1200 MHz NVML, 1975 MHz -> 1190 MHz in-band)" in v.sentence
    assert "sudo trtpace clocks lock --sm max" in v.sentence
    assert v.next_command == "trtpace compare -w tiny --gap 0.5 --policies sleep,locked:max,keepwarm:1ms,armed"
    assert summary_line([v], r.environment).startswith("what to do on this H100: lock the GPU clock")


def test_only_the_in_band_probe_seeing_the_drop_is_still_a_drop() -> None:
    r = _sweep(_condition(0, 6, 100), _condition(0.5, 6, 160, sm_mhz=1980, inband=1100))
    (v,) = sweep_verdicts(r)
    assert v.clock == "dropped" and v.locking == "may-help"


def test_fake_jetson_devfreq_clock_drop_says_jetson_clocks(tmp_path: Path) -> None:
    node = make_tree(tmp_path)
    src = telemetry.JetsonSource(jetson.find_gpu_devfreq(tmp_path))
    (node / "cur_freq").write_text("1300500000\n")
    busy_mhz = src.read()[0]  # back to back the governor holds the top clock
    (node / "cur_freq").write_text("306000000\n")
    idle_mhz = src.read()[0]  # after a gap it has dropped to the floor
    assert (busy_mhz, idle_mhz) == (1300.5, 306.0)
    env = {"gpu": {"name": "Orin", "integrated": True}, "telemetry": {"source": "jetson-devfreq"}}
    assert machine_kind(env) == "jetson"
    base = _condition(0, 20, 400, sm_mhz=busy_mhz, inband=math.nan)
    gap = _condition(0.1, 25, 1500, sm_mhz=idle_mhz, inband=math.nan)
    r = _sweep(base, gap, env=env)
    (v,) = sweep_verdicts(r)
    assert (v.machine, v.clock, v.locking, v.largest_part) == ("jetson", "dropped", "may-help", "device")
    assert "The SM clock fell (1300 MHz -> 306 MHz devfreq)" in v.sentence
    assert "`sudo jetson_clocks`" in v.sentence
    summary = summary_line([v], env)
    assert summary.startswith("what to do on this Orin: lock the GPU clock (`sudo jetson_clocks`)")
    assert "--policies sleep,locked:max" in summary


def test_locked_clock_conditions_say_whether_locking_helped() -> None:
    helped = _sweep(
        _condition(0, 6, 100),
        _condition(0.5, 6, 160, sm_mhz=1200),
        _condition(0, 6, 100, clocks="locked max"),
        _condition(0.5, 6, 101, clocks="locked max"),
    )
    (v,) = sweep_verdicts(helped)  # the verdict is the unlocked run's; the locked twin answers the question
    assert v.locking == "measured-helps" and "with clocks locked max it was 1.01x" in v.sentence
    same = _sweep(
        _condition(0, 6, 100),
        _condition(0.1, 66, 100),
        _condition(0, 6, 100, clocks="locked max", seed=7),
        _condition(0.1, 66, 100, clocks="locked max", seed=7),
    )
    (w,) = sweep_verdicts(same)
    assert w.locking == "measured-no-help" and "locking does not help" in w.sentence


def test_no_penalty_within_noise_says_nothing_to_do() -> None:
    r = _sweep(_condition(0, 6, 100, seed=1, spread=3), _condition(0.1, 6, 100, seed=2, spread=3))
    (v,) = sweep_verdicts(r)
    assert v.severity == "none" and v.next_command == "" and "nothing to do" in v.sentence
    assert summary_line([v], r.environment) == (
        "what to do on this H100: nothing: no workload measurably slows down after a gap."
    )


def test_verdicts_json_round_trips(h100: SweepResult) -> None:
    from trtpace.results.verdict import verdicts_json

    doc = json.loads(json.dumps(verdicts_json(h100)))
    assert doc["summary"].startswith("what to do on this H100")
    tiny = doc["workloads"][0]
    assert tiny["label"] == "tiny [graph]" and tiny["locking"] == "no-help" and len(tiny["interval"]) == 2


# --- the sweep's own output ------------------------------------------------------------------


@pytest.mark.parametrize("width", [60, 80, 120])
def test_sweep_prints_the_verdict_last(width: int, tmp_path: Path) -> None:
    r = invoke(
        [
            "sweep",
            "-w",
            "host:us=20",
            "--gaps",
            "0,0.001",
            "--iterations",
            "50",
            "--out",
            str(tmp_path / "r"),
            "--no-report",
        ],
        width,
    )
    assert r.exit_code == 0, r.output
    out = r.stdout
    tail = " ".join(out[out.index("verdict (what to do)") :].split())  # as read, whatever the folding
    assert "what to do" in tail and "host:us=20" in tail
    assert "Host work" in tail or "nothing to do" in tail  # never advice about GPU clocks for host work
    assert "jetson_clocks" not in tail and "lock --sm" not in tail


def test_sweep_json_carries_the_verdict(tmp_path: Path) -> None:
    r = invoke(
        [
            "sweep",
            "-w",
            "host:us=20",
            "--gaps",
            "0,0.001",
            "--iterations",
            "30",
            "--json",
            "--out",
            str(tmp_path / "r"),
            "--no-report",
        ],
        None,
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["verdict"]["summary"].startswith("what to do")
    (v,) = doc["verdict"]["workloads"]
    assert v["workload"] == "host:us=20" and v["machine"] == "host"


# --- the gate's interval mode ----------------------------------------------------------------


def test_interval_gate_fails_only_where_the_whole_interval_is_over() -> None:
    r = _sweep(_condition(0, 6, 100), _condition(0.1, 66, 100))  # a clear 1.5x
    p = r.penalty(r.conditions[1])
    assert [f.passed for f in gate(r, max_p50=p * 0.9, mode="interval")] == [False]
    within = gate(r, max_p50=p * 0.9999, mode="interval")  # over by the estimate, inside the interval
    assert [f.passed for f in within] == [True] and "within noise" in within[0].line()
    assert [f.passed for f in gate(r, max_p50=p * 0.9999)] == [False]  # the estimate mode fails it
    assert gate(r, max_p50=p * 1.2, mode="interval") == []
    with pytest.raises(UsageError, match="--max-penalty-mode"):
        gate(r, max_p50=1.0, mode="loose")


def test_interval_gate_on_the_cli(tmp_path: Path) -> None:
    args = ["sweep", "-w", "host:us=20", "--gaps", "0,0.001", "--iterations", "30", "--no-report"]
    r = invoke([*args, "--out", str(tmp_path / "a"), "--max-penalty", "0.5", "--max-penalty-mode", "interval"], 80)
    assert r.exit_code == 3 and "gate failed" in r.stderr and "95% interval" in r.stderr
    r = invoke([*args, "--out", str(tmp_path / "b"), "--max-penalty", "1.5", "--max-penalty-mode", "interval"], 80)
    assert r.exit_code == 0 and "by the 95% intervals" in r.stderr
    r = invoke([*args, "--out", str(tmp_path / "c"), "--max-penalty", "1.5", "--max-penalty-mode", "x"], 80)
    assert r.exit_code == 2


# --- energy above idle, the CSV, to_dataframe ------------------------------------------------


def _powered(gap_s: float, extra_mj: float, n: int = 50, idle_w: float = 100.0) -> ConditionResult:
    """Idle power in every gap, and an energy counter that adds `extra_mj` per inference above it."""
    c = _condition(gap_s, 6, 100, n=n)
    t = np.sort(np.concatenate([c.records["issue_ns"] - 200_000, c.records["done_ns"] + 200_000]))
    w0 = c.records["issue_ns"][0]
    done_before = np.searchsorted(c.records["done_ns"], t, side="right")
    energy = idle_w * (t - w0) / 1e6 + extra_mj * done_before
    c.telemetry = {
        "tel_t_ns": t,
        "tel_sm_mhz": np.full(t.size, 1980.0),
        "tel_power_mw": np.full(t.size, idle_w * 1e3),
        "tel_energy_mj": energy,
    }
    return c


def test_energy_above_idle_is_what_the_inference_adds() -> None:
    c = _powered(1.0, 500.0)  # 1 s gaps at 100 W, 0.5 J per inference on top
    idle = idle_power_w([c])
    assert idle == {"": pytest.approx(100.0)}
    per = c.power_energy()["energy_per_inference_mj"]
    assert per > 90_000  # mostly idle power: 100 W x 1 s
    assert energy_above_idle_mj(c, idle) == pytest.approx(500.0, rel=0.05)
    row = SweepResult([c], H100_ENV, {}).rows()[0]
    assert row["energy_above_idle_mj"] == pytest.approx(500.0, rel=0.05)


def test_csv_has_numeric_pacing_the_p99_penalty_and_rounded_values(h100: SweepResult) -> None:
    text = render_rows_csv(h100.rows(), columns(CONDITION_COLUMNS, "csv"))
    header, first, second = (line.split(",") for line in text.splitlines()[:3])
    row = dict(zip(header, second, strict=True))
    assert (row["gap_s"], row["period_s"], row["rate_hz"]) == ("0.1", "", "")
    assert float(row["penalty_p99_x"]) == pytest.approx(h100.penalty(h100.conditions[1], "p99"), abs=1e-3)
    assert row["e2e_p50_us"] == "168.5" and row["penalty_p50_x"] == "1.544"  # rounded to what they support
    assert dict(zip(header, first, strict=True))["gap_s"] == "0.0"
    assert "energy_above_idle_mj" in header


def test_to_dataframe_without_pandas_is_one_line(h100: SweepResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(UsageError, match=r"needs pandas: pip install pandas"):
        h100.to_dataframe()


def test_to_dataframe_with_pandas(h100: SweepResult) -> None:
    pytest.importorskip("pandas")
    df = h100.to_dataframe()
    assert len(df) == len(h100.conditions)
    assert list(df["pacing.gap_s"][:3]) == [0.0, 0.1, 0.2] and "penalty_p99" in df.columns


# --- deploying a compare policy --------------------------------------------------------------


def test_deployment_lines_for_armed_and_keepwarm() -> None:
    d = deployment("armed", "graph", "kernel")
    assert d["python"][0] == 'pacer = trtpace.Pacer(w, armed="kernel")'
    assert "pacer.release(); record = pacer.wait(timeout=1.0)" in d["python"]
    assert "config.armed = true;" in d["cpp"] and "config.arm.gate = trtpace::GateKind::kernel;" in d["cpp"]
    assert deployment("armed:wait")["cpp"][-2] == "config.arm.gate = trtpace::GateKind::wait;"
    k = deployment("keepwarm:1ms+prewarm-graph:100us")
    assert k["python"][0] == (
        "pacer = trtpace.Pacer(w, keepwarm_period_ms=1, keepwarm_work_us=5, "
        'prewarm_lead_ms=0.1, prewarm_target="graph")'
    )
    assert "config.keepwarm_period_ns = 1'000'000;" in k["cpp"] and "config.prewarm_lead_ns = 100'000;" in k["cpp"]
    assert deployment("sleep")["python"][0] == 'pacer = trtpace.Pacer(w, wait="sleep")'
    assert "trtpace clocks lock --sm max" in deployment("locked:max")["note"]
    assert deployment("no-such-policy")["python"] == []
