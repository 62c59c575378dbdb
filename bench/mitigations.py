"""Remedies side by side on the GPU: `trtpace compare` over workloads and gaps (GPU).

Workloads tiny, medium, large and a PyTorch conv net (one CUDA graph); gaps 5 ms, 100 ms and
500 ms (500 ms for tiny and the conv net only, to fit a lease). Goal: the best no-root policy
brings tiny's p50 penalty at 100 ms to <= 1.10x.

    python bench/mitigations.py [--json FILE] [--rounds 2] [--iterations 15]
"""

from __future__ import annotations

import argparse
import json

from trtpace.measure import workloads
from trtpace.platform import device
from trtpace.results.policies import recommend, summarize_policies
from trtpace.run import compare

POLICIES = [
    "sleep",
    "spin",
    "sync-block",
    "keepwarm:1ms",
    "keepwarm:100us",
    "prewarm:1ms",
    "prewarm:100us",
    "spin+keepwarm:100us",
]


def torch_net() -> workloads.Workload | None:
    try:
        import torch

        from trtpace.measure.workloads.torch_module import from_torch
    except ImportError:
        return None
    net = (
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding=1)
        )
        .cuda()
        .eval()
    )
    return from_torch(net, (torch.randn(1, 3, 64, 64, device="cuda"),), name="torch conv net")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=15)
    args = ap.parse_args()
    device.require_gpu(0)
    net = torch_net()
    plan = [(w, g) for w in ("tiny", "medium", "large") for g in (0.005, 0.1)] + [("tiny", 0.5)]
    if net is not None:
        plan += [(net, 0.005), (net, 0.1), (net, 0.5)]
    out = {"gpu": device.environment(0)["gpu"]["name"], "policies": POLICIES, "runs": []}
    for w, gap in plan:
        result = compare(w, gap, POLICIES, rounds=args.rounds, iterations=args.iterations, warmup=5)
        summaries = summarize_policies(result)
        rec = recommend(summaries)
        name = w if isinstance(w, str) else w.name
        out["runs"].append(
            {"workload": name, "gap_s": gap, "policies": [s.to_json() for s in summaries], "recommendation": rec}
        )
        print(f"\n{name} at {gap * 1e3:g} ms gap")
        print(f"  {'policy':<22}{'p50 ms':>9}{'p99 ms':>9}{'penalty':>9}{'submit us':>10}{'W':>6}{'CPU %':>7}")
        for s in summaries:
            print(
                f"  {s.policy:<22}{s.e2e_us['p50'] / 1e3:>9.3f}{s.e2e_us['p99'] / 1e3:>9.3f}{s.penalty:>8.2f}x"
                f"{s.submit_us['p50']:>10.1f}{s.power_mean_w:>6.0f}{s.cpu_pct:>7.0f}"
            )
        if rec:
            print("  " + rec["line"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, default=float)


if __name__ == "__main__":
    main()
