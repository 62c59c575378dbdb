"""The TensorRT module and its runtime: import (TensorRT or TensorRT-RTX), a logger that keeps
TensorRT's own words for one-line errors, plugins, and engine files (deserialized with the
measured GPU current; Ultralytics' metadata header split off)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from trtpace.errors import InputError, TrtpaceError

INSTALL_HINT = "pip install tensorrt (or trtpace[tensorrt]); TensorRT-RTX: pip install tensorrt-rtx"


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


def is_rtx(trt: Any) -> bool:
    return bool(trt.__name__.split(".")[0] == "tensorrt_rtx")


def collecting_logger(trt: Any) -> Any:
    """A TensorRT logger that keeps errors and warnings, to quote them in one-line errors."""

    class Collecting(trt.ILogger):  # type: ignore[misc]  # the module is imported at run time: Any to mypy
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages: list[tuple[int, str]] = []

        def log(self, severity: Any, msg: str) -> None:
            sev = trt.ILogger.Severity
            if severity in (sev.INTERNAL_ERROR, sev.ERROR, sev.WARNING):
                self.messages.append((int(severity), str(msg)))

    return Collecting()


def failure_reason(trt: Any, logger: Any, default: str) -> str:
    """The message that explains a failure: the first error, else the first warning."""
    errors = {int(trt.ILogger.Severity.INTERNAL_ERROR), int(trt.ILogger.Severity.ERROR)}
    ranked = [m for s, m in logger.messages if s in errors] + [m for s, m in logger.messages if s not in errors]
    return first_line(ranked, default)


def first_line(messages: list[str], default: str) -> str:
    for m in messages:
        if m.strip():
            return m.strip().splitlines()[0][:300]
    return default


def init_plugins(trt: Any, logger: Any) -> bool:
    """Registers TensorRT's built-in plugins (EfficientNMS_TRT, ...): engines and models that use
    them do not load otherwise."""
    init = getattr(trt, "init_libnvinfer_plugins", None)
    return bool(init(logger, "")) if init is not None else False


def read_file(path: str | Path, what: str) -> bytes:
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
        meta = json.loads(data[4 : 4 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return data, None
    return (data[4 + n :], meta) if isinstance(meta, dict) else (data, None)


def deserialize(trt: Any, plan: bytes, label: str) -> tuple[Any, Any]:
    logger = collecting_logger(trt)
    init_plugins(trt, logger)
    runtime = trt.Runtime(logger)
    runtime.engine_host_code_allowed = True  # version-compatible engines carry their lean runtime
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        reason = failure_reason(trt, logger, "not a TensorRT engine")
        raise InputError(f"{label}: cannot load the engine (TensorRT {trt.__version__}): {reason}")
    return engine, runtime


def load_engine(path: str | Path) -> tuple[Any, Any]:
    """(engine, runtime) from a serialized .engine/.plan file (an Ultralytics header is skipped),
    on the current CUDA device."""
    plan, _ = split_ultralytics_header(read_file(path, "engine file"))
    return deserialize(import_tensorrt(), plan, str(path))
