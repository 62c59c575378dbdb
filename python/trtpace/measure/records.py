"""The paced runner's per-inference records: the compiled core's one column table (records.hpp).

`Runner.records()` returns one numpy structured array of RECORD_DTYPE; trtpace keeps records as
a mapping of column name to array (`columns`), whose arrays are views of that one array's fields."""

from __future__ import annotations

import numpy as np

from trtpace import _core

# The columns in table order; staged_ns, gap_work_ns and relaunched came with gap work, and
# copy_in_us/copy_out_us after them: results written before lack them.
RECORD_COLUMNS: tuple[str, ...] = tuple(_core.RECORD_COLUMNS)
RECORD_DTYPE: np.dtype[np.void] = np.dtype(_core.RECORD_DTYPE)
# Each column's unit ("ns", "us", "MHz"; "" for the relaunched flag).
RECORD_UNITS: dict[str, str] = dict(_core.RECORD_UNITS)
# The columns in whole nanoseconds and the flags; the others are floats (NaN: not measured).
NS_COLUMNS: tuple[str, ...] = tuple(n for n in RECORD_COLUMNS if RECORD_DTYPE[n].kind == "i")
FLAG_COLUMNS: tuple[str, ...] = tuple(n for n in RECORD_COLUMNS if RECORD_DTYPE[n].kind == "b")


def columns(records: np.ndarray) -> dict[str, np.ndarray]:
    """A structured array of records (Runner.records()) as column name to array: views of its
    fields, no copy."""
    names = records.dtype.names
    if names is None:
        raise TypeError(f"records must be a structured array, not {records.dtype}")
    return {name: records[name] for name in names}
