"""The launch path the app takes: the same PyTorch models run eagerly from Python, replayed as a
CUDA graph from Python, and launched as a graph from trtpace's C++ loop, at 0, 33 ms and 100 ms
gaps. Writes one JSON with the penalty (p50, p99, 95% CI) per model, path and gap.

    python bench/app_path.py --json bench/results/<gpu>-<date>/app_path.json --iterations 300
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench.models` from a checkout

from bench.models import MODELS

import trtpace
from trtpace.measure.launch import TORCH_PATHS
from trtpace.measure.workloads import from_torch_paths

GAPS_S = (0.0, 0.033, 0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, required=True, help="where to write the results")
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--io", default="none", choices=("none", "pinned", "pageable"))
    ap.add_argument("--out", type=Path, default=None, help="results folder (default: a temporary one)")
    args = ap.parse_args()
    out = {
        "gaps_s": list(GAPS_S),
        "paths": list(TORCH_PATHS),
        "iterations": args.iterations,
        "io": args.io,
        "models": {},
    }
    for name, factory in MODELS.items():
        module, inputs = factory()
        io = args.io
        paths = [p for p in TORCH_PATHS if not (p == "graph" and io == "pageable")]
        wls = from_torch_paths(module, inputs, paths, gpu=args.gpu, name=name, io=io)
        folder = args.out / name if args.out else Path(tempfile.mkdtemp(prefix=f"app-path-{name}-"))
        result = trtpace.sweep(
            wls, gaps_s=GAPS_S, iterations=args.iterations, warmup=args.warmup, gpu=args.gpu, out=folder
        )
        rows = []
        for row in result.rows():
            e2e = row["summary"]["e2e_us"]
            rows.append(
                {
                    "path": row["launch"],
                    "gap_s": row["pacing"].get("gap_s"),
                    "p50_us": e2e["p50"],
                    "p50_ci_us": [e2e["p50_ci_low"], e2e["p50_ci_high"]],
                    "p99_us": e2e["p99"],
                    "p99_reliable": e2e["p99_reliable"],
                    "submit_p50_us": row["summary"]["submit_us"]["p50"],
                    "device_p50_us": row["summary"]["device_us"]["p50"],
                    "penalty": row["penalty"],
                    "penalty_ci": [row["penalty_ci_low"], row["penalty_ci_high"]],
                    "cpu_mhz_issue_p50": row["summary"]["cpu_mhz_issue"]["p50"],
                    "attribution": row["attribution"]["line"] if row["attribution"] else None,
                }
            )
            print(
                f"{name:18s} {row['launch']:7s} {row['pacing']['label']:12s} p50 {e2e['p50'] / 1e3:7.3f} ms "
                f"penalty {row['penalty']:.2f}x"
            )
        out["models"][name] = {
            "results": str(folder),
            "conditions": rows,
            "switching": [s["line"] for s in result.launch_switches()],
            "host_cpu": result.environment.get("host_cpu"),
        }
        for line in out["models"][name]["switching"]:
            print("  " + line)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
