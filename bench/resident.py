"""Is the resident armed loop worth it? Per-frame arming against the resident loop, as an app
embeds them (trtpace.Pacer: arm() in the gap, then infer() when the input is ready), back to back
and after idle gaps, in interleaved rounds.

    python bench/resident.py --workload tiny --gaps 0,0.01,0.033,0.1 --rounds 4 --iterations 250 \
        --json out.json

Per (gap, arming) cell, pooled over rounds: p50/p99 end to end (issue to done, the record's
stamps), p50 of arm() (wall, on the app's thread, during the gap) and host CPU per frame (the
app thread's CPU time in arm() plus infer(): a launch per frame shows up here; the idle gap
costs none). Prints each resident cell as a ratio to per-frame arming at the same gap.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

import trtpace
from args import check_json_target, fail, number
from trtpace import workloads
from trtpace.fileio import dumps

ARMINGS = ("kernel", "resident")


def gaps(text: str) -> list[float]:
    try:
        out = [float(g) for g in text.split(",") if g.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of seconds: {text!r}") from None
    if not out or any(not (0 <= g <= 10) for g in out):
        raise argparse.ArgumentTypeError(f"gaps must be 0 to 10 s: {text!r}")
    return out


def cell(work: workloads.Workload, arming: str, gap_s: float, n: int, warmup: int) -> dict[str, np.ndarray]:
    """n frames (after warmup) through a fresh Pacer: arm, the gap, infer. Returns per-frame columns."""
    e2e, arm_us, cpu_us = (np.empty(n) for _ in range(3))
    with trtpace.Pacer(work, armed=arming) as p:
        if p.resident_fallback:
            fail(f"the resident loop does not run here: {p.resident_fallback}")
        for i in range(-warmup, n):
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            p.arm()
            t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
            if gap_s:
                time.sleep(gap_s)
            c2 = time.thread_time_ns()
            rec = p.infer(timeout=10)
            c3 = time.thread_time_ns()
            if i >= 0:
                e2e[i] = (rec["done_ns"] - rec["issue_ns"]) / 1e3
                arm_us[i] = (t1 - t0) / 1e3
                cpu_us[i] = ((c1 - c0) + (c3 - c2)) / 1e3
        if arming == "resident":
            state = p.workload.core.gate_state
            if state["launches"] != 1:  # one launch for the whole cell is the point
                fail(f"the resident loop was launched {state['launches']} times in one cell: {state}")
    return {"e2e_us": e2e, "arm_us": arm_us, "cpu_us": cpu_us}


def stats(cols: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    e2e, arm, cpu = (np.concatenate(cols[k]) for k in ("e2e_us", "arm_us", "cpu_us"))
    return {
        "n": int(e2e.size),
        "e2e_p50_us": float(np.percentile(e2e, 50)),
        "e2e_p99_us": float(np.percentile(e2e, 99)),
        "arm_p50_us": float(np.percentile(arm, 50)),
        "cpu_per_frame_us": float(cpu.mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="tiny", help="a trtpace workload spec with a CUDA graph (default tiny)")
    ap.add_argument("--gaps", type=gaps, default=[0.0, 0.01, 0.033, 0.1], help="idle gaps in s, 0: back to back")
    ap.add_argument("--rounds", type=number(int, 1), default=4)
    ap.add_argument("--iterations", type=number(int, 1), default=250, help="frames per cell per round")
    ap.add_argument("--warmup", type=number(int, 0), default=5, help="frames per cell per round, not kept")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    check_json_target(a.json)
    pooled: dict[tuple[float, str], dict[str, list[np.ndarray]]] = {}
    try:
        work = workloads.build(a.workload, gpu=0)
        for r in range(a.rounds):
            for gap_s in a.gaps:
                order = ARMINGS if r % 2 == 0 else ARMINGS[::-1]  # neither always goes first
                for arming in order:
                    cols = cell(work, arming, gap_s, a.iterations, a.warmup)
                    for k, v in cols.items():
                        pooled.setdefault((gap_s, arming), {}).setdefault(k, []).append(v)
    except trtpace.TrtpaceError as e:
        fail(str(e))
    rows = [{"gap_s": g, "arming": m, **stats(c)} for (g, m), c in sorted(pooled.items())]
    print(f"{work.name}: {a.rounds} rounds x {a.iterations} frames per cell, interleaved")
    print(f"{'gap':>6} {'arming':9} {'n':>5} {'p50 us':>8} {'p99 us':>8} {'arm us':>7} {'CPU us/frame':>12}")
    for row in rows:
        print(
            f"{row['gap_s'] * 1e3:4.0f}ms {row['arming']:9} {row['n']:5d} {row['e2e_p50_us']:8.1f} "
            f"{row['e2e_p99_us']:8.1f} {row['arm_p50_us']:7.1f} {row['cpu_per_frame_us']:12.1f}"
        )
    by = {(row["gap_s"], row["arming"]): row for row in rows}
    ratios = []
    for g in a.gaps:
        k, res = by[(g, "kernel")], by[(g, "resident")]
        ratios.append(
            {
                "gap_s": g,
                "p50": res["e2e_p50_us"] / k["e2e_p50_us"],
                "p99": res["e2e_p99_us"] / k["e2e_p99_us"],
                "cpu": res["cpu_per_frame_us"] / k["cpu_per_frame_us"],
            }
        )
        print(
            f"resident / per-frame at {g * 1e3:.0f} ms: p50 {ratios[-1]['p50']:.3f}x  p99 {ratios[-1]['p99']:.3f}x  "
            f"CPU per frame {ratios[-1]['cpu']:.3f}x"
        )
    if a.json:
        facts = {"trtpace": trtpace.__version__, "workload": work.name}
        a.json.write_text(
            dumps({"facts": facts, "settings": vars(a) | {"json": str(a.json)}, "cells": rows, "ratios": ratios})
        )


if __name__ == "__main__":
    main()
