"""Armed launch as a Python app uses it, end to end: the app's input is written into a pinned
staging buffer, the captured graph copies it in, runs the model and copies the output to a pinned
host buffer; each inference's latency runs from "the input is here" (before the app writes it)
to "the output is on the host" (after the wait returns).

Ways to start the same graph, in interleaved rounds at one gap (and back to back, the baseline):
  replay    torch.cuda.CUDAGraph.replay() from Python, then stream.synchronize()
  infer     trtpace.Pacer(...).infer(): the graph launched from C++, called from Python
  armed     trtpace.Pacer(..., armed="kernel", sync=--sync): arm() right after the previous
            output, then at the due time write the input, release() (one store) and wait()

    python bench/armed_python.py --gap 0.1 --rounds 5 --n 200 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench.models` from a checkout

import torch
from bench.models import MODELS

import trtpace
from trtpace.measure import workloads
from trtpace.measure.workloads.torch_module import capture_graph
from trtpace.results.stats import summarize


def until(due_ns: int) -> None:
    """Sleeps to 200 us before `due_ns`, then spins (what a camera loop's wait looks like)."""
    left = due_ns - time.monotonic_ns() - 200_000
    if left > 0:
        time.sleep(left / 1e9)
    while time.monotonic_ns() < due_ns:
        pass


# Long because a benchmark's main is its protocol, read top to bottom: setup, interleaved rounds, report.
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="conv_net", choices=sorted(MODELS))
    ap.add_argument("--gap", type=float, default=0.1, help="seconds between one output and the next input")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=200, help="inferences per way per round")
    ap.add_argument(
        "--sync",
        default="flag",
        choices=("spin", "flag"),
        help="how the armed Pacer waits for its output (the 2026-11-25 run: spin)",
    )
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()

    module, (example,) = MODELS[a.model]()
    dev_in = example.clone()
    staging_in = torch.empty(dev_in.shape, dtype=dev_in.dtype, pin_memory=True)
    with torch.no_grad():
        out = module(dev_in)
    staging_out = torch.empty(out.shape, dtype=out.dtype, pin_memory=True)

    def body() -> torch.Tensor:  # what the armed graph runs: copy in, model, copy out
        dev_in.copy_(staging_in, non_blocking=True)
        y = module(dev_in)
        staging_out.copy_(y, non_blocking=True)
        return y

    graph, _ = capture_graph(module, (dev_in,), body=body)
    stream = torch.cuda.Stream()
    frames = [example.cpu().numpy() + np.float16(i * 1e-3) for i in range(4)]  # "camera frames"
    host_in = staging_in.numpy()

    plain = trtpace.Pacer(workloads.from_graph(graph.raw_cuda_graph(), keepalive=graph, name=a.model))
    armed = trtpace.Pacer(
        workloads.from_graph(graph.raw_cuda_graph(), keepalive=graph, name=a.model), armed="kernel", sync=a.sync
    )

    def replay(frame: np.ndarray) -> None:
        host_in[...] = frame
        with torch.cuda.stream(stream):
            graph.replay()
        stream.synchronize()

    def infer(frame: np.ndarray) -> None:
        host_in[...] = frame
        plain.infer()

    def armed_infer(frame: np.ndarray) -> None:
        host_in[...] = frame
        armed.release()
        armed.wait()

    ways = {"replay": replay, "infer": infer, "armed": armed_infer}
    e2e: dict[str, list[float]] = {f"{w} {g}": [] for w in ways for g in ("continuous", "gap")}
    with armed:
        for _ in range(a.rounds):
            for name, fn in ways.items():
                for mode in ("continuous", "gap"):
                    for i in range(a.n + 5):  # 5 warm-up inferences per block
                        if name == "armed":
                            armed.arm()  # right after the previous output: during the gap
                        if mode == "gap":
                            until(time.monotonic_ns() + round(a.gap * 1e9))
                        t0 = time.monotonic_ns()  # the input is here
                        fn(frames[i % len(frames)])
                        t1 = time.monotonic_ns()  # the output is on the host
                        if i >= 5:
                            e2e[f"{name} {mode}"].append((t1 - t0) / 1e3)
    rows = {}
    print(f"{a.model}, gap {a.gap:g} s, {a.rounds} rounds x {a.n}, input write to output on the host")
    print(
        f"{'way':8} {'continuous p50 us':>18} {'gap p50 us':>11} {'gap p99 us':>11} {'penalty':>8} {'vs replay cont.':>16}"
    )
    base = summarize(np.asarray(e2e["replay continuous"]))["p50"]
    for name in ways:
        c = summarize(np.asarray(e2e[f"{name} continuous"]))
        g = summarize(np.asarray(e2e[f"{name} gap"]))
        rows[name] = {
            "continuous": c,
            "gap": g,
            "penalty": g["p50"] / c["p50"],
            "vs_replay_continuous": g["p50"] / base,
        }
        print(
            f"{name:8} {c['p50']:18.1f} {g['p50']:11.1f} {g['p99']:11.1f} {g['p50'] / c['p50']:7.3f}x "
            f"{g['p50'] / base:15.3f}x"
        )
    if a.json:
        a.json.write_text(
            json.dumps(
                {
                    "model": a.model,
                    "gap_s": a.gap,
                    "rounds": a.rounds,
                    "n": a.n,
                    "gpu": torch.cuda.get_device_name(),
                    "armed_sync": a.sync,
                    "ways": rows,
                },
                indent=2,
                default=float,
            )
        )


if __name__ == "__main__":
    main()
