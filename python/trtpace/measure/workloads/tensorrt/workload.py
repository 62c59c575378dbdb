"""Engines and ONNX models as workloads: an execution context with its tensors bound, then a CUDA
graph captured from execute_async_v3 (`graph`) or execute_async_v3 from Python (`python`), with
the reason when capture cannot work."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from trtpace import _core
from trtpace.errors import CaptureError, InputError, UsageError
from trtpace.measure.workloads.core import Workload, from_callable, from_graph
from trtpace.measure.workloads.tensorrt.engine_cache import build_from_onnx, cached_engine_meta, describe_precision
from trtpace.measure.workloads.tensorrt.runtime import (
    TensorRTError,
    deserialize,
    import_tensorrt,
    is_rtx,
    read_file,
    split_ultralytics_header,
)
from trtpace.measure.workloads.tensorrt.tensors import TensorPlan, input_bytes, output_allocator, plan_tensors

LAUNCHES = ("graph", "python")


def open_context(
    trt: Any, source: Any, *, gpu: int, shapes: dict[str, tuple[int, ...]], provided: dict[str, np.ndarray], label: str
) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(engine, context, runtime or None, info): deserializes (for a path) and creates the context
    with GPU `gpu` current, then sets the input shapes."""
    info: dict[str, Any] = {}
    runtime = None
    with _core.DeviceScope(gpu):
        if isinstance(source, (str, Path)):
            plan, header = split_ultralytics_header(read_file(source, "engine file"))
            if header is not None:
                info["ultralytics_header"] = {
                    k: header[k] for k in ("description", "version", "imgsz", "batch") if k in header
                }
            engine, runtime = deserialize(trt, plan, label)
        else:
            engine = source
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        dynamic = any(
            d < 0
            for n in names
            if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT
            for d in engine.get_tensor_shape(n)
        )
        if is_rtx(trt) and dynamic:
            # RTX compiles shape-specialized kernels lazily and runs fallback kernels meanwhile; a
            # graph captured then would keep the fallbacks. EAGER specializes before the first run.
            config = engine.create_runtime_config()
            config.dynamic_shapes_kernel_specialization_strategy = trt.DynamicShapesKernelSpecializationStrategy.EAGER
            context = engine.create_execution_context(runtime_config=config)
            info["rtx_kernel_specialization"] = "eager"
        else:
            context = engine.create_execution_context()
        if context is None:
            raise TensorRTError("TensorRT could not create an execution context (out of device memory?)")
        for n in (n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT):
            shape = tuple(engine.get_tensor_shape(n))
            if any(d < 0 for d in shape):
                given = shapes.get(n) or (tuple(provided[n].shape) if n in provided else None)
                if given is None:
                    raise UsageError(
                        f"input {n!r} is dynamic {shape}: give its shape with "
                        f"--shapes {n}:{'x'.join('1' if d < 0 else str(d) for d in shape)}"
                    )
                if not context.set_input_shape(n, given):
                    raise UsageError(f"TensorRT refused shape {given} for input {n!r} (outside the engine's profile?)")
    return engine, context, runtime, info


