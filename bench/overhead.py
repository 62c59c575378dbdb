"""Host overhead of trtpace's paced loop per inference, against bare loops on the same graph (GPU).

Back to back (gap 0), e2e per inference of:
  bare C++    cudaGraphLaunch + cudaStreamSynchronize in a C++ loop, nothing else;
  trtpace     the paced runner (spin wait, spin sync, records, device timing);
  torch       a Python loop of CUDAGraph.replay() + stream synchronize (PyTorch graph only).
Rounds interleave the loops so drift cancels. Goal: trtpace adds <= 1 us at p50 over bare C++.

    python bench/overhead.py [--json FILE] [--rounds 10] [--n 400]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from trtpace import _core
from trtpace.measure import pacing, workloads
from trtpace.measure.runner import run_paced
from trtpace.platform import device


def runner_e2e_ns(w: workloads.Workload, n: int) -> np.ndarray:
    r = run_paced(w, pacing.gap(0), iterations=n, warmup=0, wait="spin", sync="spin").records
    return r["done_ns"] - r["issue_ns"]


def torch_case():
    try:
        import torch
    except ImportError:
        return None
    if not hasattr(torch.cuda.CUDAGraph, "raw_cuda_graph_exec"):
        return None
    from trtpace.measure.workloads.torch_module import capture_graph

    net = (
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding=1)
        )
        .cuda()
        .eval()
    )
    g, _ = capture_graph(net, (torch.randn(1, 3, 64, 64, device="cuda"),))
    replay_stream = torch.cuda.Stream()

    def torch_loop(n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int64)
        with torch.cuda.stream(replay_stream):
            for i in range(n):
                t = time.monotonic_ns()
                g.replay()
                replay_stream.synchronize()
                out[i] = time.monotonic_ns() - t
        return out

    return g, torch_loop


def bench(rounds: int, n: int) -> dict:
    device.require_gpu(0)
    cases: dict[str, dict[str, list[np.ndarray]]] = {}
    tiny = workloads.build("tiny", gpu=0)
    loops = {
        "tiny (trtpace graph)": {
            "bare C++": lambda: _core._bench_bare_graph_loop(0, tiny.core.graph_exec_handle, n),
            "trtpace": lambda: runner_e2e_ns(tiny, n),
        }
    }
    tc = torch_case()
    if tc is not None:
        g, torch_loop = tc
        borrowed = workloads.from_graph_exec(g.raw_cuda_graph_exec(), gpu=0, keepalive=g)
        wrapped = workloads.from_graph(g.raw_cuda_graph(), gpu=0, keepalive=g)
        # Borrowed executable: trtpace brackets the launch with two stream events for device time.
        loops["conv net, exec handle"] = {
            "bare C++": lambda: _core._bench_bare_graph_loop(0, g.raw_cuda_graph_exec(), n),
            "trtpace": lambda: runner_e2e_ns(borrowed, n),
            "torch": lambda: torch_loop(n),
        }
        # cudaGraph_t handle: cloned between event record nodes; the bare loop runs that clone.
        loops["conv net, graph handle"] = {
            "bare C++": lambda: _core._bench_bare_graph_loop(0, wrapped.core.graph_exec_handle, n),
            "trtpace": lambda: runner_e2e_ns(wrapped, n),
        }
    for case, fns in loops.items():
        for fn in fns.values():
            fn()  # warm-up round, not kept
        cases[case] = {name: [] for name in fns}
        for _ in range(rounds):
            for name, fn in fns.items():
                cases[case][name].append(fn())
    out: dict = {"gpu": device.environment(0)["gpu"], "rounds": rounds, "n_per_round": n, "cases": {}}
    for case, per in cases.items():
        out["cases"][case] = {}
        for name, arrays in per.items():
            us = np.concatenate(arrays) / 1e3
            out["cases"][case][name] = {
                "p50_us": float(np.median(us)),
                "p99_us": float(np.percentile(us, 99)),
                "mean_us": float(us.mean()),
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="Write the numbers to this file.")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--n", type=int, default=400, help="Inferences per loop per round.")
    args = ap.parse_args()
    res = bench(args.rounds, args.n)
    print(f"host overhead per inference, back to back, on {res['gpu']['name']}")
    print(f"{'case':<24} {'loop':<9} {'p50 us':>9} {'p99 us':>9} {'mean us':>9}")
    for case, per in res["cases"].items():
        for name, s in per.items():
            print(f"{case:<24} {name:<9} {s['p50_us']:>9.2f} {s['p99_us']:>9.2f} {s['mean_us']:>9.2f}")
        bare = per["bare C++"]["p50_us"]
        extra = per["trtpace"]["p50_us"] - bare
        line = f"{case}: trtpace - bare C++ = {extra:+.2f} us at p50 (goal <= 1 us: {'ok' if extra <= 1 else 'MISSED'})"
        if "torch" in per:
            line += f"; torch loop / trtpace = {per['torch']['p50_us'] / per['trtpace']['p50_us']:.2f}x"
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
