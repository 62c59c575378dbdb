"""ONNX to engine: the builder (weak-typing precisions or a strongly typed network) and the engine
cache, keyed by the model's bytes (external data included), the shapes, the TensorRT version and
the GPU, with a JSON sidecar saying how each cached engine was built."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trtpace import _core
from trtpace.errors import InputError, UsageError
from trtpace.fileio import atomic_write
from trtpace.measure.workloads.tensorrt.runtime import (
    TensorRTError,
    collecting_logger,
    failure_reason,
    first_line,
    import_tensorrt,
    init_plugins,
    read_file,
)

PRECISIONS = ("fp16", "bf16", "int8", "fp8")


def parse_precision(names: Sequence[str] | None) -> tuple[str, ...]:
    """Validated weak-typing precisions ('fp16', 'int8', ...), in a stable order."""
    given = {n.strip().lower() for n in names or ()}
    unknown = sorted(given - set(PRECISIONS))
    if unknown:
        raise UsageError(f"precision {unknown[0]!r} is not one of {', '.join(PRECISIONS)}")
    return tuple(p for p in PRECISIONS if p in given)


_EXTERNAL = re.compile(rb"\x0a\x08location\x12([\x01-\x7f])")


def external_data_files(onnx_path: Path, data: bytes) -> list[Path]:
    """The external weight files an ONNX model names (protobuf `location` entries of its tensors)."""
    files = []
    for m in _EXTERNAL.finditer(data):
        raw = data[m.end() : m.end() + m.group(1)[0]]
        try:
            files.append(onnx_path.parent / raw.decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return sorted(set(files))


def engine_cache_path(
    onnx_data: bytes,
    shapes: dict[str, tuple[int, ...]],
    trt_version: str,
    gpu_key: str,
    cache_dir: Path,
    extra: str = "",
) -> Path:
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
    if (
        not isinstance(meta, dict)
        or meta.get("bytes") != len(data)
        or meta.get("sha256") != hashlib.sha256(data).hexdigest()
    ):
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
            raise UsageError(
                f"--{p}: TensorRT {trt.__version__} builds only strongly typed networks (weak typing was "
                f"removed); put the precision in the ONNX model instead (e.g. NVIDIA ModelOpt)"
            )
        flags.append(flag)
    return flags


def check_precision(precision: Sequence[str]) -> tuple[str, ...]:
    """Validated precisions for the installed TensorRT (which is imported), before any GPU work."""
    prec = parse_precision(precision)
    _precision_flags(import_tensorrt(), prec)
    return prec


def build_from_onnx(
    path: str | Path,
    shapes: dict[str, tuple[int, ...]],
    *,
    gpu: int = 0,
    rebuild: bool = False,
    cache_dir: Path | None = None,
    precision: Sequence[str] = (),
) -> Path:
    """Builds (or finds in the cache) the engine for an ONNX model; returns the engine file.

    The model is parsed from its path, so external weight files (models over 2 GB) load; the cache
    key covers them (by name, size and modification time: hashing gigabytes of weights on every
    run would cost seconds). Cache files are written atomically and checked before reuse.
    """
    path = Path(path)
    data = read_file(path, "ONNX model")
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
    cached = engine_cache_path(
        data,
        shapes,
        trt.__version__,
        f"{info['name']}|{info['compute_capability']}",
        cache_dir or default_cache_dir(),
        extra=f"{','.join(prec)}|{';'.join(externals)}",
    )
    if not rebuild and cached_engine_meta(cached) is not None:
        return cached
    with _core.DeviceScope(gpu):
        plan, strongly = _build(trt, path, shapes, flags)
    cached.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(cached, lambda f: f.write(plan))
    meta = {
        "sha256": hashlib.sha256(plan).hexdigest(),
        "bytes": len(plan),
        "tensorrt": trt.__version__,
        "model": str(path),
        "strongly_typed": strongly,
        "precision": list(prec),
    }
    atomic_write(_sidecar(cached), lambda f: f.write(json.dumps(meta, indent=2).encode()))
    return cached


def _build(trt: Any, path: Path, shapes: dict[str, tuple[int, ...]], precision_flags: list[Any]) -> tuple[bytes, bool]:
    logger = collecting_logger(trt)
    init_plugins(trt, logger)
    builder = trt.Builder(logger)
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    # TensorRT 10: strong typing is opt-in and precision flags need it off; 11 and RTX: always on.
    network = builder.create_network(0 if precision_flags or strongly_typed is None else 1 << int(strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(path)):
        errors = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        raise InputError(
            f"{path}: the ONNX parser failed: {first_line(errors, failure_reason(trt, logger, 'unknown error'))}"
        )
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
                raise UsageError(
                    f"input {t.name!r} is dynamic {tuple(t.shape)}: give its shape with "
                    f"--shapes {t.name}:{'x'.join('1' if d < 0 else str(d) for d in t.shape)}"
                )
            dynamic[t.name] = shapes[t.name]
    if dynamic:
        profile = builder.create_optimization_profile()
        for name, shape in dynamic.items():
            profile.set_shape(name, shape, shape, shape)
        config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise TensorRTError(
            f"{path}: TensorRT could not build an engine: {failure_reason(trt, logger, 'no reason given')}"
        )
    return bytes(plan), not precision_flags
