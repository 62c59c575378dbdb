"""What --nvtx costs: the paced runner with NVTX ranges off and on, side by side (GPU by default).

Rounds interleave the cases (off, on, off, on, ...) on one workload so drift cancels. Per case:
  e2e      done - issue per inference: the NVTX calls sit outside it, so on/off should be ~1.00;
  cycle    issue to the next issue at gap 0: the loop's whole cost per inference, ranges included.
"off" runs the loop instantiation that holds no NVTX code, so it is also the not-compiled-in case.
"on" without a profiler attached costs the NVTX3 calls' no-op stubs. With --tool the script
re-runs itself with tests/nvtx_inject/count.c (built with cc) attached as the NVTX tool, so "on"
then also pays a tool's recording (a stand-in for nsys, whose own cost differs).

    python bench/nvtx_overhead.py [--workload tiny] [--rounds 10] [--n 400] [--tool] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from trtpace.measure import pacing, workloads
from trtpace.measure.runner import run_paced
from trtpace.platform import device

GAPS_S = (0.0, 0.001)
CASES = ("off", "on")


def run(w: workloads.Workload, gap_s: float, n: int, nvtx: bool) -> dict[str, np.ndarray]:
    r = run_paced(
        w,
        pacing.gap(gap_s),
        iterations=n,
        warmup=0,
        wait="spin",
        sync="spin",
        nvtx=f"bench: nvtx {'on' if nvtx else 'off'}, gap {gap_s:g} s" if nvtx else None,
    )
    if r.error is not None:
        raise r.error
    rec = r.records
    return {"e2e": rec["done_ns"] - rec["issue_ns"], "cycle": np.diff(rec["issue_ns"])}


def bench(spec: str, rounds: int, n: int) -> dict:
    w = workloads.build(spec, gpu=0)
    if w.device >= 0:
        device.require_gpu(0)
    out: dict = {
        "workload": w.name,
        "rounds": rounds,
        "n_per_round": n,
        "tool": os.environ.get("NVTX_INJECTION64_PATH"),
        "gaps": {},
    }
    for gap in GAPS_S:
        kept: dict[str, dict[str, list[np.ndarray]]] = {c: {"e2e": [], "cycle": []} for c in CASES}
        for case in CASES:
            run(w, gap, n, case == "on")  # warm-up round, not kept
        for _ in range(rounds):
            for case in CASES:
                for k, v in run(w, gap, n, case == "on").items():
                    kept[case][k].append(v)
        out["gaps"][f"{gap:g}"] = {
            case: {k: float(np.median(np.concatenate(v))) / 1e3 for k, v in per.items()} for case, per in kept.items()
        }
    if w.device >= 0:
        out["gpu"] = device.environment(0)["gpu"]["name"]
    return out


def build_tool() -> Path:
    """tests/nvtx_inject/count.c as a shared library, against the CUDA toolkit's NVTX3 headers."""
    src = Path(__file__).resolve().parents[1] / "tests" / "nvtx_inject" / "count.c"
    cc = shutil.which("cc") or shutil.which("gcc")
    include = next(
        (
            Path(r) / "include"
            for r in (os.environ.get("CUDA_HOME"), "/usr/local/cuda")
            if r and (Path(r) / "include" / "nvtx3" / "nvToolsExt.h").is_file()
        ),
        None,
    )
    if cc is None or include is None:
        sys.exit("--tool needs cc and the CUDA toolkit's NVTX3 headers (CUDA_HOME or /usr/local/cuda)")
    lib = Path(tempfile.mkdtemp(prefix="trtpace-nvtx-")) / "libcount.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O2", f"-I{include}", str(src), "-o", str(lib), "-lpthread"], check=True)
    return lib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="tiny", help="A workload spec (host:us=20 runs without a GPU).")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--n", type=int, default=400, help="Inferences per case per round.")
    ap.add_argument("--tool", action="store_true", help="Attach tests/nvtx_inject/count.c as the NVTX tool.")
    ap.add_argument("--json", help="Write the numbers to this file.")
    args = ap.parse_args()
    if args.tool and "NVTX_INJECTION64_PATH" not in os.environ:
        lib = build_tool()
        env = {**os.environ, "NVTX_INJECTION64_PATH": str(lib), "TRTPACE_NVTX_LOG": str(lib.with_suffix(".tsv"))}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)  # NVTX reads its tool once per process
    res = bench(args.workload, args.rounds, args.n)
    tool = f"tool {res['tool']}" if res["tool"] else "no NVTX tool attached"
    print(
        f"--nvtx overhead on {res['workload']} ({res.get('gpu', 'host')}; {tool}); p50 in us, interleaved "
        f"{res['rounds']} x {res['n_per_round']}"
    )
    print(f"{'gap s':>7} {'metric':<6} {'off':>9} {'on':>9} {'on/off':>7}")
    for gap, per in res["gaps"].items():
        for metric in ("e2e", "cycle"):
            off, on = per["off"][metric], per["on"][metric]
            print(f"{gap:>7} {metric:<6} {off:>9.2f} {on:>9.2f} {on / off:>7.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
