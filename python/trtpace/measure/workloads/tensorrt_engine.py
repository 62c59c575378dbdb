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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from trtpace import _core
from trtpace.errors import CaptureError, InputError, TrtpaceError, UsageError
from trtpace.fileio import atomic_write
from trtpace.measure.workloads.core import Workload, from_callable, from_graph

INSTALL_HINT = "pip install tensorrt (or trtpace[tensorrt]); TensorRT-RTX: pip install tensorrt-rtx"
LAUNCHES = ("graph", "python")
PRECISIONS = ("fp16", "bf16", "int8", "fp8")
# Bits per element where DataType.itemsize gives none (the real module has no E8M0 entry).
_BITS_BY_NAME = {"E8M0": 8}


class TensorRTError(TrtpaceError):
    """TensorRT refused a model or an engine at run time; the message carries TensorRT's own words."""


def import_tensorrt() -> Any:
    """The installed TensorRT module: `tensorrt`, else `tensorrt_rtx`."""
    for name in ("tensorrt", "tensorrt_rtx"):
        try:
            return __import__(name)
        except ImportError:
            continue
    raise TensorRTError(f"TensorRT is not installed: {INSTALL_HINT}")


def _is_rtx(trt: Any) -> bool:
    return trt.__name__.split(".")[0] == "tensorrt_rtx"


def _logger(trt: Any) -> Any:
    """A TensorRT logger that keeps errors and warnings, to quote them in one-line errors."""

    class Collecting(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages: list[tuple[int, str]] = []

        def log(self, severity: Any, msg: str) -> None:
            sev = trt.ILogger.Severity
            if severity in (sev.INTERNAL_ERROR, sev.ERROR, sev.WARNING):
                self.messages.append((int(severity), str(msg)))

    return Collecting()


def _reason(trt: Any, logger: Any, default: str) -> str:
    """The message that explains a failure: the first error, else the first warning."""
    errors = {int(trt.ILogger.Severity.INTERNAL_ERROR), int(trt.ILogger.Severity.ERROR)}
    ranked = [m for s, m in logger.messages if s in errors] + [m for s, m in logger.messages if s not in errors]
    return _first(ranked, default)


def _first(messages: list[str], default: str) -> str:
    for m in messages:
        if m.strip():
            return m.strip().splitlines()[0][:300]
    return default


def _init_plugins(trt: Any, logger: Any) -> bool:
    """Registers TensorRT's built-in plugins (EfficientNMS_TRT, ...): engines and models that use
    them do not load otherwise."""
    init = getattr(trt, "init_libnvinfer_plugins", None)
    return bool(init(logger, "")) if init is not None else False


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


def parse_precision(names: Sequence[str] | None) -> tuple[str, ...]:
    """Validated weak-typing precisions ('fp16', 'int8', ...), in a stable order."""
    given = {n.strip().lower() for n in names or ()}
    unknown = sorted(given - set(PRECISIONS))
    if unknown:
        raise UsageError(f"precision {unknown[0]!r} is not one of {', '.join(PRECISIONS)}")
    return tuple(p for p in PRECISIONS if p in given)


def _read(path: str | Path, what: str) -> bytes:
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} {p} does not exist") from None
    except OSError as e:
        raise InputError(f"cannot read {what} {p}: {e.strerror}") from None


