"""Pacing conditions: closed-loop gaps and open-loop schedules (period, Poisson rate, trace file)."""

from __future__ import annotations

import decimal
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trtpace import _core
from trtpace.errors import InputError, UsageError

MAX_GAP_S = 3600.0  # longer gaps are almost certainly a unit mistake (ms typed as s)
MIN_PERIOD_S = 1e-6  # the loop's resolution: a shorter period is a unit mistake (or rounds to 0 ns)
MAX_SEED = 2**64 - 1  # the C++ schedule's seed is a uint64
_NS_PER_S = 1_000_000_000
KINDS = ("gap", "period", "poisson", "trace")
# A trace may span at most 10 years, and its times (absolute timestamps allowed) must stay well
# inside the int64 nanoseconds of the C++ schedule, which adds them to the start time.
MAX_TRACE_SPAN_NS = int(_core.MAX_HORIZON_NS)  # the core's horizon (checked.hpp): one limit, typed once
MAX_TRACE_TIME_S = 2.0**62 / _NS_PER_S  # about 146 years: a Unix timestamp in seconds fits
_JSON_FIELDS = {"kind", "gap_s", "period_s", "rate_hz", "seed", "trace_offsets_ns", "trace_file", "label"}


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
    def from_json(cls, d: Any) -> Pacing:
        """A pacing as to_json wrote it, every field checked: ValueError or TypeError says what is wrong."""
        if not isinstance(d, dict):
            raise TypeError(f"pacing is a {type(d).__name__}, not an object")
        unknown = set(d) - _JSON_FIELDS
        if unknown:
            raise ValueError(f"pacing has unknown field(s) {', '.join(sorted(map(repr, unknown)))}")  # repr: one line
        kind = d.get("kind")
        if kind not in KINDS:
            raise ValueError(f"pacing kind {str(kind)[:30]!r} is not one of {', '.join(KINDS)}")

        def number(name: str, default: float | None) -> float | None:
            v = d.get(name, default)
            if v is None:
                return None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"pacing {name} must be a finite number >= 0, got {str(v)[:30]}")
            return float(v)

        offsets = d.get("trace_offsets_ns", [])
        if not isinstance(offsets, list) or not all(
            isinstance(o, int) and not isinstance(o, bool) and 0 <= o <= MAX_TRACE_SPAN_NS for o in offsets
        ):
            raise ValueError("pacing trace_offsets_ns must be a list of whole ns within 10 years")
        seed, trace_file = d.get("seed", 0), d.get("trace_file")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError("pacing seed must be a whole number")
        if not 0 <= seed <= MAX_SEED:
            raise ValueError("pacing seed must be from 0 to 2**64-1")
        if trace_file is not None and not isinstance(trace_file, str):
            raise TypeError("pacing trace_file must be text")
        p = cls(
            kind=kind,
            gap_s=number("gap_s", 0.0) or 0.0,
            period_s=number("period_s", None),
            rate_hz=number("rate_hz", None),
            seed=seed,
            trace_offsets_ns=tuple(offsets),
            trace_file=trace_file,
        )
        if (kind == "period" and not p.period_s) or (kind == "poisson" and not p.rate_hz):
            raise ValueError(f"a {kind} pacing needs its {'period_s' if kind == 'period' else 'rate_hz'} > 0")
        return p


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
    if value < MIN_PERIOD_S:
        raise UsageError(f"the period must be at least 1 us (1e-06 s), got {value:g} s")
    return Pacing(kind="period", period_s=value)


def poisson(rate_hz: float, seed: int = 0) -> Pacing:
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise UsageError(f"the rate must be a finite number of Hz > 0, got {rate_hz}")
    if rate_hz > 1e6:
        raise UsageError(f"a rate of {rate_hz:g} Hz is over the 1 MHz limit")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"the seed must be a whole number from 0 to 2**64-1, got {str(seed)[:40]}")
    return Pacing(kind="poisson", rate_hz=float(rate_hz), seed=seed)


def trace(path: str | Path) -> Pacing:
    """A trace file: one due time per line, in seconds from the start (first CSV column; '#' comments)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read trace file {path}: {e.strerror or e}") from None
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"trace file {path} is not a text file (one due time in seconds per line)") from None
    offsets: list[int] = []
    for lineno, line in enumerate(lines, 1):
        field = line.split("#", 1)[0].split(",", 1)[0].strip()
        if not field:
            continue
        try:
            # Decimal, not float: Unix timestamps in seconds keep their nanoseconds.
            t = decimal.Decimal(field)
        except decimal.InvalidOperation:
            if not offsets:  # a CSV header line
                continue
            raise InputError(f"{path}:{lineno}: {field[:40]!r} is not a time in seconds") from None
        if not t.is_finite() or t < 0:
            raise InputError(f"{path}:{lineno}: due times must be finite and >= 0, got {field[:40]}")
        if t > MAX_TRACE_TIME_S:
            raise InputError(
                f"{path}:{lineno}: due time {field[:40]} s is too large (at most {MAX_TRACE_TIME_S:.3g} s)"
            )
        ns = int((t * _NS_PER_S).to_integral_value(decimal.ROUND_HALF_EVEN))
        if offsets and ns < offsets[-1]:
            raise InputError(
                f"{path}:{lineno}: due times must not decrease ({field[:40]} s after {offsets[-1] / 1e9:g} s)"
            )
        if offsets and ns - offsets[0] > MAX_TRACE_SPAN_NS:
            raise InputError(
                f"{path}:{lineno}: the trace spans more than 10 years ({field[:40]} s after {offsets[0] / 1e9:g} s)"
            )
        offsets.append(ns)
    if not offsets:
        raise InputError(f"trace file {path} holds no due times")
    # Times count from the first due time, so a log of absolute timestamps replays as recorded.
    return Pacing(kind="trace", trace_offsets_ns=tuple(o - offsets[0] for o in offsets), trace_file=str(path))
