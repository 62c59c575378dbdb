"""Results of a sweep: per-inference records, statistics, and their folder on disk.

A results folder holds `sweep.json` (environment, settings, and one entry per condition with its
status and summary) and one `condition-NNN.npz` of per-inference arrays per finished condition.
Conditions are written as they finish, so a crash or Ctrl-C keeps every finished one; a condition
that was running is marked 'partial' (records up to the interruption saved) or, after a hard
crash, 'lost'.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trtpace.errors import UsageError
from trtpace.pacing import Pacing
from trtpace.stats import ratio, summarize
from trtpace.telemetry import ENERGY_RESOLUTION_MJ, join_before

FORMAT = "trtpace-sweep/1"
RECORD_COLUMNS = ("due_ns", "issue_ns", "submitted_ns", "done_ns", "device_us", "gpu_start_ns", "inband_mhz")
METRICS = ("e2e_us", "device_us", "submit_us", "pacing_error_us", "launch_us", "inband_mhz", "nvml_sm_mhz")


@dataclass
class ConditionResult:
    """One workload under one pacing: every inference's record, warm-up included and flagged."""

    workload: str
    pacing: Pacing
    wait: str
    sync: str
    warmup: int
    iterations: int
    records: dict[str, np.ndarray]
    status: str = "done"  # done | partial | lost
    device_timing: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    telemetry: dict[str, np.ndarray] = field(default_factory=dict)  # tel_* sample arrays
    clocks: str = "default"  # or "locked max", ... (sweep --lock-clocks)
    policy: str = ""  # the remedy policy's name (trtpace compare)

    @property
    def count(self) -> int:
        return int(len(self.records.get("issue_ns", ())))

    @property
    def is_warmup(self) -> np.ndarray:
        return np.arange(self.count) < self.warmup

    def column(self, metric: str, *, include_warmup: bool = False) -> np.ndarray:
        """A derived per-inference column (NaN where not measured).

        e2e_us counts from the issue in closed loop and from the due time in open loop;
        launch_us is GPU start (in-band probe) minus issue; inband_mhz the SM clock the probe
        measured; nvml_sm_mhz the NVML sample taken last before the issue.
        """
        r = self.records
        if metric == "e2e_us":
            start = r["due_ns"] if self.pacing.open_loop else r["issue_ns"]
            v = (r["done_ns"] - start) / 1e3
        elif metric == "device_us":
            v = np.asarray(r["device_us"], dtype=np.float64)
        elif metric == "submit_us":
            v = (r["submitted_ns"] - r["issue_ns"]) / 1e3
        elif metric == "pacing_error_us":
            v = (r["issue_ns"] - r["due_ns"]) / 1e3
        elif metric == "launch_us":
            start = r.get("gpu_start_ns", np.zeros(self.count, dtype=np.int64))
            v = np.where(start > 0, (start - r["issue_ns"]) / 1e3, np.nan)
        elif metric == "inband_mhz":
            v = np.asarray(r.get("inband_mhz", np.full(self.count, np.nan)), dtype=np.float64)
        elif metric == "nvml_sm_mhz":
            v = self.joined("sm_mhz")
        else:
            raise KeyError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        return v if include_warmup else v[~self.is_warmup]

    def joined(self, telemetry_column: str) -> np.ndarray:
        """Per inference, the telemetry sample taken last before its issue (all inferences)."""
        t = self.telemetry.get("tel_t_ns")
        if t is None or t.size == 0:
            return np.full(self.count, np.nan)
        return join_before(t, self.telemetry[f"tel_{telemetry_column}"], self.records["issue_ns"])

    def window_ns(self) -> tuple[int, int] | None:
        """From the first measured issue to the last completion."""
        measured = ~self.is_warmup
        if not measured.any():
            return None
        return int(self.records["issue_ns"][measured][0]), int(self.records["done_ns"][measured][-1])

    def power_energy(self) -> dict[str, Any]:
        """Mean power and energy per inference over the measured window, from the telemetry."""
        out: dict[str, Any] = {"power_mean_w": math.nan, "energy_total_mj": None,
                               "energy_per_inference_mj": math.nan, "energy_resolution_mj": ENERGY_RESOLUTION_MJ}
        w, t = self.window_ns(), self.telemetry.get("tel_t_ns")
        if w is None or t is None or t.size == 0:
            return out
        inside = (t >= w[0]) & (t <= w[1])
        power = self.telemetry["tel_power_mw"][inside]
        if np.isfinite(power).any():
            out["power_mean_w"] = float(np.nanmean(power)) / 1e3
        energy = self.telemetry["tel_energy_mj"]
        before, after = join_before(t, energy, np.array(w))
        # The counter steps in whole mJ and refreshes only every few tens of ms: windows shorter
        # than a second give no per-inference energy worth stating.
        if np.isfinite(before) and np.isfinite(after) and w[1] - w[0] >= 1_000_000_000:
            n = int((~self.is_warmup).sum())
            total = int(after - before)
            out["energy_total_mj"] = total
            # The counter counts whole mJ: per inference, keep only the digits that resolution supports.
            out["energy_per_inference_mj"] = round(total / n, max(0, math.ceil(math.log10(n)))) if n else math.nan
        return out

    def summary(self) -> dict[str, Any]:
        return {**{m: summarize(self.column(m)) for m in METRICS}, "telemetry": self.power_energy()}

    def meta(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "pacing": self.pacing.to_json(),
            "wait": self.wait,
            "sync": self.sync,
            "warmup": self.warmup,
            "iterations": self.iterations,
            "status": self.status,
            "device_timing": self.device_timing,
            "info": self.info,
            "clocks": self.clocks,
            "policy": self.policy,
        }