def split_ultralytics_header(data: bytes) -> tuple[bytes, dict[str, Any] | None]:
    """(plan, metadata): Ultralytics writes a 4-byte little-endian length and that much JSON
    metadata before the TensorRT plan; other files come back unchanged with None."""
    if len(data) < 6:
        return data, None
    (n,) = struct.unpack("<I", data[:4])
    if not (2 <= n <= len(data) - 4) or data[4:5] != b"{":
        return data, None
    try:
        meta = json.loads(data[4:4 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return data, None
    return (data[4 + n:], meta) if isinstance(meta, dict) else (data, None)


def _deserialize(trt: Any, plan: bytes, label: str) -> tuple[Any, Any]:
    logger = _logger(trt)
    _init_plugins(trt, logger)
    runtime = trt.Runtime(logger)
    runtime.engine_host_code_allowed = True  # version-compatible engines carry their lean runtime
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        reason = _reason(trt, logger, "not a TensorRT engine")
        raise InputError(f"{label}: cannot load the engine (TensorRT {trt.__version__}): {reason}")
    return engine, runtime


def load_engine(path: str | Path) -> tuple[Any, Any]:
    """(engine, runtime) from a serialized .engine/.plan file (an Ultralytics header is skipped),
    on the current CUDA device."""
    plan, _ = split_ultralytics_header(_read(path, "engine file"))
    return _deserialize(import_tensorrt(), plan, str(path))


_EXTERNAL = re.compile(rb"\x0a\x08location\x12([\x01-\x7f])")


def external_data_files(onnx_path: Path, data: bytes) -> list[Path]:
    """The external weight files an ONNX model names (protobuf `location` entries of its tensors)."""
    files = []
    for m in _EXTERNAL.finditer(data):
        raw = data[m.end():m.end() + m.group(1)[0]]
        try:
            files.append(onnx_path.parent / raw.decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return sorted(set(files))


def engine_cache_path(onnx_data: bytes, shapes: dict[str, tuple[int, ...]], trt_version: str, gpu_key: str,
                      cache_dir: Path, extra: str = "") -> Path:
    """Where the engine built from this model, these shapes, this TensorRT and this GPU is kept;
    `extra` covers build options and external weight files."""
    h = hashlib.sha256(onnx_data)
    h.update(repr(sorted(shapes.items())).encode())
    h.update(f"{trt_version}|{gpu_key}|{extra}".encode())
    return cache_dir / f"{h.hexdigest()[:24]}.engine"


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trtpace" / "engines"


def _sidecar(engine: Path) -> Path:
    return engine.with_suffix(".json")


def cached_engine_meta(engine: Path) -> dict[str, Any] | None:
    """The build record of a cached engine, or None when the engine is missing, truncated or
    altered (its size and SHA-256 must match what was written)."""
    try:
        meta = json.loads(_sidecar(engine).read_text())
        data = engine.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("bytes") != len(data) or meta.get("sha256") != hashlib.sha256(data).hexdigest():
        return None
    return meta


def describe_precision(strongly_typed: bool, precision: Sequence[str]) -> str:
    if strongly_typed:
        return "strongly typed: each layer runs in the data types of the ONNX model (an FP32 model stays FP32)"
    return f"weakly typed: TensorRT may run layers in {', '.join(p.upper() for p in precision)} (and FP32)"


def _precision_flags(trt: Any, precision: tuple[str, ...]) -> list[Any]:
    flags = []
    for p in precision:
        flag = getattr(trt.BuilderFlag, p.upper(), None)
        if flag is None:
            raise UsageError(f"--{p}: TensorRT {trt.__version__} builds only strongly typed networks (weak typing was "
                             f"removed); put the precision in the ONNX model instead (e.g. NVIDIA ModelOpt)")
        flags.append(flag)
    return flags


def check_precision(precision: Sequence[str]) -> tuple[str, ...]:
    """Validated precisions for the installed TensorRT (which is imported), before any GPU work."""
    prec = parse_precision(precision)
    _precision_flags(import_tensorrt(), prec)
    return prec


def build_from_onnx(path: str | Path, shapes: dict[str, tuple[int, ...]], *, gpu: int = 0, rebuild: bool = False,
                    cache_dir: Path | None = None, precision: Sequence[str] = ()) -> Path:
    """Builds (or finds in the cache) the engine for an ONNX model; returns the engine file.

    The model is parsed from its path, so external weight files (models over 2 GB) load; the cache
    key covers them (by name, size and modification time: hashing gigabytes of weights on every
    run would cost seconds). Cache files are written atomically and checked before reuse.
    """
    path = Path(path)
    data = _read(path, "ONNX model")
    trt = import_tensorrt()
    prec = parse_precision(precision)
    flags = _precision_flags(trt, prec)
    externals = []
    for f in external_data_files(path, data):
        try:
            st = f.stat()
        except OSError:
            raise InputError(f"{path}: its external weight file {f} cannot be read") from None
        externals.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    info = _core.device_info(gpu)
    cached = engine_cache_path(data, shapes, trt.__version__, f"{info['name']}|{info['compute_capability']}",
                               cache_dir or default_cache_dir(), extra=f"{','.join(prec)}|{';'.join(externals)}")
    if not rebuild and cached_engine_meta(cached) is not None:
        return cached
    with _core.DeviceScope(gpu):
        plan, strongly = _build(trt, path, shapes, flags)
    cached.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(cached, lambda f: f.write(plan))
    meta = {"sha256": hashlib.sha256(plan).hexdigest(), "bytes": len(plan), "tensorrt": trt.__version__,
            "model": str(path), "strongly_typed": strongly, "precision": list(prec)}
    atomic_write(_sidecar(cached), lambda f: f.write(json.dumps(meta, indent=2).encode()))
    return cached


def _build(trt: Any, path: Path, shapes: dict[str, tuple[int, ...]], precision_flags: list[Any]) -> tuple[bytes, bool]:
    logger = _logger(trt)
    _init_plugins(trt, logger)
    builder = trt.Builder(logger)
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    # TensorRT 10: strong typing is opt-in and precision flags need it off; 11 and RTX: always on.
    network = builder.create_network(0 if precision_flags or strongly_typed is None else 1 << int(strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(path)):
        errors = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        raise InputError(f"{path}: the ONNX parser failed: {_first(errors, _reason(trt, logger, 'unknown error'))}")
    config = builder.create_builder_config()
    for flag in precision_flags:
        config.set_flag(flag)
    user_allocation = getattr(trt.BuilderFlag, "REQUIRE_USER_ALLOCATION", None)
    if user_allocation is not None:  # TensorRT-RTX captures only such engines into CUDA graphs
        config.set_flag(user_allocation)
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
        raise TensorRTError(f"{path}: TensorRT could not build an engine: {_reason(trt, logger, 'no reason given')}")
    return bytes(plan), not precision_flags


@dataclass
class TensorPlan:
    """How trtpace holds one engine I/O tensor."""

    name: str
    is_input: bool
    shape: tuple[int, ...]  # -1 where an output's size depends on the data
    dtype: str  # numpy's name, else TensorRT's (bf16, fp8, int4, fp4, e8m0)
    numpy: np.dtype | None  # None where numpy has no such type: the tensor holds random bytes
    nbytes: int  # padded for vectorized formats, rounded up for sub-byte types
    host: bool  # a shape tensor TensorRT reads on the host
    data_dependent: bool
    vectorized: tuple[int, int] | None = None  # (dimension, components per element)


def _bits(trt: Any, dt: Any, name: str) -> int:
    size = getattr(dt, "itemsize", None)
    if size:
        return round(float(size) * 8)
    bits = _BITS_BY_NAME.get(getattr(dt, "name", str(dt)).split(".")[-1])
    if bits is None:
        raise TensorRTError(f"tensor {name!r} has data type {dt}, whose size trtpace does not know")
    return bits


def plan_tensors(trt: Any, engine: Any, context: Any) -> list[TensorPlan]:
    """Sizes, types and places of every I/O tensor, after the input shapes are set."""
    plans = []
    for i in range(engine.num_io_tensors):
        n = engine.get_tensor_name(i)
        is_input = engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT
        shape = tuple(int(d) for d in context.get_tensor_shape(n))
        dt = engine.get_tensor_dtype(n)
        try:
            npdt: np.dtype | None = np.dtype(trt.nptype(dt))
        except TypeError:  # BF16, FP8, INT4, FP4, E8M0: numpy has no such type
            npdt = None
        label = npdt.name if npdt is not None else str(getattr(dt, "name", dt)).split(".")[-1].lower()
        host = engine.get_tensor_location(n) == trt.TensorLocation.HOST
        data_dependent = not is_input and any(d < 0 for d in shape)
        padded = list(shape)
        vectorized = None
        vdim = int(engine.get_tensor_vectorized_dim(n))
        comps = int(engine.get_tensor_components_per_element(n))
        if vdim >= 0 and comps > 1 and not data_dependent:
            padded[vdim] = -(-padded[vdim] // comps) * comps
            vectorized = (vdim, comps)
        if data_dependent:
            nbytes = max(int(context.get_max_output_size(n)), 0)
        else:
            nbytes = math.ceil(math.prod(padded) * _bits(trt, dt, n) / 8)
        plans.append(TensorPlan(n, is_input, shape, label, npdt, nbytes, host, data_dependent, vectorized))
    return plans


def _random_input(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    return rng.integers(1, 8, size=shape).astype(dtype)  # small, non-zero: valid as indices and lengths


def input_bytes(p: TensorPlan, rng: np.random.Generator, given: np.ndarray | None) -> np.ndarray:
    """The bytes an input starts with: `given` (checked against the engine) or random data."""
    if p.numpy is None:
        if given is None:
            return rng.integers(0, 256, size=p.nbytes, dtype=np.uint8)
        if given.dtype != np.uint8 or given.nbytes != p.nbytes:
            raise InputError(f"--inputs: {p.name!r} is {p.dtype}, which numpy lacks: give its {p.nbytes} raw bytes "
                             f"as a uint8 array")
        return np.ascontiguousarray(given).reshape(-1)
    if given is None:
        data = _random_input(rng, p.shape, p.numpy)
    elif tuple(given.shape) != p.shape or given.dtype != p.numpy:
        raise InputError(f"--inputs: {p.name!r} is {given.dtype}{list(given.shape)}, the engine wants "
                         f"{p.numpy}{list(p.shape)}")
    else:
        data = given
    if p.vectorized is not None:  # vectorized formats: pad the vectorized dimension with zeros
        dim, comps = p.vectorized
        pad = [(0, 0)] * data.ndim
        pad[dim] = (0, -(-data.shape[dim] // comps) * comps - data.shape[dim])
        data = np.pad(data, pad)
    out = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    assert out.nbytes == p.nbytes, (p, out.nbytes)
    return out


def _output_allocator(trt: Any, gpu: int) -> Any:
    class OutputAllocator(trt.IOutputAllocator):
        """Device memory for outputs whose size TensorRT knows only while it runs; grows, never shrinks."""

        def __init__(self) -> None:
            trt.IOutputAllocator.__init__(self)
            self.buffers: dict[str, Any] = {}
            self.shapes: dict[str, tuple[int, ...]] = {}

        def reserve(self, tensor_name: str, size: int) -> int:
            buf = self.buffers.get(tensor_name)
            if buf is None or buf.nbytes < size:
                buf = _core.DeviceBuffer(gpu, max(int(size), 1))
                self.buffers[tensor_name] = buf
            return int(buf.ptr)

        def reallocate_output(self, tensor_name: str, memory: int, size: int, alignment: int) -> int:
            return self.reserve(tensor_name, size)

        def reallocate_output_async(self, tensor_name: str, memory: int, size: int, alignment: int,
                                    stream: int) -> int:
            return self.reserve(tensor_name, size)

        def notify_shape(self, tensor_name: str, shape: Any) -> None:
            self.shapes[tensor_name] = tuple(shape)

    return OutputAllocator()


def open_context(trt: Any, source: Any, *, gpu: int, shapes: dict[str, tuple[int, ...]],
                 provided: dict[str, np.ndarray], label: str) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(engine, context, runtime or None, info): deserializes (for a path) and creates the context
    with GPU `gpu` current, then sets the input shapes."""
    info: dict[str, Any] = {}
    runtime = None
    with _core.DeviceScope(gpu):
        if isinstance(source, (str, Path)):
            plan, header = split_ultralytics_header(_read(source, "engine file"))
            if header is not None:
                info["ultralytics_header"] = {k: header[k] for k in ("description", "version", "imgsz", "batch")
                                              if k in header}
            engine, runtime = _deserialize(trt, plan, label)
        else:
            engine = source
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        dynamic = any(d < 0 for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT
                      for d in engine.get_tensor_shape(n))
        if _is_rtx(trt) and dynamic:
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
                    raise UsageError(f"input {n!r} is dynamic {shape}: give its shape with "
                                     f"--shapes {n}:{'x'.join('1' if d < 0 else str(d) for d in shape)}")
                if not context.set_input_shape(n, given):
                    raise UsageError(f"TensorRT refused shape {given} for input {n!r} (outside the engine's profile?)")
    return engine, context, runtime, info


def from_engine(engine_or_path: Any, *, gpu: int = 0, shapes: dict[str, tuple[int, ...]] | None = None,
                inputs: str | Path | None = None, name: str | None = None, seed: int = 0,
                launch: str | None = None) -> Workload:
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
    engine, context, runtime, info = open_context(trt, engine_or_path, gpu=gpu, shapes=shapes or {},
                                                  provided=provided, label=str(engine_or_path) if is_path else label)
    plans = plan_tensors(trt, engine, context)
    rng = np.random.default_rng(seed)
    buffers: dict[str, Any] = {}
    allocator = None
    for p in plans:
        if p.data_dependent:
            allocator = allocator or _output_allocator(trt, gpu)
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
    info.update({"kind": "tensorrt", "tensorrt": trt.__version__, "module": trt.__name__.split(".")[0],
                 "io": {p.name: [p.dtype, list(p.shape)] for p in plans}})
    special = {p.name: _tensor_note(p) for p in plans if _tensor_note(p)}
    if special:
        info["tensors"] = special
    keep_all = (engine, context, buffers, allocator, runtime)
    reason = _not_capturable(context, plans, cast(_core.CudaWorkload, python.core).stream_handle) if launch != "python" else None
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
        return f"outputs with data-dependent shapes ({', '.join(dd)}) need an output allocator, which cannot be captured"
    check = getattr(context, "is_stream_capturable", None)  # TensorRT-RTX
    if check is not None and not check(stream):
        return "TensorRT-RTX reports this execution context as not stream capturable"
    return None


def from_onnx(path: str | Path, *, gpu: int = 0, shapes: dict[str, tuple[int, ...]] | None = None,
              inputs: str | Path | None = None, rebuild: bool = False, cache_dir: Path | None = None,
              precision: Sequence[str] = (), launch: str | None = None) -> Workload:
    """Builds (or reuses from the cache) the engine for an ONNX model and runs it (see from_engine
    for `launch`; `precision`: weakly typed fp16/bf16/int8/fp8 builds, TensorRT 10.x only)."""
    engine_file = build_from_onnx(path, shapes or {}, gpu=gpu, rebuild=rebuild, cache_dir=cache_dir,
                                  precision=precision)
    meta = cached_engine_meta(engine_file) or {}
    w = from_engine(engine_file, gpu=gpu, shapes=shapes, inputs=inputs, name=Path(path).name, launch=launch)
    w.info["engine_file"] = str(engine_file)
    w.info["precision"] = describe_precision(meta.get("strongly_typed", True), meta.get("precision", []))
    return w
