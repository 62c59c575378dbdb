"""Checks the GPU test modules share (test_gpu.py, test_gpu_error_paths.py)."""

from __future__ import annotations

import numpy as np


def check_records(r: dict[str, np.ndarray], n: int) -> None:
    """A run's records: n of each column, issued after due, submitted, done, in order, device < e2e."""
    for col in ("due_ns", "issue_ns", "submitted_ns", "done_ns", "device_us"):
        assert len(r[col]) == n, col
    assert (r["issue_ns"] >= r["due_ns"]).all()
    assert (r["submitted_ns"] > r["issue_ns"]).all()
    assert (r["done_ns"] > r["submitted_ns"]).all()
    assert (np.diff(r["issue_ns"]) > 0).all()
    e2e_us = (r["done_ns"] - r["issue_ns"]) / 1e3
    assert (r["device_us"] > 0).all() and (r["device_us"] < e2e_us).all()
