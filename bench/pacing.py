"""How precisely each wait method hits a deadline, and what CPU it burns (no GPU needed).

trtpace's sleep, spin and hybrid waits against the baselines apps and tools use: Python's
time.sleep and C++ std::this_thread::sleep_for (trtexec --idleTime, MLPerf LoadGen). Methods
run interleaved in rounds so machine noise hits all of them alike.

    python bench/pacing.py [--json FILE] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from trtpace import _core

WAITS_NS = {"50us": 50_000, "1ms": 1_000_000, "10ms": 10_000_000, "100ms": 100_000_000}
COUNTS = {"50us": 2000, "1ms": 400, "10ms": 80, "100ms": 16}
METHODS = ("spin", "hybrid", "sleep", "sleep_for", "time.sleep")
ROUNDS = 4


def python_sleep(wait_ns: int, count: int) -> tuple[np.ndarray, int, int]:
    over = np.empty(count, dtype=np.int64)
    cpu0, wall0 = time.thread_time_ns(), time.monotonic_ns()
    for i in range(count):
        deadline = time.monotonic_ns() + wait_ns
        time.sleep(wait_ns / 1e9)
        over[i] = time.monotonic_ns() - deadline
    return over, time.thread_time_ns() - cpu0, time.monotonic_ns() - wall0


def measure(scale: float) -> dict:
    results: dict = {}
    for label, wait_ns in WAITS_NS.items():
        count = max(4, int(COUNTS[label] * scale) // ROUNDS)
        acc = {m: {"over": [], "cpu": 0, "wall": 0} for m in METHODS}
        for _ in range(ROUNDS):
            for m in METHODS:
                over, cpu, wall = (
                    python_sleep(wait_ns, count) if m == "time.sleep" else _core.probe_waits(m, wait_ns, count)
                )
                acc[m]["over"].append(over)
                acc[m]["cpu"] += cpu
                acc[m]["wall"] += wall
        results[label] = {}
        for m, a in acc.items():
            over_us = np.concatenate(a["over"]) / 1e3
            results[label][m] = {
                "n": int(over_us.size),
                "p50_us": float(np.percentile(over_us, 50)),
                "p99_us": float(np.percentile(over_us, 99)),
                "max_us": float(over_us.max()),
                "min_us": float(over_us.min()),
                "cpu_pct": 100.0 * a["cpu"] / a["wall"],
            }
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="Write the numbers to this file.")
    ap.add_argument("--scale", type=float, default=1.0, help="Multiply the sample counts (0.25 for a quick run).")
    args = ap.parse_args()
    results = measure(args.scale)
    print(
        f"wait overshoot (actual wake-up - deadline) on {platform.node()}, {platform.processor() or platform.machine()}"
    )
    print(f"{'wait':>6} {'method':>10} {'n':>5} {'p50 us':>9} {'p99 us':>9} {'max us':>9} {'cpu %':>6}")
    for label, per in results.items():
        for m, s in per.items():
            print(
                f"{label:>6} {m:>10} {s['n']:>5} {s['p50_us']:>9.2f} {s['p99_us']:>9.2f} {s['max_us']:>9.2f} {s['cpu_pct']:>6.1f}"
            )
    print("\ngoals: spin p99 <= 2 us, hybrid p99 <= 20 us, each >= 10x better than sleep_for's p99")
    for label, per in results.items():
        base = per["sleep_for"]["p99_us"]
        spin, hyb = per["spin"]["p99_us"], per["hybrid"]["p99_us"]
        print(
            f"{label:>6}: sleep_for p99 / spin p99 = {base / max(spin, 1e-3):7.1f}x  "
            f"sleep_for p99 / hybrid p99 = {base / max(hyb, 1e-3):7.1f}x  "
            f"spin {'ok' if spin <= 2 else 'MISSED'}  hybrid {'ok' if hyb <= 20 else 'MISSED'}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"host": platform.node(), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
