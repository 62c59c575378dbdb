"""An engine's I/O tensors as trtpace owns them: one TensorPlan per tensor (shape, type, bytes with
vectorized-format padding, device or host memory), random or given input bytes, and the
IOutputAllocator for outputs whose shape depends on the data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from trtpace import _core
from trtpace.errors import InputError, UsageError
from trtpace.measure.workloads.tensorrt.runtime import TensorRTError

# Bits per element where DataType.itemsize gives none (the real module has no E8M0 entry).
_BITS_BY_NAME = {"E8M0": 8}


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
            raise InputError(
                f"--inputs: {p.name!r} is {p.dtype}, which numpy lacks: give its {p.nbytes} raw bytes as a uint8 array"
            )
        return np.ascontiguousarray(given).reshape(-1)
    if given is None:
        data = _random_input(rng, p.shape, p.numpy)
    elif tuple(given.shape) != p.shape or given.dtype != p.numpy:
        raise InputError(
            f"--inputs: {p.name!r} is {given.dtype}{list(given.shape)}, the engine wants {p.numpy}{list(p.shape)}"
        )
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


def output_allocator(trt: Any, gpu: int) -> Any:
    class OutputAllocator(trt.IOutputAllocator):  # type: ignore[misc]  # imported at run time: Any to mypy
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

        def reallocate_output_async(self, tensor_name: str, memory: int, size: int, alignment: int, stream: int) -> int:
            return self.reserve(tensor_name, size)

        def notify_shape(self, tensor_name: str, shape: Any) -> None:
            self.shapes[tensor_name] = tuple(shape)

    return OutputAllocator()
