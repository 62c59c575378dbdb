"""A results folder as a Chrome trace / Perfetto JSON timeline (the Trace Event Format, JSON object form).

    trtpace.report.trace.write_trace(trtpace.load("results"), "trace.json")   # open in ui.perfetto.dev

Each condition is one process on the timeline ("tiny, gap 0.1 s", its policy, clocks, ...), with:
  host      per inference a span "inference i" ("warm-up i") from its due time (or its issue, when
            earlier) to done, holding the stretches one after another: "due to issue" (the pacing
            error: open-loop backlog, a late wake), "input write" (issue to staged, where the input
            is written after the gap), "submit" (issue, or staged, to submitted) and "complete"
            (submitted to done: the wait for the GPU). Its args hold the raw record and e2e_us,
            device_us, submit_us.
  GPU       "armed" (queued behind the gate: armed to the gate seeing the release, or to the
            release where the gate's stamp is unknown) and "GPU" (the in-band probe's GPU start,
            for device_us, clipped at done), where the records have them.
  gap work  the app's gap work (issue - gap_work_ns to issue), where the run had it.
  counters  "SM clock" (MHz) and "power" (W) from the condition's telemetry samples, where sampled.
All times are the run's monotonic clock, in microseconds from the earliest time in the folder
(otherData.origin_monotonic_ns holds that origin). Conditions without records (lost, corrupt)
are listed in otherData.skipped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from trtpace.fileio import jsonable
from trtpace.results import ConditionResult, SweepResult
from trtpace.results.folder import write_output

HOST_TID, GPU_TID, GAP_WORK_TID = 1, 2, 3
COUNTERS = (("tel_sm_mhz", "SM clock", "MHz", 1.0), ("tel_power_mw", "power", "W", 1e-3))  # Perfetto: "SM clock MHz"


def condition_name(c: ConditionResult) -> str:
    """The condition as the timeline names it: workload and pacing, then what sets it apart."""
    parts = [c.workload, c.pacing.label]
    for extra in (
        c.policy,
        c.launch,
        "" if c.io == "none" else f"io {c.io}",
        c.gpu_label,
        c.gpu_mode,
        "" if c.clocks == "default" else c.clocks,
        "" if c.gap_work_spec == "none" else f"gap work {c.gap_work_spec}",
        f"run {c.run}" if c.run else "",
    ):
        if extra:
            parts.append(extra)
    if c.round is not None:
        parts.append(f"round {c.round + 1}")
    return ", ".join(parts)


def _column(c: ConditionResult, name: str, dtype: Any) -> np.ndarray:
    values = c.records.get(name)
    if values is None:  # records written before the column existed
        return np.zeros(c.count, dtype=dtype) if dtype is not np.float64 else np.full(c.count, np.nan)
    return np.asarray(values, dtype=dtype)


def _origin(result: SweepResult) -> int | None:
    starts = []
    for c in result.conditions:
        if c.count:
            r = c.records
            firsts = [
                int(r[k][r[k] > 0].min()) for k in ("due_ns", "issue_ns", "armed_ns") if k in r and (r[k] > 0).any()
            ]
            starts.append(min(firsts))
            t = c.telemetry.get("tel_t_ns")
            if t is not None and t.size:
                starts.append(int(t.min()))
    return min(starts) if starts else None


def _us(ns: int, origin: int) -> float:
    return round((ns - origin) / 1e3, 3)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _span(
    name: str,
    pid: int,
    tid: int,
    t0: int,
    t1: int,
    origin: int,
    args: dict[str, Any] | None = None,
    cat: str = "trtpace",
) -> dict[str, Any]:
    e: dict[str, Any] = {
        "name": name,
        "cat": cat,
        "ph": "X",
        "pid": pid,
        "tid": tid,
        "ts": _us(t0, origin),
        "dur": round(max(0, t1 - t0) / 1e3, 3),
    }
    if args:
        e["args"] = args
    return e


def _meta(name: str, pid: int, tid: int | None, value: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "name": name,
        "ph": "M",
        "pid": pid,
        "args": {"name" if "name" in name else "sort_index": value},
    }
    e["tid"] = tid if tid is not None else 0
    return e


# Long because one condition's tracks (host, GPU, gap work, counters) are laid out together, in time order.
def _condition_events(c: ConditionResult, pid: int, origin: int) -> Iterator[dict[str, Any]]:
    n = c.count
    due, issue = _column(c, "due_ns", np.int64), _column(c, "issue_ns", np.int64)
    submitted, done = _column(c, "submitted_ns", np.int64), _column(c, "done_ns", np.int64)
    gpu_start, armed = _column(c, "gpu_start_ns", np.int64), _column(c, "armed_ns", np.int64)
    gate, staged = _column(c, "gate_ns", np.int64), _column(c, "staged_ns", np.int64)
    gap_work = _column(c, "gap_work_ns", np.int64)
    device_us = _column(c, "device_us", np.float64)
    e2e = c.column("e2e_us", include_warmup=True)
    warm = c.is_warmup
    yield _meta("process_name", pid, None, condition_name(c))
    yield _meta("process_sort_index", pid, None, pid)
    yield _meta("thread_name", pid, HOST_TID, "host")
    yield _meta("thread_sort_index", pid, HOST_TID, HOST_TID)
    has_gpu = bool((gpu_start > 0).any() or (armed > 0).any())
    if has_gpu:
        yield _meta("thread_name", pid, GPU_TID, "GPU")
        yield _meta("thread_sort_index", pid, GPU_TID, GPU_TID)
    if (gap_work > 0).any():
        yield _meta("thread_name", pid, GAP_WORK_TID, "gap work")
        yield _meta("thread_sort_index", pid, GAP_WORK_TID, GAP_WORK_TID)
    columns = [k for k in c.records if len(c.records[k]) == n]
    for i in range(n):
        i_issue, i_done, i_sub = int(issue[i]), int(done[i]), int(submitted[i])
        i_due = int(due[i]) if due[i] > 0 else i_issue
        start = min(i_due, i_issue)
        args: dict[str, Any] = {
            "index": i,
            "warmup": bool(warm[i]),
            "e2e_us": _finite(e2e[i]),
            "device_us": _finite(device_us[i]),
            "submit_us": (i_sub - i_issue) / 1e3,
        }
        for k in columns:
            v = c.records[k][i]
            args[k] = (
                bool(v) if isinstance(v, np.bool_) else _finite(float(v)) if isinstance(v, np.floating) else int(v)
            )
        label = f"{'warm-up' if warm[i] else 'inference'} {i}"
        yield _span(label, pid, HOST_TID, start, i_done, origin, args)
        if i_issue > i_due:
            yield _span("due to issue", pid, HOST_TID, i_due, i_issue, origin)
        after_issue = i_issue
        if i_issue < staged[i] <= i_sub:
            yield _span("input write", pid, HOST_TID, i_issue, int(staged[i]), origin)
            after_issue = int(staged[i])
        yield _span("submit", pid, HOST_TID, after_issue, max(after_issue, i_sub), origin)
        yield _span("complete", pid, HOST_TID, max(after_issue, i_sub), max(i_done, i_sub), origin)
        if armed[i] > 0:
            end = int(gate[i]) if gate[i] >= armed[i] else i_issue
            yield _span("armed", pid, GPU_TID, int(armed[i]), max(int(armed[i]), end), origin, {"index": i})
        if gpu_start[i] > 0:
            g0 = int(gpu_start[i])
            if armed[i] > 0 and gate[i] >= armed[i]:
                g0 = max(g0, int(gate[i]))  # on the GPU track after the armed span, never overlapping it
            length = int(device_us[i] * 1e3) if math.isfinite(device_us[i]) else i_done - g0
            yield _span(
                "GPU",
                pid,
                GPU_TID,
                g0,
                max(g0, min(g0 + length, i_done)),
                origin,
                {"index": i, "device_us": _finite(device_us[i]), "launch_us": (g0 - i_issue) / 1e3},
            )
        if gap_work[i] > 0:
            yield _span(
                "gap work",
                pid,
                GAP_WORK_TID,
                i_issue - int(gap_work[i]),
                i_issue,
                origin,
                {"index": i, "gap_work": c.gap_work_spec},
            )
    t = c.telemetry.get("tel_t_ns")
    if t is not None and t.size:
        for key, name, unit, scale in COUNTERS:
            values = c.telemetry.get(key)
            if values is None:
                continue
            for ts, v in zip(t.tolist(), np.asarray(values, dtype=np.float64).tolist(), strict=True):
                if math.isfinite(v):
                    yield {
                        "name": name,
                        "ph": "C",
                        "pid": pid,
                        "tid": 0,
                        "ts": _us(int(ts), origin),
                        "args": {unit: round(v * scale, 3)},
                    }


def to_trace(result: SweepResult) -> dict[str, Any]:
    """The trace as a JSON-ready dict: {"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {...}}."""
    origin = _origin(result)
    events: list[dict[str, Any]] = []
    skipped = []
    for pid, c in enumerate(result.conditions, start=1):
        if not c.count or origin is None:
            skipped.append(
                {
                    "condition": condition_name(c),
                    "status": c.status,
                    "reason": c.load_error or "no records",
                }
            )
            continue
        events.extend(_condition_events(c, pid, origin))
    other = {
        "generator": "trtpace",
        "origin_monotonic_ns": origin,
        "skipped": skipped,
        "results": str(result.path) if result.path is not None else None,
        "gpu": str(result.environment.get("gpu", {}).get("name", ""))
        if isinstance(result.environment.get("gpu"), dict)
        else "",
    }
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": other}


def write_trace(result: SweepResult, out: str | Path) -> Path:
    """Writes to_trace(result) to `out` and returns its path: atomically, never through a link nor
    over a results folder's own files (trtpace.results.folder.write_output; UsageError or
    ResultsWriteError, one line)."""
    text = json.dumps(jsonable(to_trace(result)), separators=(",", ":"), allow_nan=False)
    return write_output(Path(out), text.encode(), flag="--trace")