# Long because it is one sequence: context, tensors, warm-up enqueue, capture or its reason, workload.
def from_engine(
    engine_or_path: Any,
    *,
    gpu: int = 0,
    shapes: dict[str, tuple[int, ...]] | None = None,
    inputs: str | Path | None = None,
    name: str | None = None,
    seed: int = 0,
    launch: str | None = None,
) -> Workload:
    """A workload running a TensorRT engine (a file path or a deserialized ICudaEngine).

    launch: "graph" (one captured CUDA graph per inference; fails where capture cannot work),
    "python" (`execute_async_v3` from Python per inference), or None: graph where capture works,
    else python, with the reason in the workload's info.
    """
    if launch not in (None, *LAUNCHES):
        raise UsageError(f"TensorRT launch must be one of {', '.join(LAUNCHES)}, got {launch!r}")
    trt = import_tensorrt()
    is_path = isinstance(engine_or_path, (str, Path))
    label = name or (Path(engine_or_path).name if is_path else "tensorrt engine")
    provided: dict[str, np.ndarray] = {}
    if inputs is not None:
        try:
            with np.load(inputs) as npz:
                provided = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read --inputs {inputs}: {e}") from None
    engine, context, runtime, info = open_context(
        trt,
        engine_or_path,
        gpu=gpu,
        shapes=shapes or {},
        provided=provided,
        label=str(engine_or_path) if is_path else label,
    )
    plans = plan_tensors(trt, engine, context)
    rng = np.random.default_rng(seed)
    buffers: dict[str, Any] = {}
    allocator = None
    for p in plans:
        if p.data_dependent:
            allocator = allocator or output_allocator(trt, gpu)
            # Reserve the upper bound now, so no allocation happens while inferences are timed.
            address = allocator.reserve(p.name, p.nbytes)
            if not context.set_output_allocator(p.name, allocator):
                raise TensorRTError(f"TensorRT refused the output allocator of tensor {p.name!r}")
        elif p.host:
            data = input_bytes(p, rng, provided.get(p.name)) if p.is_input else np.zeros(p.nbytes, np.uint8)
            buffers[p.name] = data
            address = data.ctypes.data
        else:
            buf = _core.DeviceBuffer(gpu, max(1, p.nbytes))
            if p.is_input:
                buf.upload(input_bytes(p, rng, provided.get(p.name)))  # type: ignore[arg-type]  # ndarray is a buffer
            buffers[p.name] = buf
            address = buf.ptr
        if not context.set_tensor_address(p.name, address):
            raise TensorRTError(f"TensorRT refused the address of tensor {p.name!r}")

    def enqueue(stream: int) -> bool:
        if not context.execute_async_v3(stream):
            raise TensorRTError("execute_async_v3 returned False")
        return True

    python = from_callable(enqueue, gpu=gpu, name=label)
    _core.infer_once(python.core, "spin")  # warm-up outside capture: flushes deferred shape updates
    info.update(
        {
            "kind": "tensorrt",
            "tensorrt": trt.__version__,
            "module": trt.__name__.split(".")[0],
            "io": {p.name: [p.dtype, list(p.shape)] for p in plans},
        }
    )
    special = {p.name: _tensor_note(p) for p in plans if _tensor_note(p)}
    if special:
        info["tensors"] = special
    keep_all = (engine, context, buffers, allocator, runtime)
    reason = (
        _not_capturable(context, plans, cast(_core.CudaWorkload, python.core).stream_handle)
        if launch != "python"
        else None
    )
    graph = None
    if launch != "python" and reason is None:
        try:
            graph = _core.capture_graph(gpu, enqueue)
        except CaptureError as e:  # only capture failures fall back; CUDA errors propagate
            reason = str(e)
    if graph is None:
        if launch == "graph":
            raise TensorRTError(f"{label}: cannot run as a CUDA graph: {reason}; use launch python")
        info["launch"] = "python"
        if reason is not None:
            info["capture_failed"] = reason
        python.info.update(info)
        python.keepalive = (*python.keepalive, *keep_all)
        return python
    w = from_graph(graph.handle, gpu=gpu, keepalive=(graph, *keep_all, enqueue), name=label)
    info["launch"] = "graph"
    w.info.update(info)
    return w


def _tensor_note(p: TensorPlan) -> str:
    notes = []
    if p.data_dependent:
        notes.append(f"data-dependent shape: IOutputAllocator, {p.nbytes} bytes reserved (get_max_output_size)")
    if p.host:
        notes.append("host memory (shape tensor)")
    if p.vectorized is not None:
        notes.append(f"vectorized: dimension {p.vectorized[0]} padded to multiples of {p.vectorized[1]}")
    if p.numpy is None:
        notes.append(f"{p.dtype}: random bytes (numpy has no such type)")
    return "; ".join(notes)


def _not_capturable(context: Any, plans: list[TensorPlan], stream: int) -> str | None:
    dd = [p.name for p in plans if p.data_dependent]
    if dd:
        return (
            f"outputs with data-dependent shapes ({', '.join(dd)}) need an output allocator, which cannot be captured"
        )
    check = getattr(context, "is_stream_capturable", None)  # TensorRT-RTX
    if check is not None and not check(stream):
        return "TensorRT-RTX reports this execution context as not stream capturable"
    return None


def from_onnx(
    path: str | Path,
    *,
    gpu: int = 0,
    shapes: dict[str, tuple[int, ...]] | None = None,
    inputs: str | Path | None = None,
    rebuild: bool = False,
    cache_dir: Path | None = None,
    precision: Sequence[str] = (),
    launch: str | None = None,
) -> Workload:
    """Builds (or reuses from the cache) the engine for an ONNX model and runs it (see from_engine
    for `launch`; `precision`: weakly typed fp16/bf16/int8/fp8 builds, TensorRT 10.x only)."""
    engine_file = build_from_onnx(
        path, shapes or {}, gpu=gpu, rebuild=rebuild, cache_dir=cache_dir, precision=precision
    )
    meta = cached_engine_meta(engine_file) or {}
    w = from_engine(engine_file, gpu=gpu, shapes=shapes, inputs=inputs, name=Path(path).name, launch=launch)
    w.info["engine_file"] = str(engine_file)
    w.info["precision"] = describe_precision(meta.get("strongly_typed", True), meta.get("precision", []))
    return w
