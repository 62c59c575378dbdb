"""Pacing conditions: closed-loop gaps and open-loop schedules (period, Poisson rate, trace file)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trtpace import _core
from trtpace.errors import UsageError

MAX_GAP_S = 3600.0  # longer gaps are almost certainly a unit mistake (ms typed as s)
_NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Pacing:
    """How inferences are spaced in one condition.

    kind 'gap': closed loop, `gap_s` idle from observed completion to the next issue.
    kind 'period' / 'poisson' / 'trace': open loop, due times fixed in advance; latency counts
    from the due time, so a late issue is visible.
    """

    kind: str
    gap_s: float = 0.0
    period_s: float | None = None
    rate_hz: float | None = None
    seed: int = 0
    trace_offsets_ns: tuple[int, ...] = ()
    trace_file: str | None = None

    @property
    def open_loop(self) -> bool:
        return self.kind != "gap"

    @property
    def is_continuous(self) -> bool:
        """The back-to-back baseline that penalties are measured against."""
        return self.kind == "gap" and self.gap_s == 0.0

    @property
    def label(self) -> str:
        if self.kind == "gap":
            return f"gap {self.gap_s:g} s"
        if self.kind == "period":
            return f"period {self.period_s:g} s"
        if self.kind == "poisson":
            return f"poisson {self.rate_hz:g} Hz"
        return f"trace {Path(self.trace_file or '').name or len(self.trace_offsets_ns)}"

    def to_core(self, count: int) -> _core.Schedule:
        """The core schedule for `count` inferences (warm-up included)."""
        if self.kind == "gap":
            return _core.Schedule.closed_gap(round(self.gap_s * _NS_PER_S))
        if self.kind == "period":
            assert self.period_s is not None
            return _core.Schedule.periodic(round(self.period_s * _NS_PER_S), count)
        if self.kind == "poisson":
            assert self.rate_hz is not None
            return _core.Schedule.poisson(self.rate_hz, self.seed, count)
        return _core.Schedule.trace(list(self.trace_offsets_ns))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["trace_offsets_ns"] = list(self.trace_offsets_ns)
        d["label"] = self.label
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Pacing:
        d = {k: v for k, v in d.items() if k != "label"}
        d["trace_offsets_ns"] = tuple(d.get("trace_offsets_ns", ()))
        return cls(**d)


def _finite_seconds(value: float, what: str) -> float:
    if math.isnan(value) or math.isinf(value):
        raise UsageError(f"{what} must be a finite number of seconds, got {value}")
    if value < 0:
        raise UsageError(f"{what} must be >= 0 seconds, got {value:g}")
    if value > MAX_GAP_S:
        raise UsageError(f"{what} of {value:g} s is over the {MAX_GAP_S:g} s limit (gaps are in seconds: 0.1 = 100 ms)")
    return float(value)


def gap(seconds: float) -> Pacing:
    return Pacing(kind="gap", gap_s=_finite_seconds(float(seconds), "a gap"))


def parse_gaps(text: str) -> list[Pacing]:
    """'0,0.1,0.2' -> closed-loop conditions, in the order given, duplicates removed."""
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise UsageError(f"--gaps needs comma-separated seconds like 0,0.1,0.2, got {text!r}")
    gaps: list[Pacing] = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"--gaps: {item!r} is not a number of seconds (example: 0,0.1,0.2)") from None
        p = gap(value)
        if p not in gaps:
            gaps.append(p)
    return gaps


def period(seconds: float) -> Pacing:
    value = _finite_seconds(float(seconds), "the period")
    if value <= 0:
        raise UsageError("the period must be > 0 seconds")
    return Pacing(kind="period", period_s=value)


def poisson(rate_hz: float, seed: int = 0) -> Pacing:
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise UsageError(f"the rate must be a finite number of Hz > 0, got {rate_hz}")
    if rate_hz > 1e6:
        raise UsageError(f"a rate of {rate_hz:g} Hz is over the 1 MHz limit")
    return Pacing(kind="poisson", rate_hz=float(rate_hz), seed=int(seed))


def trace(path: str | Path) -> Pacing:
    """A trace file: one due time per line, in seconds from the start (first CSV column; '#' comments)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise UsageError(f"cannot read trace file {path}: {e.strerror or e}") from None
    offsets: list[int] = []
    for lineno, line in enumerate(lines, 1):
        field = line.split("#", 1)[0].split(",", 1)[0].strip()
        if not field:
            continue
        try:
            t = float(field)
        except ValueError:
            if not offsets:  # a CSV header line
                continue
            raise UsageError(f"{path}:{lineno}: {field!r} is not a time in seconds") from None
        if not math.isfinite(t) or t < 0:
            raise UsageError(f"{path}:{lineno}: due times must be finite and >= 0, got {field}")
        ns = round(t * _NS_PER_S)
        if offsets and ns < offsets[-1]:
            raise UsageError(f"{path}:{lineno}: due times must not decrease ({field} s after {offsets[-1] / 1e9:g} s)")
        offsets.append(ns)
    if not offsets:
        raise UsageError(f"trace file {path} holds no due times")
    # Times count from the first due time, so a log of absolute timestamps replays as recorded.
    return Pacing(kind="trace", trace_offsets_ns=tuple(o - offsets[0] for o in offsets), trace_file=str(path))
