"""Does background telemetry disturb what it measures? (GPU)

The tiny workload's p50 e2e with the NVML sampler off and on at its default rate, in interleaved
rounds, at gap 0 and at a 20 ms gap. Goal: <= 1% difference.

    python bench/telemetry.py [--json FILE] [--rounds 8] [--n 150]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from trtpace.measure import pacing, telemetry, workloads
from trtpace.measure.runner import run_paced
from trtpace.platform import device


def e2e_us(w: workloads.Workload, p: pacing.Pacing, n: int) -> np.ndarray:
    r = run_paced(w, p, iterations=n, warmup=10, wait="hybrid", sync="spin").records
    return ((r["done_ns"] - r["issue_ns"]) / 1e3)[10:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--n", type=int, default=150)
    args = ap.parse_args()
    device.require_gpu(0)
    tiny = workloads.build("tiny", gpu=0)
    sampler, how = telemetry.open_sampler(0)
    if sampler is None:
        raise SystemExit(how)
    out = {"gpu": device.environment(0)["gpu"]["name"], "sampler": sampler.describe(), "gaps": {}}
    for gap_s, n in ((0.0, args.n * 4), (0.02, args.n)):
        p = pacing.gap(gap_s)
        off: list[np.ndarray] = []
        on: list[np.ndarray] = []
        for _ in range(args.rounds):
            off.append(e2e_us(tiny, p, n))
            with telemetry.Sampler(sampler.source, rate_hz=sampler.rate_hz, clock_samples=sampler.clock_samples):
                on.append(e2e_us(tiny, p, n))
        a, b = np.median(np.concatenate(off)), np.median(np.concatenate(on))
        out["gaps"][str(gap_s)] = {"off_p50_us": a, "on_p50_us": b, "change_pct": 100 * (b - a) / a}
    print(
        f"telemetry sampler at {sampler.rate_hz:.0f} Hz (query {sampler.query_cost_s * 1e6:.0f} us, "
        f"power: {sampler.source.power_source}) on {out['gpu']}"
    )
    for gap, s in out["gaps"].items():
        print(
            f"gap {gap} s: tiny p50 e2e off {s['off_p50_us']:.2f} us, on {s['on_p50_us']:.2f} us, "
            f"change {s['change_pct']:+.2f}% (goal within 1%: {'ok' if abs(s['change_pct']) <= 1 else 'MISSED'})"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
