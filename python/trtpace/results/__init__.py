"""Results: per-inference records, statistics, attribution and the results folder on disk.

Depends on `trtpace.measure` (pacing, telemetry join) only; never on how a run is driven.
"""

from __future__ import annotations

from trtpace.measure.records import RECORD_COLUMNS
from trtpace.results.condition import METRICS, ConditionKey, ConditionResult
from trtpace.results.info import CompareTag, GpuIdentity, Placement, RunStats, WorkloadMeta, split_info
from trtpace.results.reader import damaged_conditions, load
from trtpace.results.result import FORMAT, ConditionRow, SweepResult
from trtpace.results.writer import OUT_MODES, ResultWriter, check_writable, save

__all__ = [
    "FORMAT",
    "METRICS",
    "OUT_MODES",
    "RECORD_COLUMNS",
    "CompareTag",
    "ConditionKey",
    "ConditionResult",
    "ConditionRow",
    "GpuIdentity",
    "Placement",
    "ResultWriter",
    "RunStats",
    "SweepResult",
    "WorkloadMeta",
    "check_writable",
    "damaged_conditions",
    "load",
    "save",
    "split_info",
]
