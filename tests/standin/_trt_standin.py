"""The stand-in TensorRT Python API for tests, in three flavours: TensorRT 10.x ("10"), 11.x ("11")
and TensorRT-RTX ("rtx"). `tensorrt/__init__.py` and `tensorrt_rtx/__init__.py` load this file as
a separate module per flavour (`_load`), so each flavour has its own classes and enum values.

No TensorRT runtime can run where trtpace is tested, so trtpace's TensorRT backend is tested
against this module; tests/test_tensorrt_conformance.py checks every public name, signature, enum
value, `nptype` mapping and `DataType.itemsize` here against the real bindings wheels of the same
flavour, and fails when this module offers something the real one lacks. Names that exist in only
some flavours are listed in `_ONLY` and removed from the others.

Behaviour follows the real API where the backend relies on it: deserialize_cuda_engine returns None
and logs why (an unrelated WARNING first, as TensorRT often does), a plugin engine or model fails
with "could not find plugin" until `init_libnvinfer_plugins` ran, version-compatible engines need
`runtime.engine_host_code_allowed = True`, outputs with data-dependent shapes report -1 and need an
IOutputAllocator (or an address) to enqueue and cannot be captured, `nptype` raises TypeError for
types numpy lacks, TensorRT-RTX captures only engines built with REQUIRE_USER_ALLOCATION and its
LAZY kernel specialization runs fallback kernels for the first enqueues of a new shape.
execute_async_v3 enqueues real GPU work on the given stream through trtpace's test hook, on the
device that was current at deserialization, so capture and direct enqueue run for real on a GPU.
An "engine" is this module's own serialized description of the network.
"""

from __future__ import annotations

import builtins
import enum
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

_FLAVOUR: str = globals().get("_REQUESTED_FLAVOUR", "10")  # set by `load` before this module runs
_VERSIONS = {"10": "10.16.1+standin", "11": "11.4.0+standin", "rtx": "1.7.1+standin"}
__version__ = _VERSIONS[_FLAVOUR]
_MAGIC = b"TRT-STANDIN-ENGINE\n"

# Names present in only some flavours (checked against those wheels by the conformance test).
_ONLY: dict[str, tuple[str, ...]] = {
    "BuilderFlag.FP16": ("10",),
    "BuilderFlag.BF16": ("10",),
    "BuilderFlag.INT8": ("10",),
    "BuilderFlag.FP8": ("10",),
    "BuilderFlag.OBEY_PRECISION_CONSTRAINTS": ("10",),
    "NetworkDefinitionCreationFlag.EXPLICIT_BATCH": ("10",),
    "BuilderFlag.REQUIRE_USER_ALLOCATION": ("rtx",),
    "IExecutionContext.is_stream_capturable": ("rtx",),
    "ICudaEngine.create_runtime_config": ("10", "11", "rtx"),
    "IRuntimeConfig.dynamic_shapes_kernel_specialization_strategy": ("rtx",),
    "IRuntimeConfig.cuda_graph_strategy": ("rtx",),
    "DynamicShapesKernelSpecializationStrategy": ("rtx",),
    "CudaGraphStrategy": ("rtx",),
}


def _here(name: str) -> bool:
    return _FLAVOUR in _ONLY.get(name, (_FLAVOUR,))


def _enum(name: str, values: dict[str, dict[str, int]]) -> Any:
    """An IntEnum with this flavour's members and values ({member: {flavour: value}})."""
    members = {m: v[_FLAVOUR] for m, v in values.items() if _FLAVOUR in v and _here(f"{name}.{m}")}
    return enum.IntEnum(name, members)


_ALL = ("10", "11", "rtx")
_bool = builtins.bool  # `bool` below is DataType.BOOL, as in the real module


def _same(value: int) -> dict[str, int]:
    return dict.fromkeys(_ALL, value)


