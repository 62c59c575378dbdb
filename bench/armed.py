"""Armed launch against plain launches and today's best remedies, interleaved rounds, same run.

    python bench/armed.py --workload tiny --gap 0.1 --rounds 5 --iterations 200 --json out.json

Runs `trtpace.compare` (continuous baseline + each policy per round, so drift hits all alike) and
prints per policy the p50/p99 e2e, the penalty against continuous, the p99 ratio, GPU power and
CPU use, and whether the goal holds (best armed within 1.05x of continuous p50 and 1.15x of
continuous p99, with no more GPU power than plain gaps).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

import trtpace
from trtpace.fileio import dumps
from trtpace.results.attribution import parts_us
from trtpace.results.policies import CONTINUOUS, armed_choices, recommend, summarize_policies

ARMED = ("armed:kernel", "armed:wait")
CANCELLABLE = ("armed:kernel:cancellable", "armed:wait:cancellable")
BEST_TODAY = ("keepwarm:1ms+prewarm-graph:100us", "prewarm-graph:30us")


# Long because a benchmark's main is its protocol, read top to bottom: setup, interleaved rounds, report.
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="tiny")
    ap.add_argument("--torch", help="package.module:factory of a PyTorch module instead of --workload")
    ap.add_argument("--gap", type=float, default=0.1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--policies", default=",".join(("sleep", *ARMED)))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--out", type=Path, help="results folder (trtpace report renders it)")
    ap.add_argument("--no-telemetry", action="store_true", help="no NVML sampler thread during the runs")
    a = ap.parse_args()
    work: str | trtpace.workloads.Workload = a.workload
    if a.torch:
        import importlib

        mod, _, attr = a.torch.partition(":")
        module, example = getattr(importlib.import_module(mod), attr)()
        work = trtpace.workloads.from_torch(module, tuple(example), name=a.torch)
    result = trtpace.compare(
        work,
        a.gap,
        a.policies.split(","),
        rounds=a.rounds,
        iterations=a.iterations,
        warmup=10,
        out=a.out,
        telemetry=not a.no_telemetry,
    )
    summaries = summarize_policies(result)
    base = next(s for s in summaries if s.policy == CONTINUOUS)
    plain = next((s for s in summaries if s.policy == "sleep"), None)
    print(
        f"{result.settings['workload']} at {a.gap:g} s, {a.rounds} rounds x {a.iterations}"
        + (", no telemetry" if a.no_telemetry else "")
    )
    print(
        f"{'policy':34} {'n':>6} {'p50 us':>9} {'p99 us':>9} {'x p50':>7} {'x p99':>7} {'launch':>7} "
        f"{'device':>7} {'W':>5} {'CPU%':>5} {'SM%':>5}"
    )
    for s in summaries:
        print(
            f"{s.policy:34} {s.e2e_us['n']:6d} {s.e2e_us['p50']:9.1f} {s.e2e_us['p99']:9.1f} {s.penalty:7.3f} "
            f"{s.e2e_us['p99'] / base.e2e_us['p99']:7.3f} {s.launch_us['p50']:7.1f} {s.device_us['p50']:7.1f} "
            f"{s.power_mean_w:5.0f} {s.cpu_pct:5.0f} {s.sm_held_pct:5.0f}"
        )
    tails = tail_parts(result)
    print(
        "where the tail sits, per part: p50 / p99 / mean over the slowest 1% (us; wake-up: GPU end to host seeing it)"
    )
    for policy, parts in tails.items():
        print(
            f"{policy:34} "
            + "  ".join(f"{k} {v['p50']:.1f}/{v['p99']:.1f}/{v['slowest_1pct_mean']:.1f}" for k, v in parts.items())
        )
    armed = [s for s in summaries if s.policy.startswith("armed")]
    goal = None
    if armed:
        best = min(armed, key=lambda s: s.e2e_us["p50"])
        power_ok = (
            plain is None or not math.isfinite(best.power_mean_w) or best.power_mean_w <= plain.power_mean_w * 1.03
        )
        goal = {
            "best": best.policy,
            "p50_ratio": best.penalty,
            "p99_ratio": best.e2e_us["p99"] / base.e2e_us["p99"],
            "n": best.e2e_us["n"],
            "power_w": best.power_mean_w,
            "plain_power_w": plain.power_mean_w if plain else None,
            "met": best.penalty <= 1.05 and best.e2e_us["p99"] / base.e2e_us["p99"] <= 1.15 and power_ok,
        }
        print(f"goal (best armed <= 1.05x p50, <= 1.15x p99, power <= plain): {goal}")
    for line in armed_choices(result):
        print(line)
    rec = recommend(summaries)
    if rec:
        print("recommendation:", rec["line"])
    if a.json:
        a.json.write_text(
            dumps(
                {
                    "environment": result.environment,
                    "settings": result.settings,
                    "policies": [s.to_json() for s in summaries],
                    "recommendation": rec,
                    "goal": goal,
                    "tail_parts_us": tails,
                    "armed_choice": armed_choices(result),
                }
            )
        )


def tail_parts(result: trtpace.SweepResult) -> dict[str, dict[str, dict[str, float]]]:
    """Per policy, p50 and p99 of each part of e2e (pooled over rounds), and of the parts of the
    slowest 1% of inferences (their mean), which says which part makes the tail."""
    pooled: dict[str, dict[str, list[np.ndarray]]] = {}
    for c in result.conditions:
        if c.count > c.warmup:
            for k, v in parts_us(c).items():
                pooled.setdefault(c.policy, {}).setdefault(k, []).append(v)
    out = {}
    for policy, parts in pooled.items():
        cols = {k: np.concatenate(v) for k, v in parts.items()}
        slow = cols["e2e"] >= np.percentile(cols["e2e"], 99)
        out[policy] = {
            k: {
                "p50": float(np.percentile(v, 50)),
                "p99": float(np.percentile(v, 99)),
                "slowest_1pct_mean": float(v[slow].mean()),
            }
            for k, v in cols.items()
        }
    return out


if __name__ == "__main__":
    main()
