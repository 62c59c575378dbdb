"""The launch paths an inference can take from the host to the GPU: one vocabulary for sweep,
compare, results and reports.

  eager    a PyTorch module called from Python, one kernel launch per op (what most apps do)
  python   TensorRT's execute_async_v3 (or any other callable) called from Python per inference
  replay   a captured CUDA graph replayed from Python (torch.cuda.CUDAGraph.replay)
  direct   one launch per kernel from trtpace's C++ loop (synthetic workloads)
  graph    one CUDA graph launched from trtpace's C++ loop

The first three are the paths apps take; `graph` is what switching to a graph launched from
native code would give. A path's penalty is always against the continuous run of the same path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trtpace.errors import UsageError

LAUNCH_PATHS = ("eager", "python", "replay", "direct", "graph")
PYTHON_PATHS = frozenset({"eager", "python", "replay"})  # a Python call per inference: host CPU state matters
# Paths whose inference can be queued whole behind a gate (armed launch): graphs and kernels
# launched into a stream; eager and python call the model op by op, so arming them would only
# queue the Python calls' launches, not what an app on those paths does.
ARMABLE_PATHS = ("replay", "direct", "graph")
DESCRIPTIONS = {
    "eager": "PyTorch module called from Python",
    "python": "TensorRT execute_async_v3 (or any callable) called from Python",
    "replay": "CUDA graph replayed from Python",
    "direct": "per-kernel launches from C++",
    "graph": "one CUDA graph launched from C++",
}
# What each kind of model can run through, in the order a sweep shows them.
TORCH_PATHS = ("eager", "replay", "graph")
TENSORRT_PATHS = ("python", "graph")
SYNTHETIC_PATHS = ("direct", "graph")


def parse_launch(text: str, allowed: Sequence[str], what: str = "--launch") -> list[str]:
    """'eager,graph' -> ['eager', 'graph'], each checked against `allowed`, no repeats."""
    paths = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not paths:
        raise UsageError(f"{what} needs at least one launch path ({', '.join(allowed)})")
    for p in paths:
        if p not in LAUNCH_PATHS:
            raise UsageError(f"{what}: unknown launch path {p!r} (expected {', '.join(allowed)})")
        if p not in allowed:
            raise UsageError(f"{what}: {p!r} does not apply here (expected {', '.join(allowed)})")
    if len(set(paths)) != len(paths):
        raise UsageError(f"{what} names a launch path twice: {text!r}")
    return paths


def launch_of(info: dict[str, Any]) -> str:
    """The launch path a workload's info records, in this vocabulary ("" for host work).

    TensorRT's fallback when capture fails enqueues from Python each time: that is `python`."""
    launch = str(info.get("launch") or "")
    kind = info.get("kind")
    if kind == "tensorrt" and launch == "direct":
        return "python"
    if not launch and kind in ("graph", "graph_exec", "torch"):
        return "graph"
    if not launch and kind == "callable":
        return "python"
    return launch