DataType = _enum(
    "DataType",
    {
        m: _same(v)
        for m, v in {
            "FLOAT": 0,
            "HALF": 1,
            "INT8": 2,
            "INT32": 3,
            "BOOL": 4,
            "UINT8": 5,
            "FP8": 6,
            "BF16": 7,
            "INT64": 8,
            "INT4": 9,
            "FP4": 10,
            "E8M0": 11,
        }.items()
    },
)
float32, float16, bfloat16, int8, int32, int64, bool, uint8, fp8, int4, fp4, e8m0 = (  # real names
    DataType.FLOAT,
    DataType.HALF,
    DataType.BF16,
    DataType.INT8,
    DataType.INT32,
    DataType.INT64,
    DataType.BOOL,
    DataType.UINT8,
    DataType.FP8,
    DataType.INT4,
    DataType.FP4,
    DataType.E8M0,
)

# The real module's tables (tensorrt_bindings/__init__.py): nptype knows 7 types; itemsize
# knows all but E8M0, for which it returns None; sub-byte types are 0.5.
_NP = {
    float32: np.float32,
    float16: np.float16,
    int8: np.int8,
    int32: np.int32,
    int64: np.int64,
    bool: np.bool_,
    uint8: np.uint8,
}
_ITEMSIZE = {
    float32: 4,
    float16: 2,
    bfloat16: 2,
    int8: 1,
    int32: 4,
    int64: 8,
    bool: 1,
    uint8: 1,
    fp8: 1,
    int4: 0.5,
    fp4: 0.5,
}


def nptype(trt_type: Any) -> type:
    if trt_type in _NP:
        return _NP[trt_type]
    raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")


def volume(iterable: Any) -> int:
    vol = 1
    for elem in iterable:
        vol *= elem
    return vol


DataType.itemsize = property(_ITEMSIZE.get)  # type: ignore[attr-defined]

TensorIOMode = _enum("TensorIOMode", {"NONE": _same(0), "INPUT": _same(1), "OUTPUT": _same(2)})
TensorLocation = _enum("TensorLocation", {"DEVICE": _same(0), "HOST": _same(1)})
TensorFormat = _enum(
    "TensorFormat",
    {
        m: _same(v)
        for m, v in {
            "LINEAR": 0,
            "CHW2": 1,
            "HWC8": 2,
            "CHW4": 3,
            "CHW16": 4,
            "CHW32": 5,
            "DHWC8": 6,
            "CDHW32": 7,
            "HWC": 8,
            "DLA_LINEAR": 9,
            "DLA_HWC4": 10,
            "HWC16": 11,
            "DHWC": 12,
        }.items()
    },
)
# Vectorized formats: (vectorized dim counted from the end, components per element).
_VECTORIZED = {
    "CHW2": (-3, 2),
    "CHW4": (-3, 4),
    "CHW16": (-3, 16),
    "CHW32": (-3, 32),
    "HWC8": (-3, 8),
    "HWC16": (-3, 16),
    "DHWC8": (-4, 8),
    "CDHW32": (-4, 32),
}
BuilderFlag = _enum(
    "BuilderFlag",
    {
        "FP16": {"10": 0},
        "INT8": {"10": 1},
        "BF16": {"10": 17},
        "FP8": {"10": 15},
        "OBEY_PRECISION_CONSTRAINTS": {"10": 9},
        "VERSION_COMPATIBLE": {"10": 13, "11": 12, "rtx": 12},
        "REQUIRE_USER_ALLOCATION": {"rtx": 28},
    },
)
_PRECISION_FLAGS = ("FP16", "BF16", "INT8", "FP8")
NetworkDefinitionCreationFlag = _enum(
    "NetworkDefinitionCreationFlag", {"EXPLICIT_BATCH": {"10": 0}, "STRONGLY_TYPED": {"10": 1, "11": 0, "rtx": 0}}
)
ExecutionContextAllocationStrategy = _enum(
    "ExecutionContextAllocationStrategy", {"STATIC": _same(0), "ON_PROFILE_CHANGE": _same(1), "USER_MANAGED": _same(2)}
)
if _here("DynamicShapesKernelSpecializationStrategy"):
    DynamicShapesKernelSpecializationStrategy = _enum(
        "DynamicShapesKernelSpecializationStrategy", {"LAZY": {"rtx": 0}, "EAGER": {"rtx": 1}, "NONE": {"rtx": 2}}
    )
    CudaGraphStrategy = _enum("CudaGraphStrategy", {"DISABLED": {"rtx": 0}, "WHOLE_GRAPH_CAPTURE": {"rtx": 1}})
