"""A stand-in for the TensorRT Python API (10.x names, signatures and return conventions), for tests.

No TensorRT runtime can run where trtpace is tested (TensorRT-RTX refuses compute capability 9.0,
and full TensorRT cannot be downloaded there), so trtpace's TensorRT backend is tested against
this module. It follows the real API: deserialize_cuda_engine returns None (and logs why) for a
file it cannot load, execute_async_v3 returns False when it cannot enqueue, OnnxParser.parse
returns False with errors to read, build_serialized_network returns None. ONNX models are read
with the onnx package; an "engine" is this module's own serialized description of the network.
execute_async_v3 enqueues real GPU work on the given stream (through trtpace's test hook), so
graph capture and the fallback to direct enqueue run for real on a GPU. A network containing a
Loop or If node cannot be captured, as in TensorRT.
"""

from __future__ import annotations

import enum
import json

import numpy as np

__version__ = "10.99.0+standin"
_MAGIC = b"TRT-STANDIN-ENGINE\n"


class DataType(enum.IntEnum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    INT64 = 8


_NP = {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT8: np.int8, DataType.INT32: np.int32,
       DataType.BOOL: np.bool_, DataType.INT64: np.int64}
_FROM_ONNX = {1: DataType.FLOAT, 10: DataType.HALF, 3: DataType.INT8, 6: DataType.INT32, 9: DataType.BOOL,
              7: DataType.INT64}


def nptype(t: DataType) -> type:
    return _NP[DataType(t)]


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 1


class Dims(tuple):
    pass


class ILogger:
    class Severity(enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = Severity

    def __init__(self) -> None:
        pass

    def log(self, severity: ILogger.Severity, msg: str) -> None:  # overridden by users
        pass


class Logger(ILogger):
    def __init__(self, min_severity: ILogger.Severity = ILogger.Severity.WARNING) -> None:
        super().__init__()
        self.min_severity = min_severity


class _Tensor:
    def __init__(self, name: str, shape: tuple[int, ...], dtype: DataType):
        self.name, self.shape, self.dtype = name, Dims(shape), dtype


class INetworkDefinition:
    def __init__(self, flags: int):
        self.flags = flags
        self._inputs: list[_Tensor] = []
        self._outputs: list[_Tensor] = []
        self._capturable = True

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    def get_input(self, i: int) -> _Tensor:
        return self._inputs[i]

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    def get_output(self, i: int) -> _Tensor:
        return self._outputs[i]


class _ParserError:
    def __init__(self, text: str):
        self._text = text

    def desc(self) -> str:
        return self._text


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: ILogger):
        self.network, self.logger = network, logger
        self._errors: list[_ParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, i: int) -> _ParserError:
        return self._errors[i]

    def parse(self, model: bytes) -> bool:
        import onnx

        try:
            proto = onnx.load_from_string(bytes(model))
            onnx.checker.check_model(proto)
        except Exception as e:  # the real parser reports every failure as a parser error
            self._errors.append(_ParserError(f"ModelImporter.cpp: failed to parse the ONNX model: {e}"))
            return False
        initializers = {i.name for i in proto.graph.initializer}

        def tensor(v) -> _Tensor:
            dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim)
            return _Tensor(v.name, dims, _FROM_ONNX[v.type.tensor_type.elem_type])

        self.network._inputs = [tensor(v) for v in proto.graph.input if v.name not in initializers]
        self.network._outputs = [tensor(v) for v in proto.graph.output]
        self.network._capturable = not any(n.op_type in ("Loop", "If") for n in proto.graph.node)
        return True


class IOptimizationProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}

    def set_shape(self, name: str, min: tuple[int, ...], opt: tuple[int, ...], max: tuple[int, ...]) -> None:
        self.shapes[name] = (tuple(min), tuple(opt), tuple(max))


class IBuilderConfig:
    def __init__(self) -> None:
        self.profiles: list[IOptimizationProfile] = []

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1


