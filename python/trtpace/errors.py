"""trtpace's error types. The CLI prints any of them as one line and exits with code 2."""

from __future__ import annotations

from trtpace._core import CudaError

__all__ = ["CudaError", "GpuIndexError", "NoDriverError", "NoGpuError", "TrtpaceError", "UsageError"]


class TrtpaceError(Exception):
    """Base of the errors trtpace raises on purpose."""


class UsageError(TrtpaceError, ValueError):
    """An argument is malformed or out of range."""


class NoDriverError(TrtpaceError):
    """No usable NVIDIA driver: missing, or too old for trtpace's CUDA runtime."""


class NoGpuError(TrtpaceError):
    """The NVIDIA driver is present but CUDA sees no GPU."""


class GpuIndexError(TrtpaceError, IndexError):
    """A GPU index outside what CUDA sees."""
