"""trtpace: measure, explain and remove the GPU inference slowdown after idle gaps.

    >>> import trtpace
    >>> result = trtpace.sweep("tiny", gaps_s=[0, 0.1], iterations=50, out="results")
    >>> for row in result.rows(): print(row["pacing"]["label"], row["penalty"])

The package is layered; each layer imports only the ones below it (docs/architecture.md):
cli -> run, embed -> report -> results -> measure -> platform -> errors, fileio, _core.
"""

from __future__ import annotations

import sys

try:
    from trtpace import _core
except ImportError as e:  # pragma: no cover - only a broken install gets here
    raise ImportError(
        f"trtpace's compiled core could not be loaded ({e}); reinstall trtpace with the CUDA toolkit "
        "(nvcc) available: pip install --force-reinstall trtpace"
    ) from e

from trtpace.embed import KeepWarm, Pacer, metrics
from trtpace.errors import (
    CaptureError,
    CudaError,
    GpuIndexError,
    InputError,
    NoDriverError,
    NoGpuError,
    ResultsWriteError,
    TrtpaceError,
    UsageError,
    WaitTimeoutError,
)
from trtpace.measure import pacing, workloads
from trtpace.platform.clocks import locked_clocks
from trtpace.results import ConditionResult, SweepResult, load
from trtpace.run.compare import compare
from trtpace.run.session import SweepInterrupted
from trtpace.run.sweep import sweep

# Module paths the README documented before the layered layout keep working as imports.
sys.modules.update(
    {
        "trtpace.pacing": pacing,
        "trtpace.workloads": workloads,
        "trtpace.workloads.tensorrt": workloads.tensorrt,
        "trtpace.workloads.torch": workloads.torch,
        "trtpace.metrics": metrics,  # trtpace.metrics.serve(port=9400): Pacer(..., metrics=True) reports there
    }
)

__version__: str = _core.__version__

__all__ = [
    "CaptureError",
    "ConditionResult",
    "CudaError",
    "GpuIndexError",
    "InputError",
    "KeepWarm",
    "NoDriverError",
    "NoGpuError",
    "Pacer",
    "ResultsWriteError",
    "SweepInterrupted",
    "SweepResult",
    "TrtpaceError",
    "UsageError",
    "WaitTimeoutError",
    "__version__",
    "compare",
    "load",
    "locked_clocks",
    "metrics",
    "pacing",
    "sweep",
    "workloads",
]


def __dir__() -> list[str]:
    return __all__
