"""Workloads the paced runner drives: built-in synthetic kernels, CUDA graphs, Python callables.

A workload spec on the command line is `NAME[:key=value,...]`:

- `tiny`, `medium`, `large`: synthetic presets (about 0.1 ms in 12 kernels, 2 ms in 24, 25 ms in
  60: the shapes of yolov7-tiny, a mid-size model and yolov7), each calibrated on this GPU;
- `synthetic:us=500,kernels=16`: any calibrated synthetic chain;
- `host:us=50`: busy work on the CPU, for running the loop without a GPU;

and the synthetic ones take `launch=graph` (default: one CUDA graph per inference) or
`launch=direct` (one launch per kernel, as an eager framework does).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trtpace import _core
from trtpace.errors import UsageError

__all__ = [
    "PRESETS",
    "Workload",
    "WorkloadSpec",
    "build",
    "from_callable",
    "from_graph",
    "from_graph_exec",
    "host",
    "parse_spec",
    "synthetic",
]

# name: (device time at full clock in us, kernels)
PRESETS: dict[str, tuple[float, int]] = {"tiny": (100.0, 12), "medium": (2000.0, 24), "large": (25000.0, 60)}
MAX_US = 10_000_000.0
MAX_KERNELS = 10_000


@dataclass
class Workload:
    """A ready-to-run workload: the core object plus what must stay alive while it runs."""

    name: str
    core: _core.Workload
    info: dict[str, Any] = field(default_factory=dict)
    keepalive: tuple[Any, ...] = ()
    # Plain `armed`'s gate for this workload, measured once (measure.runner.resolve_armed_gate).
    armed_choice: tuple[str, str] | None = field(default=None, repr=False)
    # The host I/O surface, where the workload has one (from_torch with io="pinned", graph path):
    # name -> pinned host tensor the inference copies in at its start (inputs) or out at its end
    # (outputs). An app writes its preprocessed input straight into `inputs` (Pacer.inputs).
    host_inputs: dict[str, Any] = field(default_factory=dict, repr=False)
    host_outputs: dict[str, Any] = field(default_factory=dict, repr=False)
    # The paced runner's stand-in for the app's input write after each gap: (dst, src0, src1,
    # bytes) host copies into the inputs, from two sources in turn (measure.runner.run_paced).
    staging: tuple[tuple[int, int, int, int], ...] = field(default=(), repr=False)

    @property
    def device(self) -> int:
        return self.core.device

    @property
    def device_timing(self) -> str:
        return self.core.device_timing


@dataclass(frozen=True)
class WorkloadSpec:
    """A parsed workload spec; `build` turns it into a Workload on a GPU."""

    text: str
    kind: str  # synthetic | host
    us: float
    kernels: int = 1
    launch: str = "graph"

    @property
    def needs_gpu(self) -> bool:
        return self.kind != "host"


def _parse_params(text: str, params: str, allowed: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not value.strip():
            raise UsageError(f"workload {text!r}: expected key=value, got {item!r}")
        if key not in allowed:
            raise UsageError(f"workload {text!r}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
        out[key] = value.strip()
    return out


def _number(text: str, key: str, value: str, lo: float, hi: float) -> float:
    try:
        x = float(value)
    except ValueError:
        raise UsageError(f"workload {text!r}: {key}={value!r} is not a number") from None
    if not (math.isfinite(x) and lo < x <= hi):
        raise UsageError(f"workload {text!r}: {key} must be in ({lo:g}, {hi:g}], got {value}")
    return x


def parse_spec(text: str) -> WorkloadSpec:
    """Parses and validates a workload spec without touching a GPU."""
    name, _, params = text.strip().partition(":")
    name = name.strip().lower()
    if name in PRESETS:
        kv = _parse_params(text, params, {"launch"})
        us, kernels = PRESETS[name]
    elif name == "synthetic":
        kv = _parse_params(text, params, {"us", "kernels", "launch"})
        if "us" not in kv:
            raise UsageError(f"workload {text!r}: synthetic needs us=<device time in microseconds>")
        us = _number(text, "us", kv["us"], 0, MAX_US)
        kernels = int(_number(text, "kernels", kv.get("kernels", "12"), 0, MAX_KERNELS))
        if str(kernels) != kv.get("kernels", "12").strip():
            raise UsageError(f"workload {text!r}: kernels must be a whole number")
    elif name == "host":
        kv = _parse_params(text, params, {"us"})
        return WorkloadSpec(text=text, kind="host", us=_number(text, "us", kv.get("us", "100"), 0, MAX_US))
    else:
        known = ", ".join([*PRESETS, "synthetic:us=..,kernels=..", "host:us=.."])
        raise UsageError(f"unknown workload {text!r} (expected one of: {known})")
    launch = kv.get("launch", "graph")
    if launch not in ("graph", "direct"):
        raise UsageError(f"workload {text!r}: launch must be graph or direct, got {launch!r}")
    return WorkloadSpec(text=text, kind="synthetic", us=us, kernels=kernels, launch=launch)


_calibrations: dict[tuple[int, float, int], dict[str, Any]] = {}


def synthetic(
    us: float, kernels: int = 12, *, gpu: int = 0, launch: str = "graph", name: str | None = None
) -> Workload:
    """A chain of `kernels` kernels filling every SM, calibrated to `us` of device time on this GPU.

    Calibration runs the GPU under continuous load (its full clock) and fits the iteration count
    of each kernel; it is done once per (gpu, us, kernels) in a process.
    """
    key = (gpu, float(us), int(kernels))
    if key not in _calibrations:
        _calibrations[key] = dict(_core.calibrate_synthetic(gpu, float(us), int(kernels)))
    cal = _calibrations[key]
    core = _core.SyntheticWorkload(gpu, cal["kernels"], cal["iters_per_kernel"], launch)
    label = name or f"synthetic:us={us:g},kernels={kernels}"
    info = {"kind": "synthetic", "launch": launch, "calibration": cal}
    return Workload(name=label, core=core, info=info)


def host(us: float, *, name: str | None = None) -> Workload:
    """Busy work of `us` microseconds on the CPU: the paced loop without a GPU."""
    return Workload(name=name or f"host:us={us:g}", core=_core.HostWorkload(float(us)), info={"kind": "host"})


def build(spec: WorkloadSpec | str, *, gpu: int = 0) -> Workload:
    """Builds (and calibrates, for synthetic kinds) the workload a spec names."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if spec.kind == "host":
        return host(spec.us, name=spec.text)
    return synthetic(spec.us, spec.kernels, gpu=gpu, launch=spec.launch, name=spec.text)


