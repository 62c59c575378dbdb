"""Workloads the paced runner drives: built-in synthetic kernels, CUDA graphs, Python callables,
PyTorch modules (`torch`, imported only when used) and TensorRT engines (`tensorrt`).

A workload spec on the command line is `NAME[:key=value,...]`; see `core.parse_spec`.
"""

from __future__ import annotations

from trtpace.measure.workloads import tensorrt
from trtpace.measure.workloads import torch_module as torch
from trtpace.measure.workloads.core import (
    PRESETS,
    Workload,
    WorkloadSpec,
    build,
    from_callable,
    from_graph,
    from_graph_exec,
    host,
    parse_spec,
    synthetic,
)
from trtpace.measure.workloads.torch_module import IO_MODES, from_torch, from_torch_paths

__all__ = [
    "IO_MODES",
    "PRESETS",
    "Workload",
    "WorkloadSpec",
    "build",
    "from_callable",
    "from_graph",
    "from_graph_exec",
    "from_torch",
    "from_torch_paths",
    "host",
    "parse_spec",
    "synthetic",
    "tensorrt",
    "torch",
]
