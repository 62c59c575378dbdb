"""TensorRT engines and ONNX models as workloads (TensorRT 10.x / 11.x Python API, and TensorRT-RTX).

An engine runs with inputs and outputs in memory trtpace owns: random data of each input's type
(random bytes for types numpy lacks: BF16, FP8, INT4, FP4, E8M0), or arrays from an .npz; device
memory, or host memory for shape tensors TensorRT reads on the host; buffers padded for vectorized
formats; an IOutputAllocator for outputs whose shape depends on the data (NonZero, NMS).

Launch paths (the project's vocabulary): `graph`, the default where capture works: after a
warm-up enqueue, `execute_async_v3` is captured into one CUDA graph that the runner launches from
C++; `python`: `execute_async_v3` called from Python per inference. Where capture cannot work
(data-dependent output shapes, loops, some plugins, an RTX context that is not capturable), the
default falls back to `python` and the workload's info says why; an explicit `launch="graph"`
then fails with one line instead.

TensorRT works on the current CUDA device, so the Builder, Runtime, deserialization and context
creation run with the measured GPU made current (`_core.DeviceScope`), and the previous device is
restored after.

The package, by concern: `runtime` (the module, logger, plugins, engine files), `engine_cache`
(ONNX to engine, cached), `tensors` (I/O tensors and their memory), `workload` (contexts, capture,
the workloads).
"""

from __future__ import annotations

from trtpace.measure.workloads.tensorrt.engine_cache import (
    PRECISIONS,
    build_from_onnx,
    cached_engine_meta,
    check_precision,
    default_cache_dir,
    describe_precision,
    engine_cache_path,
    external_data_files,
    parse_precision,
)
from trtpace.measure.workloads.tensorrt.runtime import (
    INSTALL_HINT,
    TensorRTError,
    import_tensorrt,
    load_engine,
    split_ultralytics_header,
)
from trtpace.measure.workloads.tensorrt.tensors import TensorPlan, input_bytes, parse_shapes, plan_tensors
from trtpace.measure.workloads.tensorrt.workload import LAUNCHES, from_engine, from_onnx, open_context

__all__ = [
    "INSTALL_HINT",
    "LAUNCHES",
    "PRECISIONS",
    "TensorPlan",
    "TensorRTError",
    "build_from_onnx",
    "cached_engine_meta",
    "check_precision",
    "default_cache_dir",
    "describe_precision",
    "engine_cache_path",
    "external_data_files",
    "from_engine",
    "from_onnx",
    "import_tensorrt",
    "input_bytes",
    "load_engine",
    "open_context",
    "parse_precision",
    "parse_shapes",
    "plan_tensors",
    "split_ultralytics_header",
]