def from_graph_exec(graph_exec: int, *, gpu: int = 0, keepalive: Any = None, name: str = "cuda graph exec") -> Workload:
    """Runs a borrowed cudaGraphExec_t handle (an int), e.g. torch's `raw_cuda_graph_exec()`.

    `keepalive` is held for as long as the workload lives (the object that owns the handle).
    Device time is bracketed by events around the launch, so it can include host submission;
    `from_graph` avoids that when the cudaGraph_t is available.
    """
    core = _core.GraphExecWorkload(gpu, int(graph_exec))
    return Workload(name=name, core=core, info={"kind": "graph_exec"}, keepalive=(keepalive,))


def from_graph(
    graph: int, *, gpu: int = 0, keepalive: Any = None, name: str = "cuda graph", copy_in: int = 0, copy_out: int = 0
) -> Workload:
    """Runs a borrowed cudaGraph_t handle (an int), e.g. torch's `raw_cuda_graph()` (keep_graph=True).

    The graph is cloned between two event record nodes, so device time excludes host submission.
    `copy_in`/`copy_out`: graphs of the app's input and output copies (captured on their own), run
    before and after it and timed as their own parts (records' copy_in_us, copy_out_us).
    """
    core = _core.GraphWorkload(gpu, int(graph), int(copy_in), int(copy_out))
    return Workload(name=name, core=core, info={"kind": "graph"}, keepalive=(keepalive,))


def from_callable(
    fn: Callable[[int], Any], *, gpu: int = 0, name: str = "python callable", stream: int = 0
) -> Workload:
    """Runs `fn(stream_handle)` per inference; `fn` enqueues its work on that CUDA stream.

    `stream`: a stream handle to run on instead of the workload's own, owned by the caller and
    alive for longer than the workload (e.g. a framework's stream that its allocators track).
    """
    core = _core.CallableWorkload(gpu, fn, name, stream)
    return Workload(name=name, core=core, info={"kind": "callable"}, keepalive=(fn,))