@dataclass
class SweepResult:
    """All conditions of one sweep, with the environment they were measured in."""

    conditions: list[ConditionResult] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def baseline(self, c: ConditionResult) -> ConditionResult | None:
        """The continuous (gap 0) condition of the same workload and policy in this sweep."""
        for b in self.conditions:
            same = (b.workload, b.wait, b.sync, b.clocks, b.policy) == (c.workload, c.wait, c.sync, c.clocks, c.policy)
            if same and b.pacing.is_continuous and b.count:
                return b
        return None

    def penalty(self, c: ConditionResult) -> float:
        """p50 e2e of `c` over p50 e2e of its continuous baseline in the same run."""
        b = self.baseline(c)
        if b is None:
            return math.nan
        return ratio(summarize(c.column("e2e_us"))["p50"], summarize(b.column("e2e_us"))["p50"])

    def rows(self) -> list[dict[str, Any]]:
        """One summary dict per condition, as the table and --json show them."""
        from trtpace.attribution import attribute

        rows = []
        for c in self.conditions:
            row = {**c.meta(), "summary": c.summary(), "penalty": self.penalty(c), "attribution": None}
            b = self.baseline(c)
            if b is not None and b is not c and c.count > c.warmup and b.count > b.warmup:
                a = attribute(c, b)
                row["attribution"] = {"line": a.line(), "delta_p50_us": a.delta_p50_us, "parts_us": a.parts_delta_us}
            rows.append(row)
        return rows

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "environment": self.environment, "settings": self.settings, "conditions": self.rows()}

    def save(self, directory: str | Path) -> Path:
        """Writes the whole result to `directory` (created if needed)."""
        writer = ResultWriter(directory, self.environment, self.settings)
        for c in self.conditions:
            writer.add(c)
        self.path = writer.directory
        return writer.directory


def load(directory: str | Path) -> SweepResult:
    """Reads a results folder, finished or partial."""
    directory = Path(directory)
    try:
        doc = json.loads((directory / "sweep.json").read_text())
    except FileNotFoundError:
        raise UsageError(f"{directory} holds no trtpace results (sweep.json is missing)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"cannot read {directory / 'sweep.json'}: {e}") from None
    if doc.get("format") != FORMAT:
        raise UsageError(f"{directory}: unknown results format {doc.get('format')!r}")
    result = SweepResult(environment=doc.get("environment", {}), settings=doc.get("settings", {}), path=directory)
    for entry in doc["conditions"]:
        records: dict[str, np.ndarray] = {k: np.zeros(0) for k in RECORD_COLUMNS}
        telemetry: dict[str, np.ndarray] = {}
        status = entry["status"]
        npz = directory / entry["file"]
        if status == "running" or not npz.exists():
            status = "lost"
        else:
            with np.load(npz) as arrays:
                records = {k: arrays[k] for k in RECORD_COLUMNS if k in arrays}
                telemetry = {k: arrays[k] for k in arrays.files if k.startswith("tel_")}
        result.conditions.append(
            ConditionResult(
                workload=entry["workload"],
                pacing=Pacing.from_json(entry["pacing"]),
                wait=entry["wait"],
                sync=entry["sync"],
                warmup=entry["warmup"],
                iterations=entry["iterations"],
                records=records,
                status=status,
                device_timing=entry.get("device_timing", ""),
                info=entry.get("info", {}),
                telemetry=telemetry,
                clocks=entry.get("clocks", "default"),
                policy=entry.get("policy", ""),
            )
        )
    return result


def atomic_write(path: Path, write) -> None:
    """Writes through a temporary file and a rename, so a crash never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None  # JSON has no NaN; null reads as "not measured"
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    return x


def dumps(doc: Any) -> str:
    return json.dumps(_jsonable(doc), indent=2)


class ResultWriter:
    """Keeps a results folder current while a sweep runs: each condition lands as it finishes."""

    def __init__(self, directory: str | Path, environment: dict[str, Any], settings: dict[str, Any]):
        self.directory = Path(directory)
        check_writable(self.directory)
        self._doc: dict[str, Any] = {"format": FORMAT, "environment": environment, "settings": settings, "conditions": []}
        self._flush()

    def begin(self, c: ConditionResult) -> int:
        """Announces a condition before it runs; after a hard crash it loads as 'lost'."""
        index = len(self._doc["conditions"])
        self._doc["conditions"].append({**c.meta(), "status": "running", "file": f"condition-{index:03d}.npz"})
        self._flush()
        return index

    def finish(self, index: int, c: ConditionResult) -> None:
        entry = self._doc["conditions"][index]
        atomic_write(self.directory / entry["file"], lambda f: np.savez(f, **c.records, **c.telemetry))
        entry.update(c.meta())
        entry["summary"] = c.summary()
        self._flush()

    def add(self, c: ConditionResult) -> None:
        self.finish(self.begin(c), c)

    def _flush(self) -> None:
        text = dumps(self._doc).encode()
        atomic_write(self.directory / "sweep.json", lambda f: f.write(text))


def check_writable(directory: Path) -> None:
    """Creates `directory` and proves a file can be written there, or raises a one-line UsageError."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise UsageError(f"cannot write results to {directory}: {e.strerror or e}") from None
