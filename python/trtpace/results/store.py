"""Results folders on disk: written condition by condition as a run goes, read back whole or partial.

A results folder holds `sweep.json` (environment, settings, and one entry per condition with its
status and summary) and one `condition-NNN.npz` of per-inference arrays per finished condition.
Conditions are written as they finish, so a crash or Ctrl-C keeps every finished one; a condition
that was running is marked 'partial' (records up to the interruption saved) or, after a hard
crash, 'lost'.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from trtpace.errors import UsageError
from trtpace.fileio import atomic_write, dumps
from trtpace.measure.pacing import Pacing
from trtpace.results.condition import RECORD_COLUMNS, ConditionResult
from trtpace.results.result import FORMAT, SweepResult


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
        arrays: dict[str, Any] = {**c.records, **c.telemetry}
        atomic_write(self.directory / entry["file"], lambda f: np.savez(f, **arrays))
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


def save(result: SweepResult, directory: str | Path) -> Path:
    """Writes a whole result to `directory` (created if needed)."""
    writer = ResultWriter(directory, result.environment, result.settings)
    for c in result.conditions:
        writer.add(c)
    result.path = writer.directory
    return writer.directory
