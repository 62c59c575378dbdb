"""The results folder's format: what a folder holds and how each condition's entry is checked.

A results folder holds `sweep.json` (environment, settings, and one entry per condition with its
status and summary) and one `condition-NNN.npz` of per-inference arrays per finished condition.
Conditions are written as they finish (writer.py), so a crash or Ctrl-C keeps every finished one;
a condition that was running is marked 'partial' (records up to the interruption saved) or, after
a hard crash, 'lost'. reader.py loads a folder back, whole or partial.
"""

from __future__ import annotations

import re
from typing import Any

from trtpace.measure.pacing import Pacing

REQUIRED_COLUMNS = ("due_ns", "issue_ns", "submitted_ns", "done_ns", "device_us")  # the rest came later
STATUSES = ("done", "partial", "lost", "running")
# What a run writes into its folder; --overwrite removes exactly these (its lock file stays: held).
RUN_FILES = ("sweep.json", "report.html", "condition-*.npz", ".sweep.json.*", ".condition-*.npz.*", ".report.html.*")
CONDITION_FILE = re.compile(r"condition-\d{3,9}\.npz")
TELEMETRY_INT = ("tel_t_ns", "tel_clk_t_ns", "tel_cpu_t_ns", "tel_cpu_core")
# Each sampler's columns: its time column, the columns reading them needs, and a shared length.
TELEMETRY_GROUPS = (
    ("tel_clk_", "tel_clk_t_ns", ("tel_clk_sm_mhz",)),
    ("tel_cpu_", "tel_cpu_t_ns", ("tel_cpu_khz",)),
    ("tel_", "tel_t_ns", ("tel_sm_mhz", "tel_power_mw", "tel_energy_mj")),
)
MAX_CONDITION_BYTES = 64 << 30
MAX_DECOMPRESSED = 256 << 20  # beyond the file's own size, what deflated members may expand to


def command_of(settings: dict[str, Any]) -> str:
    return str(settings.get("command", "sweep"))


def checked_entry(entry: Any) -> dict[str, Any]:
    """One condition's entry of sweep.json, every field checked (ValueError/TypeError say which)."""
    if not isinstance(entry, dict):
        raise TypeError(f"a {type(entry).__name__}, not an object")
    out: dict[str, Any] = {}
    for name, types, default in (
        ("workload", str, None),
        ("wait", str, None),
        ("sync", str, None),
        ("warmup", int, None),
        ("iterations", int, None),
        ("status", str, None),
        ("file", str, None),
        ("device_timing", str, ""),
        ("info", dict, {}),
        ("clocks", str, "default"),
        ("policy", str, ""),
        ("pacing", dict, None),
        ("run", int, 0),
    ):
        value = entry.get(name, default)
        if value is None:
            raise ValueError(f"no {name!r}")
        if not isinstance(value, types) or isinstance(value, bool):
            raise TypeError(f"{name!r} is {type(value).__name__}, not {types.__name__}")
        out[name] = value
    if not (0 <= out["warmup"] <= 1 << 40 and 0 <= out["iterations"] <= 1 << 40):
        raise ValueError("warm-up or iterations out of range")
    if not 0 <= out["run"] <= 1 << 20:
        raise ValueError("'run' out of range")
    if out["status"] not in STATUSES:
        raise ValueError(f"unknown status {out['status'][:40]!r}")
    if not CONDITION_FILE.fullmatch(out["file"]):
        raise ValueError(f"'file' {out['file'][:60]!r} is not a condition file inside the folder")
    out["pacing"] = Pacing.from_json(out["pacing"])
    return out
