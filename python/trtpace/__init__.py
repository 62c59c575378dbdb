"""trtpace: measure, explain and remove the GPU inference slowdown after idle gaps.

    >>> import trtpace
    >>> result = trtpace.sweep("tiny", gaps_s=[0, 0.1], iterations=50, out="results")
    >>> for row in result.rows(): print(row["pacing"]["label"], row["penalty"])
"""

from __future__ import annotations

try:
    from trtpace import _core
except ImportError as e:  # pragma: no cover - only a broken install gets here
    raise ImportError(
        f"trtpace's compiled core could not be loaded ({e}); reinstall trtpace with the CUDA toolkit "
        "(nvcc) available: pip install --force-reinstall trtpace"
    ) from e

from trtpace import pacing, workloads
from trtpace.clocks import locked_clocks
from trtpace.compare import compare
from trtpace.remedies import KeepWarm, Pacer
from trtpace.errors import CudaError, GpuIndexError, NoDriverError, NoGpuError, TrtpaceError, UsageError
from trtpace.results import ConditionResult, SweepResult, load
from trtpace.sweep import SweepInterrupted, sweep

__version__: str = _core.__version__

__all__ = [
    "ConditionResult",
    "KeepWarm",
    "Pacer",
    "CudaError",
    "GpuIndexError",
    "NoDriverError",
    "NoGpuError",
    "SweepInterrupted",
    "SweepResult",
    "TrtpaceError",
    "UsageError",
    "__version__",
    "compare",
    "load",
    "locked_clocks",
    "pacing",
    "sweep",
    "workloads",
]


def __dir__() -> list[str]:
    return __all__
