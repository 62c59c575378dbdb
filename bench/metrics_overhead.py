"""What per-inference callbacks and the Prometheus exporter (trtpace.metrics) cost an embedded Pacer.

Host workload by default (the real C++ paced runner, no GPU needed); --workload tiny on a GPU.
Rounds interleave the cases (none, callback, metrics, none, ...) so drift cancels. Per case:
  e2e_us     done - issue of Pacer.infer(): the callback runs outside it, so ~equal across cases;
  pre_us     infer() called to its issue stamp: where the previous record's callback runs (an
             unarmed infer() is issued the callback's time later; armed, it runs in arm(), in the gap);
  cycle_us   one infer() call to the next, back to back: everything the app pays per inference;
  run_us     Pacer.run(): the records' delivery after the loop, per record.
Plus the exporter's own cost per observation (three histograms), without a Pacer.

    python bench/metrics_overhead.py [--workload host:us=20] [--rounds 8] [--n 500] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

import trtpace
from trtpace import _core
from trtpace.embed import metrics as metrics_mod
from trtpace.measure import workloads

CASES = ("none", "callback", "metrics")


def pacer_for(case: str, w: workloads.Workload, m: metrics_mod.Metrics) -> trtpace.Pacer:
    if case == "callback":
        return trtpace.Pacer(w, on_inference=lambda r: None)
    return trtpace.Pacer(w, metrics=m if case == "metrics" else False)


def infer_loop(pacer: trtpace.Pacer, n: int) -> dict[str, np.ndarray]:
    called = np.empty(n, dtype=np.int64)
    issue = np.empty(n, dtype=np.int64)
    done = np.empty(n, dtype=np.int64)
    for i in range(n):
        called[i] = _core.now_ns()
        r = pacer.infer()
        issue[i], done[i] = r["issue_ns"], r["done_ns"]
    return {"e2e_us": (done - issue) / 1e3, "pre_us": (issue - called) / 1e3, "cycle_us": np.diff(called) / 1e3}


def run_delivery(pacer: trtpace.Pacer, n: int) -> float:
    t = time.perf_counter_ns()
    c = pacer.run(n, gap_s=0.0)
    wall = time.perf_counter_ns() - t
    loop = int(c.records["done_ns"][-1] - c.records["issue_ns"][0])
    return (wall - loop) / 1e3 / n  # per record: what run() spent outside its loop (delivery included)


def observe_cost(m: metrics_mod.Metrics, n: int) -> float:
    rec = {"issue_ns": 1_000, "submitted_ns": 3_000, "done_ns": 50_000, "device_us": 40.0}
    r = m.bind("bench", -1)
    t = time.perf_counter_ns()
    for _ in range(n):
        r.inference(rec)
    return (time.perf_counter_ns() - t) / n / 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="host:us=20")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    prom = __import__("prometheus_client")
    m = metrics_mod.Metrics(registry=prom.CollectorRegistry())
    w = workloads.build(args.workload)
    out: dict[str, dict[str, list[float]]] = {
        c: {"e2e_us": [], "pre_us": [], "cycle_us": [], "run_us": []} for c in CASES
    }
    for _ in range(args.rounds):
        for case in CASES:
            with pacer_for(case, w, m) as pacer:
                for _ in range(20):  # warm the Python paths
                    pacer.infer()
                cols = infer_loop(pacer, args.n)
                for k, v in cols.items():
                    out[case][k].append(float(np.median(v)))
                out[case]["run_us"].append(run_delivery(pacer, args.n))
    obs = float(np.median([observe_cost(m, 20_000) for _ in range(5)]))
    print(f"workload {w.name}, {args.rounds} rounds x {args.n} inferences; medians of the rounds' medians (us)")
    print(f"{'case':<10}{'e2e_us':>10}{'pre_us':>10}{'cycle_us':>10}{'run_us':>10}")
    result: dict[str, Any] = {"workload": w.name, "rounds": args.rounds, "n": args.n, "observe_us": obs}
    for case in CASES:
        row = {k: float(np.median(v)) for k, v in out[case].items()}
        result[case] = row
        print(f"{case:<10}" + "".join(f"{row[k]:>10.2f}" for k in ("e2e_us", "pre_us", "cycle_us", "run_us")))
    print(f"exporter alone: {obs:.2f} us per observed record (three histograms)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