_LAZY_FALLBACK_ENQUEUES = 3  # RTX LAZY: enqueues of a new shape that run fallback kernels
_FALLBACK_SLOWDOWN = 3  # fallback kernels take this many times the specialized work

# Test hooks: what ran on which device (trtpace's DeviceScope tells the current device).
_events: list[tuple[str, int | None]] = []
_plugins_initialised = False
_KNOWN_PLUGINS = {"EfficientNMS_TRT", "BatchedNMSDynamic_TRT", "ROIAlign_TRT"}


def _current_device() -> int | None:
    from trtpace import _core

    try:
        return int(_core.DeviceScope.current())
    except _core.CudaError:
        return None  # no GPU here: nothing is current


def _record(what: str) -> int | None:
    device = _current_device()
    _events.append((what, device))
    return device


def init_libnvinfer_plugins(logger: Any, namespace: str) -> bool:
    global _plugins_initialised
    _check_base(logger, ILogger, "logger")
    _plugins_initialised = True
    return True


def _check_base(obj: Any, base: type, what: str) -> None:
    # pybind11 refuses a Python subclass whose __init__ did not call the base class's __init__.
    if not isinstance(obj, base):
        raise TypeError(f"incompatible function arguments: {what} must be a {base.__name__}")
    if not getattr(obj, "_base_initialised", False):
        raise TypeError(f"{type(obj).__name__}.__init__() must be called when overriding __init__")


class Dims(tuple):
    pass


class ILogger:
    Severity = enum.IntEnum("Severity", {"INTERNAL_ERROR": 0, "ERROR": 1, "WARNING": 2, "INFO": 3, "VERBOSE": 4})
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = Severity

    def __init__(self) -> None:
        self._base_initialised = True

    def log(self, severity: Any, msg: str) -> None:
        raise RuntimeError('Tried to call pure virtual function "ILogger::log"')


class Logger(ILogger):
    min_severity: Any

    def __init__(self, min_severity: Any = ILogger.Severity.WARNING) -> None:
        super().__init__()
        self.min_severity = min_severity

    def log(self, severity: Any, msg: str) -> None:
        pass


def _log(logger: ILogger, severity: Any, msg: str) -> None:
    logger.log(severity, msg)


def _fail(logger: ILogger, error: str) -> None:
    # TensorRT often logs an unrelated warning before the error that explains a failure.
    _log(
        logger,
        ILogger.Severity.WARNING,
        "Using an engine plan file across different models of devices is not "
        "recommended and is likely to affect performance or even cause errors.",
    )
    _log(logger, ILogger.Severity.ERROR, error)


class IOutputAllocator:
    def __init__(self) -> None:
        self._base_initialised = True

    def reallocate_output(self, tensor_name: str, memory: int, size: int, alignment: int) -> int:
        raise RuntimeError('Tried to call pure virtual function "IOutputAllocator::reallocateOutput"')

    def reallocate_output_async(self, tensor_name: str, memory: int, size: int, alignment: int, stream: int) -> int:
        return self.reallocate_output(tensor_name, memory, size, alignment)  # the C++ default forwards

    def notify_shape(self, tensor_name: str, shape: Dims) -> None:
        raise RuntimeError('Tried to call pure virtual function "IOutputAllocator::notifyShape"')


