"""Named remedy policies for the paced runner, as `trtpace compare --policies` spells them.

A policy is one or more tokens joined by '+':
  sleep | spin | hybrid[:MARGIN]  how the host waits until an inference is due (default hybrid:
                                   sleep, then spin the last MARGIN, calibrated unless given, <= 5ms)
  sync-spin | sync-block | sync-yield | sync-flag   how it waits for completion (default sync-spin;
                                   flag: a word the GPU writes behind the inference, no driver call)
  keepwarm:PERIOD[:WORK]           filler work every PERIOD during the gap (WORK default 5us),
                                   on a lowest-priority stream, ending before the due time
  prewarm:LEAD[:WORK]              filler work once, LEAD before the due time (own stream)
  prewarm-stream:LEAD[:WORK]       the same filler on the inference's own stream
  prewarm-graph:LEAD               cudaGraphUpload of the inference's graph, LEAD before the due time
  direct | graph                   one launch per kernel, or one CUDA graph (synthetic workloads)
  armed[:wait|:kernel|:resident][:cancellable][:timeout=T]
                                   armed launch: the next inference is queued behind a gate as soon
                                   as the previous one completed, and issuing it is one store; plain
                                   `armed` measures both gates briefly and takes the faster; waits
                                   with sync-flag unless another sync-* token is given. resident:
                                   one loop launched once runs every frame (no launch per frame;
                                   holds one SM slot and the stream for the run; timeout= ends it
                                   after that long without a release); per-frame kernel gate
                                   where the model is no CUDA graph
  eager|python|replay|direct|graph the launch path (trtpace.measure.launch); the workload must offer it
  cpu-awake                        keeps the loop's CPU core out of idle states during the gap (a
                                   SCHED_IDLE spinner on that core; matters for Python launch paths)
  locked:max|base|MHZ              SM clocks locked for the run (needs root)
Durations take a unit: 500us, 1ms, 0.2s. Example: spin+keepwarm:1ms, prewarm:2ms:10us.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from trtpace import _core
from trtpace.errors import UsageError
from trtpace.measure.launch import LAUNCH_PATHS

DEFAULT_FILLER_US = 5.0
SYNC_TOKENS = tuple(f"sync-{m}" for m in _core.SYNC_MODES)
ARMED_SYNC = "flag"  # the sync mode of armed policies and armed Pacers unless one is named
ARMED_GATES = ("wait", "kernel", "resident")  # what armed:GATE and Pacer(armed=GATE) take
MAX_HYBRID_MARGIN_MS = _core.MAX_HYBRID_MARGIN_NS / 1e6
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class Policy:
    name: str
    wait: str = "hybrid"
    hybrid_margin_ms: float = 0.0  # 0: calibrated on this machine
    sync: str = "spin"
    keepwarm_period_ms: float = 0.0
    keepwarm_work_us: float = 0.0
    prewarm_lead_ms: float = 0.0
    prewarm_work_us: float = 0.0
    prewarm_target: str = "filler"
    launch: str | None = None
    lock_clocks: str | None = None
    armed_gate: str | None = None  # wait | kernel | resident | auto (wait or kernel, the faster, measured) | None
    armed_cancellable: bool = False
    arm_timeout_ms: float = 0.0
    cpu_awake: bool = False

    @property
    def uses_filler(self) -> bool:
        return self.keepwarm_period_ms > 0 or self.prewarm_lead_ms > 0

    def runner_kwargs(self) -> dict[str, Any]:
        return {
            "hybrid_margin_ns": round(self.hybrid_margin_ms * 1e6),
            "keepwarm_period_ns": round(self.keepwarm_period_ms * 1e6),
            "keepwarm_work_ns": round(self.keepwarm_work_us * 1e3),
            "prewarm_lead_ns": round(self.prewarm_lead_ms * 1e6),
            "prewarm_work_ns": round(self.prewarm_work_us * 1e3),
            "prewarm_target": self.prewarm_target,
            "armed_gate": self.armed_gate or "off",
            "armed_cancellable": self.armed_cancellable,
            "arm_timeout_ns": round(self.arm_timeout_ms * 1e6),
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _ms(text: str, token: str) -> float:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(us|ms|s)\s*", text)
    if not m:
        raise UsageError(f"policy {token!r}: {text!r} needs a number with a unit (us, ms or s)")
    value = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(value) or value > 10_000:
        raise UsageError(f"policy {token!r}: {text!r} is out of range (up to 10 s)")
    return value


def parse_policy(text: str) -> Policy:
    """Parses one policy; raises UsageError naming the bad part."""
    name = text.strip()
    if not name:
        raise UsageError("empty policy name")
    fields: dict[str, Any] = {}
    for token in name.split("+"):
        token = token.strip().lower()
        head, _, rest = token.partition(":")
        if token in ("sleep", "spin", "hybrid"):
            fields["wait"] = token
        elif head == "hybrid":
            margin = _ms(rest, token)
            if not 0 < margin <= MAX_HYBRID_MARGIN_MS:
                raise UsageError(
                    f"policy {token!r}: the spin margin must be > 0 and at most {MAX_HYBRID_MARGIN_MS:g}ms"
                )
            fields.update(wait="hybrid", hybrid_margin_ms=margin)
        elif token in SYNC_TOKENS:
            fields["sync"] = token.removeprefix("sync-")
        elif token in LAUNCH_PATHS:
            fields["launch"] = token
        elif token == "cpu-awake":
            fields["cpu_awake"] = True
        elif token == "default":
            pass
        elif head in ("keepwarm", "prewarm", "prewarm-stream", "prewarm-graph"):
            parts = rest.split(":") if rest else []
            if not 1 <= len(parts) <= 2:
                raise UsageError(f"policy {token!r}: expected {head}:TIME[:WORK], e.g. {head}:1ms:5us")
            t = _ms(parts[0], token)
            work_us = _ms(parts[1], token) * 1e3 if len(parts) == 2 else DEFAULT_FILLER_US
            if t <= 0:
                raise UsageError(f"policy {token!r}: the {'period' if head == 'keepwarm' else 'lead'} must be > 0")
            if head.startswith("prewarm") and work_us * 1e-3 >= t:
                raise UsageError(f"policy {token!r}: the work must end before the due time (shorter than the lead)")
            if head == "keepwarm":
                if work_us * 1e-3 >= t:
                    raise UsageError(f"policy {token!r}: the work must be shorter than the period")
                fields.update(keepwarm_period_ms=t, keepwarm_work_us=work_us)
            else:
                target = {"prewarm": "filler", "prewarm-stream": "stream", "prewarm-graph": "graph"}[head]
                fields.update(
                    prewarm_lead_ms=t, prewarm_work_us=0.0 if target == "graph" else work_us, prewarm_target=target
                )
        elif head == "armed":
            fields.update(_armed_fields(token, rest))
        elif head == "locked":
            if not rest:
                raise UsageError(f"policy {token!r}: expected locked:max, locked:base or locked:MHZ")
            fields["lock_clocks"] = rest
        else:
            raise UsageError(
                f"unknown policy {token!r} (expected sleep, spin, hybrid[:MARGIN], "
                f"{', '.join(SYNC_TOKENS)}, armed[:wait|:kernel|:resident], keepwarm:PERIOD, prewarm:LEAD, "
                "prewarm-stream:LEAD, prewarm-graph:LEAD, cpu-awake, "
                f"{', '.join(LAUNCH_PATHS)} or locked:max)"
            )
    try:
        _core.check_remedy_combination(
            bool(fields.get("armed_gate")), round(float(fields.get("prewarm_lead_ms") or 0) * 1e6)
        )
    except UsageError as e:
        raise UsageError(f"policy {name!r}: {e}") from None
    if fields.get("armed_gate"):
        # Armed inferences wait on the GPU's word unless told otherwise: their release is a plain
        # store, so a completion poll through the driver would be its first call after the gap.
        fields.setdefault("sync", ARMED_SYNC)
    return Policy(name=name, **fields)


def _armed_fields(token: str, rest: str) -> dict[str, Any]:
    out: dict[str, Any] = {"armed_gate": "auto"}
    for part in filter(None, rest.split(":")):
        if part in ARMED_GATES:
            out["armed_gate"] = part
        elif part == "cancellable":
            out["armed_cancellable"] = True
        elif part.startswith("timeout="):
            out["arm_timeout_ms"] = _ms(part.removeprefix("timeout="), token)
        else:
            raise UsageError(f"policy {token!r}: {part!r} is not wait, kernel, resident, cancellable or timeout=TIME")
    if out.get("armed_cancellable") and out["armed_gate"] == "resident":
        raise UsageError(
            f"policy {token!r}: the resident loop has no cancellable form (it runs nothing until released)"
        )
    if out.get("arm_timeout_ms") and out["armed_gate"] == "wait":
        raise UsageError(f"policy {token!r}: an arm timeout needs the kernel gate (a stream wait cannot time out)")
    return out


def parse_policies(text: str) -> list[Policy]:
    """'sleep,spin,keepwarm:1ms' -> policies, in order, names unique."""
    policies = [parse_policy(t) for t in text.split(",")]
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise UsageError(f"--policies names a policy twice: {text!r}")
    return policies
