"""The feature table (cpp/src/features.hpp): what this driver, runtime and GPU allow.

Each feature is on, or off with one line saying why; the C++ code paths that use one ask the same
table and fall back (armed:kernel without programmatic edges: plain edges) or refuse in one line
(armed cancellable without conditional nodes, armed:wait without cuStreamWaitValue32) or fall back
per frame (armed:resident without conditional nodes: the per-frame kernel gate).

Test hooks, for CPU tests only: TRTPACE_FAKE_DRIVER_VERSION (e.g. 12020),
TRTPACE_FAKE_RUNTIME_VERSION (e.g. 12040) and TRTPACE_FAKE_COMPUTE_CAPABILITY (e.g. 8.7) replace
what the table reads from the driver, the runtime and the device; `faked` lists those in force.
"""

from __future__ import annotations

from typing import Any

from trtpace import _core

FAKE_HOOKS = ("TRTPACE_FAKE_DRIVER_VERSION", "TRTPACE_FAKE_RUNTIME_VERSION", "TRTPACE_FAKE_COMPUTE_CAPABILITY")


def summary(table: dict[str, Any]) -> dict[str, Any]:
    """{'on': [names], 'off': {name: why}, 'faked': [inputs from test hooks]} of a _core table."""
    feats = table["features"]
    return {
        "on": [n for n, f in feats.items() if f["on"]],
        "off": {n: f["why"] for n, f in feats.items() if not f["on"]},
        "faked": list(table["faked"]),
    }


def features(device: int) -> dict[str, Any]:
    """The summary for `device`; never raises for a missing driver or GPU (the features say why)."""
    return summary(_core.features(device))


def decide(driver_version: int, runtime_version: int, compute_capability: str | None) -> dict[str, Any]:
    """The table's pure decision (no CUDA call) for versions such as 12020 and a capability such as '8.7'."""
    major, minor = (int(x) for x in compute_capability.split(".")) if compute_capability else (0, 0)
    return summary(_core.decide_features(driver_version, runtime_version, major, minor))


def said(s: dict[str, Any]) -> str:
    """One line: 'on: a, b; off: c (why); faked: driver_version'."""
    parts = [f"on: {', '.join(s['on']) or 'none'}"]
    off = dict(s["off"])
    start = off.get("cuda_runtime")
    # Where CUDA cannot start at all, that one reason is the reason for every feature.
    cannot = [n for n, why in off.items() if start and why == f"CUDA cannot start: {start}"]
    if cannot:
        off = {n: why for n, why in off.items() if n not in cannot}
        off["cuda_runtime"] = f"{start}; so: {', '.join(cannot)}"
    if off:
        parts.append("off: " + "; ".join(f"{n} ({why})" for n, why in off.items()))
    if s["faked"]:
        parts.append(f"faked by test hooks: {', '.join(s['faked'])}")
    return "; ".join(parts)