class IHostMemory(bytes):
    @property
    def nbytes(self) -> int:
        return len(self)


class ITensor:
    # Public instance attributes are declared here, so the conformance test sees them.
    name: str
    shape: Dims
    dtype: Any

    def __init__(self, name: str, shape: tuple[int, ...], dtype: Any, dims: list[Any] | None = None):
        self.name, self.shape, self.dtype = name, Dims(shape), dtype
        self._dims = dims or list(shape)  # ints or symbolic names (str)


class INetworkDefinition:
    def __init__(self, flags: int):
        self._flags = flags
        self._inputs: list[ITensor] = []
        self._outputs: list[ITensor] = []
        self._capturable = True
        self._plugins: list[str] = []

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    def get_input(self, index: int) -> ITensor:
        return self._inputs[index]

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    def get_output(self, index: int) -> ITensor:
        return self._outputs[index]

    def get_flag(self, flag: Any) -> bool:
        if _FLAVOUR != "10" and flag == NetworkDefinitionCreationFlag.STRONGLY_TYPED:
            return True  # 11 and RTX: always strongly typed
        return _bool(self._flags & (1 << int(flag)))


class ParserError:
    def __init__(self, text: str):
        self._text = text

    def desc(self) -> str:
        return self._text


_FROM_ONNX = {
    1: float32,
    10: float16,
    16: bfloat16,
    3: int8,
    2: uint8,
    6: int32,
    7: int64,
    9: bool,
    17: fp8,
    22: int4,
    23: fp4,
    24: e8m0,
}


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: ILogger):
        _check_base(logger, ILogger, "logger")
        self._network, self._logger = network, logger
        self._errors: list[ParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int) -> ParserError:
        return self._errors[index]

    def clear_errors(self) -> None:
        self._errors.clear()

    def _error(self, text: str) -> bool:
        self._errors.append(ParserError(text))
        return False

    def parse(self, model: bytes, path: str | None = None) -> bool:
        import onnx

        try:
            proto = onnx.load_from_string(bytes(model))
        except Exception as e:  # the real parser reports every failure as a parser error
            return self._error(f"ModelImporter.cpp: failed to parse the ONNX model: {e}")
        return self._import(proto, None if path is None else Path(path))

    def parse_from_file(self, model: str) -> bool:
        import onnx

        try:
            proto = onnx.load(model, load_external_data=False)
        except Exception as e:
            return self._error(f"ModelImporter.cpp: failed to parse the ONNX model {model}: {e}")
        return self._import(proto, Path(model))

    def _import(self, proto: Any, model_path: Path | None) -> bool:
        import onnx

        external = False
        for t in proto.graph.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                external = True
                location = next((e.value for e in t.external_data if e.key == "location"), "")
                if model_path is None or not (model_path.parent / location).is_file():
                    return self._error(
                        f"onnxImporter.cpp: Failed to open external data file {location!r} for "
                        f"initializer {t.name!r} (parse with the model's path)"
                    )
        try:  # external data is checked relative to the model's folder
            onnx.checker.check_model(str(model_path) if external else proto)
        except Exception as e:
            return self._error(f"ModelImporter.cpp: failed to parse the ONNX model: {e}")
        plugins = [n.op_type for n in proto.graph.node if n.op_type.endswith("_TRT")]
        for p in plugins:
            if not (_plugins_initialised and p in _KNOWN_PLUGINS):
                return self._error(
                    f"ModelImporter.cpp: No importer registered for op: {p}. Attempting to import as "
                    f"plugin. ... Plugin not found, are the plugin name, version, and namespace "
                    f"correct?"
                )
        initializers = {i.name for i in proto.graph.initializer}

        def tensor(v: Any) -> ITensor | None:
            t = v.type.tensor_type
            if t.elem_type not in _FROM_ONNX:
                return None
            dims: list[Any] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]
            return ITensor(v.name, tuple(d if isinstance(d, int) else -1 for d in dims), _FROM_ONNX[t.elem_type], dims)

        ins = [tensor(v) for v in proto.graph.input if v.name not in initializers]
        outs = [tensor(v) for v in proto.graph.output]
        if any(t is None for t in (*ins, *outs)):
            return self._error("ModelImporter.cpp: an input or output has a data type TensorRT does not support")
        self._network._inputs = [t for t in ins if t is not None]
        self._network._outputs = [t for t in outs if t is not None]
        self._network._capturable = not any(n.op_type in ("Loop", "If") for n in proto.graph.node)
        self._network._plugins = plugins
        return True


