"""TensorRT engines and ONNX models as workloads (TensorRT 10.x / 11.x Python API, and TensorRT-RTX).

An engine runs with inputs and outputs in device memory trtpace owns (random data of each input's
dtype, never zeros, or arrays from an .npz). After one warm-up enqueue, `execute_async_v3` is
captured into a CUDA graph that the runner launches; where capture fails (loops, data-dependent
shapes, some plugins), each inference enqueues directly, and the workload's info says so.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from trtpace import _core
from trtpace.errors import TrtpaceError, UsageError
from trtpace.measure.workloads.core import Workload, from_callable, from_graph

INSTALL_HINT = "pip install tensorrt (or trtpace[tensorrt]); TensorRT-RTX: pip install tensorrt-rtx"


class TensorRTError(TrtpaceError):
    """TensorRT refused a model or an engine; the message carries TensorRT's own words."""


def import_tensorrt() -> Any:
    """The installed TensorRT module: `tensorrt`, else `tensorrt_rtx`."""
    for name in ("tensorrt", "tensorrt_rtx"):
        try:
            return __import__(name)
        except ImportError:
            continue
    raise TensorRTError(f"TensorRT is not installed: {INSTALL_HINT}")


def _logger(trt: Any) -> Any:
    """A TensorRT logger that keeps the errors and warnings, to quote them in one-line errors."""

    class Collecting(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            sev = trt.ILogger.Severity
            if severity in (sev.INTERNAL_ERROR, sev.ERROR, sev.WARNING):
                self.messages.append(str(msg))

    return Collecting()


def _first(messages: list[str], default: str) -> str:
    for m in messages:
        if m.strip():
            return m.strip().splitlines()[0][:300]
    return default


def parse_shapes(text: str | None) -> dict[str, tuple[int, ...]]:
    """'input:1x3x640x640,mask:1x640' -> {'input': (1, 3, 640, 640), 'mask': (1, 640)}."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in filter(None, (t.strip() for t in (text or "").split(","))):
        name, sep, dims = item.rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or any(d <= 0 for d in shape):
            raise UsageError(f"--shapes: {item!r} is not NAME:DxDxD with positive dimensions (e.g. input:1x3x640x640)")
        shapes[name] = shape
    return shapes


def _read(path: str | Path, what: str) -> bytes:
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {p} does not exist") from None
    except OSError as e:
        raise UsageError(f"cannot read {what} {p}: {e.strerror}") from None


def load_engine(path: str | Path) -> tuple[Any, Any]:
    """(engine, runtime) from a serialized .engine/.plan file."""
    data = _read(path, "engine file")
    trt = import_tensorrt()
    logger = _logger(trt)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        reason = _first(logger.messages, "not a TensorRT engine")
        raise TensorRTError(f"{path}: cannot load the engine (TensorRT {trt.__version__}): {reason}")
    return engine, runtime


def engine_cache_path(onnx_data: bytes, shapes: dict[str, tuple[int, ...]], trt_version: str, gpu_key: str,
                      cache_dir: Path) -> Path:
    """Where the engine built from this model, these shapes, this TensorRT and this GPU is kept."""
    h = hashlib.sha256(onnx_data)
    h.update(repr(sorted(shapes.items())).encode())
    h.update(f"{trt_version}|{gpu_key}".encode())
    return cache_dir / f"{h.hexdigest()[:24]}.engine"


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trtpace" / "engines"


def build_from_onnx(path: str | Path, shapes: dict[str, tuple[int, ...]], *, gpu: int = 0, rebuild: bool = False,
                    cache_dir: Path | None = None) -> Path:
    """Builds (or finds in the cache) the engine for an ONNX model; returns the engine file."""
    data = _read(path, "ONNX model")
    trt = import_tensorrt()
    info = _core.device_info(gpu)
    cached = engine_cache_path(data, shapes, trt.__version__, f"{info['name']}|{info['compute_capability']}",
                               cache_dir or default_cache_dir())
    if cached.exists() and not rebuild:
        return cached
    logger = _logger(trt)
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if strongly_typed is not None:  # TensorRT 10: opt in; 11 and RTX: always on
        flags = 1 << int(strongly_typed)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(data):
        errors = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        raise TensorRTError(f"{path}: the ONNX parser failed: {_first(errors, 'unknown error')}")
    config = builder.create_builder_config()
    dynamic = {}
    for i in range(network.num_inputs):
        t = network.get_input(i)
        if any(d < 0 for d in tuple(t.shape)):
            if t.name not in shapes:
                raise UsageError(f"input {t.name!r} is dynamic {tuple(t.shape)}: give its shape with "
                                 f"--shapes {t.name}:{'x'.join('1' if d < 0 else str(d) for d in t.shape)}")
            dynamic[t.name] = shapes[t.name]
    if dynamic:
        profile = builder.create_optimization_profile()
        for name, shape in dynamic.items():
            profile.set_shape(name, shape, shape, shape)
        config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise TensorRTError(f"{path}: TensorRT could not build an engine: {_first(logger.messages, 'no reason given')}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(bytes(plan))
    return cached


def _random_input(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    return rng.integers(1, 8, size=shape).astype(dtype)  # small, non-zero: valid as indices and lengths


def from_engine(engine_or_path: Any, *, gpu: int = 0, shapes: dict[str, tuple[int, ...]] | None = None,
                inputs: str | Path | None = None, name: str | None = None, seed: int = 0) -> Workload:
    """A workload running a TensorRT engine (a file path or a deserialized ICudaEngine)."""
    trt = import_tensorrt()
    keep: list[Any] = []
    if isinstance(engine_or_path, (str, Path)):
        engine, runtime = load_engine(engine_or_path)
        keep.append(runtime)
        name = name or Path(engine_or_path).name
    else:
        engine = engine_or_path
    shapes = shapes or {}
    provided: dict[str, np.ndarray] = {}
    if inputs is not None:
        try:
            with np.load(inputs) as npz:
                provided = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read --inputs {inputs}: {e}") from None
    context = engine.create_execution_context()
    if context is None:
        raise TensorRTError("TensorRT could not create an execution context (out of device memory?)")
    rng = np.random.default_rng(seed)
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    is_input = {n: engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
    for n in (n for n in names if is_input[n]):
        shape = tuple(engine.get_tensor_shape(n))
        if any(d < 0 for d in shape):
            given = shapes.get(n) or (tuple(provided[n].shape) if n in provided else None)
            if given is None:
                raise UsageError(f"input {n!r} is dynamic {shape}: give its shape with "
                                 f"--shapes {n}:{'x'.join('1' if d < 0 else str(d) for d in shape)}")
            if not context.set_input_shape(n, given):
                raise TensorRTError(f"TensorRT refused shape {given} for input {n!r}")
    buffers: dict[str, Any] = {}
    for n in names:
        shape = tuple(context.get_tensor_shape(n))
        dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(n)))
        buf = _core.DeviceBuffer(gpu, max(1, int(np.prod(shape)) * dtype.itemsize))
        if is_input[n]:
            data = provided.get(n)
            if data is None:
                data = _random_input(rng, shape, dtype)
            elif tuple(data.shape) != shape or data.dtype != dtype:
                raise UsageError(f"--inputs: {n!r} is {data.dtype}{list(data.shape)}, the engine wants {dtype}{list(shape)}")
            buf.upload(np.ascontiguousarray(data))  # type: ignore[arg-type]  # ndarray is a buffer
        if not context.set_tensor_address(n, buf.ptr):
            raise TensorRTError(f"TensorRT refused the address of tensor {n!r}")
        buffers[n] = buf

    def enqueue(stream: int) -> bool:
        if not context.execute_async_v3(stream):
            raise TensorRTError("execute_async_v3 returned False")
        return True

    label = name or "tensorrt engine"
    direct = from_callable(enqueue, gpu=gpu, name=label)
    _core.infer_once(direct.core, "spin")  # warm-up outside capture: flushes deferred shape updates
    info: dict[str, Any] = {"kind": "tensorrt", "tensorrt": trt.__version__,
                            "io": {n: [str(np.dtype(trt.nptype(engine.get_tensor_dtype(n)))),
                                       list(context.get_tensor_shape(n))] for n in names}}
    keep_all = (engine, context, buffers, *keep)
    try:
        graph = _core.capture_graph(gpu, enqueue)
    except RuntimeError as e:
        info["launch"] = "direct"
        info["capture_failed"] = str(e)
        direct.info.update(info)
        direct.keepalive = (*direct.keepalive, *keep_all)
        return direct
    w = from_graph(graph.handle, gpu=gpu, keepalive=(graph, *keep_all, enqueue), name=label)
    info["launch"] = "graph"
    w.info.update(info)
    return w


def from_onnx(path: str | Path, *, gpu: int = 0, shapes: dict[str, tuple[int, ...]] | None = None,
              inputs: str | Path | None = None, rebuild: bool = False, cache_dir: Path | None = None) -> Workload:
    """Builds (or reuses from the cache) the engine for an ONNX model and runs it."""
    engine_file = build_from_onnx(path, shapes or {}, gpu=gpu, rebuild=rebuild, cache_dir=cache_dir)
    w = from_engine(engine_file, gpu=gpu, shapes=shapes, inputs=inputs, name=Path(path).name)
    w.info["engine_file"] = str(engine_file)
    return w