class Builder:
    def __init__(self, logger: ILogger):
        self.logger = logger

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(flags)

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> bytes | None:
        profiled = {k for p in config.profiles for k in p.shapes}
        for t in network._inputs:
            if any(d < 0 for d in t.shape) and t.name not in profiled:
                self.logger.log(ILogger.Severity.ERROR, "Network has dynamic or shape inputs, but no optimization "
                                                        "profile has been defined.")
                return None
        io = [{"name": t.name, "mode": int(TensorIOMode.INPUT), "shape": list(t.shape), "dtype": int(t.dtype)}
              for t in network._inputs]
        io += [{"name": t.name, "mode": int(TensorIOMode.OUTPUT), "shape": list(t.shape), "dtype": int(t.dtype)}
               for t in network._outputs]
        doc = {"version": __version__, "io": io, "capturable": network._capturable, "work_ns": 30_000}
        return _MAGIC + json.dumps(doc).encode()


class IExecutionContext:
    def __init__(self, engine: ICudaEngine):
        self.engine = engine
        self._shapes = {t["name"]: tuple(t["shape"]) for t in engine._io}
        self._addresses: dict[str, int] = {}

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        declared = self.engine._by_name.get(name)
        if declared is None or len(shape) != len(declared["shape"]):
            return False
        if any(d >= 0 and d != s for d, s in zip(declared["shape"], shape, strict=False)):
            return False
        self._shapes[name] = tuple(shape)
        return True

    def get_tensor_shape(self, name: str) -> Dims:
        shape = self._shapes[name]
        if self.engine._by_name[name]["mode"] == TensorIOMode.OUTPUT and any(d < 0 for d in shape):
            first = next(t for t in self.engine._io if t["mode"] == TensorIOMode.INPUT)
            batch = self._shapes[first["name"]][0]
            shape = tuple(batch if d < 0 else d for d in shape)  # outputs follow the batch of the first input
        return Dims(shape)

    def set_tensor_address(self, name: str, memory: int) -> bool:
        if name not in self.engine._by_name:
            return False
        self._addresses[name] = int(memory)
        return True

    def get_tensor_address(self, name: str) -> int:
        return self._addresses.get(name, 0)

    def execute_async_v3(self, stream_handle: int) -> bool:
        from trtpace import _core

        if set(self._addresses) != set(self.engine._by_name):
            return False  # "Error: ... no address set for tensor"
        if any(d < 0 for t in self.engine._io if t["mode"] == TensorIOMode.INPUT for d in self._shapes[t["name"]]):
            return False  # an input shape was never set
        if not self.engine._capturable and _core._stream_is_capturing(stream_handle):
            return False  # loops and conditionals cannot be captured into a CUDA graph
        _core._enqueue_test_work(self.engine.device, stream_handle, self.engine._work_ns)
        return True


class ICudaEngine:
    def __init__(self, doc: dict):
        self._io = doc["io"]
        self._by_name = {t["name"]: t for t in self._io}
        self._capturable = doc["capturable"]
        self._work_ns = doc["work_ns"]
        self.device = 0

    @property
    def num_io_tensors(self) -> int:
        return len(self._io)

    def get_tensor_name(self, index: int) -> str:
        return self._io[index]["name"]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return TensorIOMode(self._by_name[name]["mode"]) if name in self._by_name else TensorIOMode.NONE

    def get_tensor_shape(self, name: str) -> Dims:
        return Dims(self._by_name[name]["shape"])

    def get_tensor_dtype(self, name: str) -> DataType:
        return DataType(self._by_name[name]["dtype"])

    def create_execution_context(self) -> IExecutionContext:
        return IExecutionContext(self)


class Runtime:
    def __init__(self, logger: ILogger):
        self.logger = logger

    def deserialize_cuda_engine(self, serialized_engine: bytes) -> ICudaEngine | None:
        data = bytes(serialized_engine)
        if not data.startswith(_MAGIC):
            self.logger.log(ILogger.Severity.ERROR, "IRuntime::deserializeCudaEngine: Error Code 1: Serialization "
                                                    "(Serialization assertion magicTagRead == kMAGIC_TAG failed.)")
            return None
        doc = json.loads(data[len(_MAGIC):])
        if doc["version"] != __version__:
            self.logger.log(ILogger.Severity.ERROR, f"The engine plan file is not compatible with this version of "
                                                    f"TensorRT, expecting library version {__version__} got "
                                                    f"{doc['version']}, please rebuild.")
            return None
        return ICudaEngine(doc)