class IOptimizationProfile:
    def __init__(self) -> None:
        self._shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}

    def set_shape(self, input: str, min: Any, opt: Any, max: Any) -> None:  # real names
        self._shapes[input] = (tuple(min), tuple(opt), tuple(max))


class IBuilderConfig:
    def __init__(self) -> None:
        self._profiles: list[IOptimizationProfile] = []
        self._flags: set[Any] = set()

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        self._profiles.append(profile)
        return len(self._profiles) - 1

    def set_flag(self, flag: Any) -> None:
        self._flags.add(BuilderFlag(flag))

    def clear_flag(self, flag: Any) -> None:
        self._flags.discard(BuilderFlag(flag))

    def get_flag(self, flag: Any) -> bool:
        return BuilderFlag(flag) in self._flags


class Builder:
    def __init__(self, logger: ILogger):
        _check_base(logger, ILogger, "logger")
        self._logger = logger
        _record("Builder")

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(flags)

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> IHostMemory | None:
        profiled = {k for p in config._profiles for k in p._shapes}
        for t in network._inputs:
            if any(d < 0 for d in t.shape) and t.name not in profiled:
                _fail(
                    self._logger, "Network has dynamic or shape inputs, but no optimization profile has been defined."
                )
                return None
        precision = sorted(f.name for f in config._flags if f.name in _PRECISION_FLAGS)
        strongly = network.get_flag(NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        if precision and strongly:
            _fail(
                self._logger,
                f"IBuilderConfig::setFlag: Error Code 3: API Usage Error (BuilderFlag::k{precision[0]} "
                f"is not allowed in a strongly typed network.)",
            )
            return None
        names = {t.name for t in network._inputs}
        follows = {d: (t.name, i) for t in network._inputs for i, d in enumerate(t._dims) if isinstance(d, str)}
        io = [_tensor_doc(t, "INPUT") for t in network._inputs]
        for t in network._outputs:
            doc = _tensor_doc(t, "OUTPUT")
            # An output dim named like an input's dynamic dim follows it; any other unknown dim
            # depends on the data (NonZero, NMS).
            doc["follows"] = [list(follows[d]) if isinstance(d, str) and d in follows else None for d in t._dims]
            doc["data_dependent"] = any(isinstance(d, str) and d not in follows for d in t._dims)
            io.append(doc)
        assert names  # a network has inputs
        doc = {
            "version": __version__,
            "flavour": _FLAVOUR,
            "io": io,
            "capturable": network._capturable,
            "work_ns": 30_000,
            "plugins": network._plugins,
            "version_compatible": BuilderFlag.VERSION_COMPATIBLE in config._flags,
            "user_allocation": _FLAVOUR == "rtx" and BuilderFlag.REQUIRE_USER_ALLOCATION in config._flags,
            "precision": precision,
            "strongly_typed": _bool(strongly),
        }
        return IHostMemory(_MAGIC + json.dumps(doc).encode())


def _tensor_doc(t: ITensor, mode: str) -> dict[str, Any]:
    return {
        "name": t.name,
        "mode": mode,
        "shape": list(t.shape),
        "dtype": DataType(t.dtype).name,
        "location": "DEVICE",
        "format": "LINEAR",
    }


def _serialize(io: list[dict[str, Any]], **kw: Any) -> bytes:
    """Test helper: an engine with any tensors (dtype, location, format, data_dependent, follows)."""
    doc = {
        "version": __version__,
        "flavour": _FLAVOUR,
        "capturable": True,
        "work_ns": 30_000,
        "plugins": [],
        "version_compatible": False,
        "user_allocation": False,
        "precision": [],
        "strongly_typed": True,
    }
    doc.update(kw)
    doc["io"] = [{"location": "DEVICE", "format": "LINEAR", "follows": None, "data_dependent": False, **t} for t in io]
    return _MAGIC + json.dumps(doc).encode()


class IRuntimeConfig:
    dynamic_shapes_kernel_specialization_strategy: Any
    cuda_graph_strategy: Any

    def __init__(self) -> None:
        if _FLAVOUR == "rtx":
            self.dynamic_shapes_kernel_specialization_strategy = DynamicShapesKernelSpecializationStrategy.LAZY
            self.cuda_graph_strategy = CudaGraphStrategy.DISABLED


class IExecutionContext:
    def __init__(self, engine: ICudaEngine, runtime_config: IRuntimeConfig | None):
        self._engine = engine
        self._config = runtime_config or IRuntimeConfig()
        self._shapes = {t["name"]: tuple(t["shape"]) for t in engine._io if t["mode"] == "INPUT"}
        self._addresses: dict[str, int] = {}
        self._allocators: dict[str, IOutputAllocator] = {}
        self._enqueues_at_shape = 0
        self._fallback_enqueues = 0  # test hook: enqueues that ran RTX fallback kernels

    @property
    def engine(self) -> ICudaEngine:
        return self._engine

    def set_input_shape(self, name: str, shape: Any) -> bool:
        declared = self._engine._by_name.get(name)
        if declared is None or declared["mode"] != "INPUT" or len(shape) != len(declared["shape"]):
            return False
        if any(d >= 0 and d != s for d, s in zip(declared["shape"], shape, strict=False)):
            return False
        if tuple(shape) != self._shapes[name]:
            self._enqueues_at_shape = 0
        self._shapes[name] = tuple(shape)
        return True

    def get_tensor_shape(self, name: str) -> Dims:
        t = self._engine._by_name[name]
        if t["mode"] == "INPUT":
            return Dims(self._shapes[name])
        follows = t.get("follows") or [None] * len(t["shape"])
        return Dims(self._shapes[f[0]][f[1]] if f is not None else d for d, f in zip(t["shape"], follows, strict=True))

    def get_max_output_size(self, name: str) -> int:
        t = self._engine._by_name.get(name)
        if t is None or t["mode"] != "OUTPUT" or self._unset_inputs():
            return -1
        dims = [d if d >= 0 else 100 for d in self.get_tensor_shape(name)]  # 100: the stand-in's bound
        return _nbytes(DataType[t["dtype"]], dims)

    def set_output_allocator(self, name: str, output_allocator: IOutputAllocator | None) -> bool:
        t = self._engine._by_name.get(name)
        if t is None or t["mode"] != "OUTPUT":
            return False
        if output_allocator is None:
            self._allocators.pop(name, None)
            return True
        _check_base(output_allocator, IOutputAllocator, "output_allocator")
        self._allocators[name] = output_allocator
        return True

    def get_output_allocator(self, name: str) -> IOutputAllocator | None:
        return self._allocators.get(name)

    def set_tensor_address(self, name: str, memory: int) -> bool:
        if name not in self._engine._by_name:
            return False
        self._addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name: str) -> int:
        return self._addresses.get(name, 0)

    def _unset_inputs(self) -> list[str]:
        return [n for n, s in self._shapes.items() if any(d < 0 for d in s)]

    def _data_dependent(self) -> list[str]:
        return [t["name"] for t in self._engine._io if t.get("data_dependent")]

    def is_stream_capturable(self, stream: int) -> bool:
        e = self._engine
        return _bool(e._user_allocation and e._capturable and not self._data_dependent())

    def execute_async_v3(self, stream_handle: int) -> bool:
        from trtpace import _core

        log = self._engine._logger
        for t in self._engine._io:
            n = t["name"]
            if n not in self._addresses and n not in self._allocators:
                _fail(
                    log,
                    f"IExecutionContext::enqueueV3: Error Code 3: API Usage Error (Parameter check failed, "
                    f"condition: mContext.profileObliviousBindings.at(profileObliviousIndex) || "
                    f"getPtrOrNull(mOutputAllocators, profileObliviousIndex). Address is not set for "
                    f"{'input' if t['mode'] == 'INPUT' else 'output'} tensor {n}.)",
                )
                return False
        if self._unset_inputs():
            _fail(log, f"IExecutionContext::enqueueV3: input shapes not specified: {self._unset_inputs()}")
            return False
        capturing = _core._stream_is_capturing(stream_handle)
        if capturing and self._data_dependent():
            _fail(log, "IExecutionContext::enqueueV3: data-dependent output shapes cannot be captured in a CUDA graph")
            return False
        if capturing and not self._engine._capturable:
            return False  # loops and conditionals cannot be captured into a CUDA graph
        if capturing and _FLAVOUR == "rtx" and not self._engine._user_allocation:
            _fail(
                log,
                "IExecutionContext::enqueueV3: stream capture needs an engine built with "
                "BuilderFlag.REQUIRE_USER_ALLOCATION",
            )
            return False
        for n in self._data_dependent():
            alloc = self._allocators.get(n)
            if alloc is None:
                continue  # the address given must hold get_max_output_size bytes
            t = self._engine._by_name[n]
            shape = [d if d >= 0 else 7 for d in self.get_tensor_shape(n)]  # 7 "detections"
            ptr = alloc.reallocate_output_async(
                n, self._addresses.get(n, 0), _nbytes(DataType[t["dtype"]], shape), 256, stream_handle
            )
            if not ptr:
                _fail(log, f"IExecutionContext::enqueueV3: the output allocator returned no memory for {n}")
                return False
            self._addresses[n] = int(ptr)
            alloc.notify_shape(n, Dims(shape))
        work = self._engine._work_ns
        lazy = (
            _FLAVOUR == "rtx"
            and self._engine._dynamic
            and (
                self._config.dynamic_shapes_kernel_specialization_strategy
                == DynamicShapesKernelSpecializationStrategy.LAZY
            )
        )
        if lazy and self._enqueues_at_shape < _LAZY_FALLBACK_ENQUEUES:
            work *= _FALLBACK_SLOWDOWN
            self._fallback_enqueues += 1
        self._enqueues_at_shape += 1
        _core._enqueue_test_work(self._engine._device if self._engine._device is not None else 0, stream_handle, work)
        return True


def _nbytes(dtype: Any, shape: Any) -> int:
    size = DataType(dtype).itemsize or 1  # E8M0: one byte
    return math.ceil(volume(shape) * size)


class ICudaEngine:
    def __init__(self, doc: dict[str, Any], logger: ILogger, device: int | None):
        self._io = doc["io"]
        self._by_name = {t["name"]: t for t in self._io}
        self._capturable = doc["capturable"]
        self._work_ns = doc["work_ns"]
        self._user_allocation = doc.get("user_allocation", False)
        self._dynamic = any(d < 0 for t in self._io if t["mode"] == "INPUT" for d in t["shape"])
        self._logger = logger
        self._device = device  # current at deserialization: the engine's device

    @property
    def num_io_tensors(self) -> int:
        return len(self._io)

    def get_tensor_name(self, index: int) -> str:
        return self._io[index]["name"]

    def get_tensor_mode(self, name: str) -> Any:
        return TensorIOMode[self._by_name[name]["mode"]] if name in self._by_name else TensorIOMode.NONE

    def get_tensor_shape(self, name: str) -> Dims:
        return Dims(self._by_name[name]["shape"])

    def get_tensor_dtype(self, name: str) -> Any:
        return DataType[self._by_name[name]["dtype"]]

    def get_tensor_location(self, name: str) -> Any:
        return TensorLocation[self._by_name[name]["location"]]

    def get_tensor_format(self, name: str) -> Any:
        return TensorFormat[self._by_name[name]["format"]]

    def get_tensor_vectorized_dim(self, name: str) -> int:
        fmt = self._by_name[name]["format"]
        if fmt not in _VECTORIZED:
            return -1
        return len(self._by_name[name]["shape"]) + _VECTORIZED[fmt][0]

    def get_tensor_components_per_element(self, name: str) -> int:
        return _VECTORIZED.get(self._by_name[name]["format"], (0, 1))[1]

    def create_runtime_config(self) -> IRuntimeConfig:
        return IRuntimeConfig()

    def create_execution_context(
        self, strategy: Any = ExecutionContextAllocationStrategy.STATIC, runtime_config: IRuntimeConfig | None = None
    ) -> IExecutionContext:
        _record("context")
        return IExecutionContext(self, runtime_config)

    create_execution_context._overloads = ("strategy",), ("runtime_config",)  # type: ignore[attr-defined]


class Runtime:
    engine_host_code_allowed: bool

    def __init__(self, logger: ILogger):
        _check_base(logger, ILogger, "logger")
        self._logger = logger
        self.engine_host_code_allowed = False
        _record("Runtime")

    def deserialize_cuda_engine(self, serialized_engine: Any) -> ICudaEngine | None:
        data = bytes(serialized_engine)
        device = _record("deserialize")
        if not data.startswith(_MAGIC):
            _fail(
                self._logger,
                "IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization "
                "assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not match)",
            )
            return None
        try:
            doc = json.loads(data[len(_MAGIC) :])
        except ValueError:
            _fail(
                self._logger,
                "IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization "
                "assertion stdVersionRead == kSERIALIZATION_VERSION failed.)",
            )
            return None
        compatible = doc.get("version_compatible") and doc["version"].split(".")[0] == __version__.split(".")[0]
        if doc["version"] != __version__ and not compatible:
            _fail(
                self._logger,
                f"IRuntime::deserializeCudaEngine: Error Code 6: API Usage Error (The engine plan file "
                f"is not compatible with this version of TensorRT, expecting library version "
                f"{__version__} got {doc['version']}, please rebuild.)",
            )
            return None
        if doc.get("version_compatible") and not self.engine_host_code_allowed:
            _fail(
                self._logger,
                "IRuntime::deserializeCudaEngine: Error Code 1: Serialization (Serialization assertion "
                "mEngineHostCodeAllowed failed. This engine contains host code (version "
                "compatible); set IRuntime::setEngineHostCodeAllowed(true) to load it.)",
            )
            return None
        for p in doc.get("plugins", []):
            if not (_plugins_initialised and p in _KNOWN_PLUGINS):
                _fail(
                    self._logger,
                    f"IPluginRegistry::getCreator: Error Code 4: API Usage Error (getPluginCreator "
                    f"could not find plugin: {p} version: 1 namespace: )",
                )
                return None
        return ICudaEngine(doc, self._logger, device)


# Methods of other flavours are removed from this one (enum members are never added).
for _name, _flavours in _ONLY.items():
    _cls, _, _attr = _name.partition(".")
    if _attr and _FLAVOUR not in _flavours and _attr in vars(globals().get(_cls, object)):
        delattr(globals()[_cls], _attr)


def _load(flavour: str) -> Any:
    """This file run as a fresh module of one flavour."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_trt_standin_{flavour}", __file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module._REQUESTED_FLAVOUR = flavour  # type: ignore[attr-defined]
    spec.loader.exec_module(module)
    return module
