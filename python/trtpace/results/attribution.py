"""Where the slowdown after a gap comes from: host submission, launch, device execution, wake-up.

Per inference, end to end splits exactly into parts:
  late    issue - due              (open loop only: the issue came after its due time)
  write   staged - issue           (only where the input is written after the gap, on the critical
                                    path: the host's write of the input; staged_ns > 0)
  submit  submitted - staged       (the host's submission call; submitted - issue without a write)
  launch  gpu start - submitted    (until the GPU started; negative when it started before the call returned)
  copy in  the input's copy to the GPU (only where the copies are timed apart: copy_in_us)
  device  device execution         (event nodes inside the graph; without the copies where they
                                    are timed apart)
  copy out the output's copy back to the host (copy_out_us)
  wake-up done - gpu start - device (from the GPU finishing to the host seeing it)
For the Python launch paths (eager, python, replay) the submit part is the Python call; the line
then also says what the loop's CPU core did: its frequency before the issue and its idle states.
The parts are averaged over the inferences whose e2e lies in a central band around the median
(35th to 65th percentile), so they add up exactly to the change of that band's mean, which
tracks the change of the p50 (the headline number) closely whatever the distribution's tails do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trtpace.measure.launch import PYTHON_PATHS
from trtpace.results.condition import ConditionResult

PARTS = ("late", "write", "submit", "launch", "copy_in", "device", "copy_out", "wakeup")
_LABELS = {
    "late": "late issue",
    "write": "input write",
    "submit": "submit",
    "launch": "launch",
    "copy_in": "copy in",
    "device": "device",
    "copy_out": "copy out",
    "wakeup": "wake-up",
    "launch+wakeup": "launch+wake-up",
}
# Parts one side may lack (no input written there, copies not timed apart): 0 on that side.
_OPTIONAL = ("write", "copy_in", "copy_out")


def parts_us(c: ConditionResult) -> dict[str, np.ndarray]:
    """Each measured inference's e2e split into PARTS (launch and wake-up merged without a probe;
    `write` only where the input was written after the gap: records with staged_ns > 0)."""
    r = {k: v[~c.is_warmup] for k, v in c.records.items()}
    e2e = c.column("e2e_us")
    issue, submitted, done = r["issue_ns"], r["submitted_ns"], r["done_ns"]
    device = np.asarray(r["device_us"], dtype=np.float64)
    out = {"late": (issue - r["due_ns"]) / 1e3 if c.pacing.open_loop else np.zeros(issue.size)}
    staged = r.get("staged_ns")
    if staged is not None and staged.size == issue.size and (staged > 0).any():
        written = np.where(staged > 0, staged, issue)  # an inference without its write: a write of 0
        out["write"] = (written - issue) / 1e3
        out["submit"] = (submitted - written) / 1e3
    else:
        out["submit"] = (submitted - issue) / 1e3
    start = r.get("gpu_start_ns", np.zeros(issue.size, dtype=np.int64))
    copy_in, copy_out = r.get("copy_in_us"), r.get("copy_out_us")
    copies = (
        copy_in is not None
        and copy_out is not None
        and copy_in.size == issue.size
        and bool(np.isfinite(copy_in).all() and np.isfinite(copy_out).all())
        and issue.size > 0
    )
    if issue.size and (start > 0).all():
        out["launch"] = (start - submitted) / 1e3
        out["wakeup"] = (done - start) / 1e3 - device
    else:
        out["launch+wakeup"] = (done - submitted) / 1e3 - device
    if copies and copy_in is not None and copy_out is not None:
        out["copy_in"] = np.asarray(copy_in, dtype=np.float64)
        out["copy_out"] = np.asarray(copy_out, dtype=np.float64)
        out["device"] = device - out["copy_in"] - out["copy_out"]
    else:
        out["device"] = device
    out["e2e"] = e2e
    return out


def _trimmed_means(parts: dict[str, np.ndarray]) -> dict[str, float]:
    e2e = parts["e2e"]
    if e2e.size == 0:
        return dict.fromkeys(parts, math.nan)
    lo, hi = np.percentile(e2e, [35, 65])
    keep = (e2e >= lo) & (e2e <= hi)
    if not keep.any():  # a handful of inferences, none inside the band: the one(s) nearest the median
        off = np.abs(e2e - np.median(e2e))
        keep = off == off.min()
    return {k: float(v[keep].mean()) for k, v in parts.items()}


@dataclass
class Attribution:
    workload: str
    pacing: str
    delta_p50_us: float
    parts_delta_us: dict[str, float]  # sums to the change of the trimmed mean
    sm_mhz: tuple[float, float]  # NVML at launch, p50: baseline, condition
    inband_mhz: tuple[float, float]  # in-band probe, p50: baseline, condition
    host: str = ""  # the loop's CPU core around the issue (Python launch paths)
    gap_work_p50_us: float = math.nan  # how long the gap work ran, p50 (NaN for an idle gap)

    @property
    def parts_sum_us(self) -> float:
        return sum(self.parts_delta_us.values())

    def line(self) -> str:
        shown = [(k, v) for k, v in self.parts_delta_us.items() if not (k == "late" and abs(v) < 0.5)]
        parts = " + ".join(f"{v / 1e3:.3f} {_LABELS[k]}" for k, v in shown).replace("+ -", "- ")
        host = f"; {self.host}" if self.host else ""
        return (
            f"{self.workload}, {self.pacing}: {self.delta_p50_us / 1e3:+.3f} ms = {parts}; {self._clock_phrase()}{host}"
        )

    def _clock_phrase(self) -> str:
        def phrase(name: str, pair: tuple[float, float]) -> str | None:
            a, b = pair
            if not (math.isfinite(a) and math.isfinite(b)):
                return None
            if abs(b - a) <= 0.02 * a:
                return f"{name} unchanged ({b:.0f} MHz)"
            return f"{name} {a:.0f} -> {b:.0f} MHz"

        said = [p for p in (phrase("SM clock", self.sm_mhz), phrase("in-band SM clock", self.inband_mhz)) if p]
        return ", ".join(said) if said else "SM clock not measured"


def host_phrase(c: ConditionResult, baseline: ConditionResult) -> str:
    """The loop's core and its clock before the issue (vs continuous), and its deepest idle state
    used in the condition; "" where the machine exposes neither (the report says so once)."""
    info = c.stats.host_cpu or {}
    if info.get("core") is None:
        return ""
    said = []
    a, b = (x.summarized("cpu_mhz_issue")["p50"] for x in (baseline, c))
    if math.isfinite(a) and math.isfinite(b):
        said.append(f"{a / 1e3:.2f} GHz" if abs(b - a) <= 0.02 * a else f"{a / 1e3:.2f} -> {b / 1e3:.2f} GHz")
    idle = {k: v for k, v in (info.get("idle") or {}).items() if v.get("residency_pct", 0) >= 1}
    if idle:
        deepest = max(idle.items(), key=lambda kv: kv[1]["residency_pct"])
        said.append(f"{deepest[0]} {deepest[1]['residency_pct']:.0f}% of the time")
    if not said:
        return ""
    return f"CPU core {info['core']} before the issue: " + ", ".join(said)


def attribute(c: ConditionResult, baseline: ConditionResult) -> Attribution:
    """How `c` differs from its continuous baseline, part by part."""
    base, cond = _trimmed_means(parts_us(baseline)), _trimmed_means(parts_us(c))
    # Per inference the parts add up to e2e on each side, so the changes add up to the change of
    # the trimmed mean; a write one side lacks counts 0 there (its submit holds the whole span).
    keys = [
        k
        for k in (*PARTS, "launch+wakeup")
        if (k in cond and k in base) or (k in _OPTIONAL and (k in cond or k in base))
    ]
    p50 = c.summarized("e2e_us")["p50"] - baseline.summarized("e2e_us")["p50"]

    def med(x: ConditionResult, m: str) -> float:
        return float(x.summarized(m)["p50"])

    return Attribution(
        workload=c.workload,
        pacing=c.pacing.label
        + ("" if c.clocks == "default" else f", {c.clocks}")
        + ("" if c.gap_work_spec == "none" else f", gap work {c.gap_work_spec}"),
        delta_p50_us=p50,
        parts_delta_us={k: cond.get(k, 0.0) - base.get(k, 0.0) for k in keys},
        sm_mhz=(med(baseline, "nvml_sm_mhz"), med(c, "nvml_sm_mhz")),
        inband_mhz=(med(baseline, "inband_mhz"), med(c, "inband_mhz")),
        host=host_phrase(c, baseline) if c.launch in PYTHON_PATHS else "",
        gap_work_p50_us=med(c, "gap_work_us"),
    )


IDLE_MIN_SAMPLES = 5  # fewer power samples in the gaps than this: no idle power


def _plain(c: ConditionResult) -> bool:
    """A condition whose gaps are idle for the GPU: no keep-warm or pre-warm filler, no armed gate."""
    p = c.compare_tag.policy_fields if c.compare_tag is not None else {}
    return not (p.get("keepwarm_period_ms") or p.get("prewarm_lead_ms") or p.get("armed_gate"))


def gap_power_w(c: ConditionResult) -> np.ndarray:
    """The power samples (W) taken in the gaps of `c`, no inference in flight; none where its
    gaps are not idle for the GPU (continuous, a filler, a gate) or no power was read."""
    t, power, w = c.telemetry.get("tel_t_ns"), c.telemetry.get("tel_power_mw"), c.window_ns()
    if t is None or power is None or t.size == 0 or w is None or c.pacing.is_continuous or not _plain(c):
        return np.zeros(0)
    issue, done = c.records["issue_ns"], c.records["done_ns"]
    inside = (t >= w[0]) & (t <= w[1]) & np.isfinite(power)
    k = np.searchsorted(issue, t, side="right") - 1  # the last issue at or before each sample
    busy = (k >= 0) & (t <= done[np.clip(k, 0, issue.size - 1)])
    return np.asarray(power[inside & ~busy], dtype=np.float64) / 1e3


def idle_power_w(conditions: list[ConditionResult]) -> dict[str, float]:
    """The GPU's idle power per GPU worker (`gpu_label`, "" on one GPU): the median of the power
    samples taken in the gaps of the conditions whose gaps are idle (no inference in flight,
    no filler, no gate), NaN where fewer than IDLE_MIN_SAMPLES fell there."""
    samples: dict[str, list[np.ndarray]] = {}
    for c in conditions:
        samples.setdefault(c.gpu_label, []).append(gap_power_w(c))
    out = {}
    for label, parts in samples.items():
        v = np.concatenate(parts)
        out[label] = float(np.median(v)) if v.size >= IDLE_MIN_SAMPLES else math.nan
    return out


def energy_above_idle_mj(c: ConditionResult, idle_w: dict[str, float]) -> float:
    """Energy per inference above what the GPU draws idle over the same time: the measured energy
    of the condition's window less idle power x that window, per measured inference (mJ). At a
    long gap the plain energy per inference is mostly idle power (129 W x 0.1 s = 12.9 J); this is
    what the inference itself adds. NaN without an energy reading or an idle power; it can be
    slightly negative where the inference adds less than the idle power's noise. The idle power is
    the condition's own gaps' where it has them, else the run's (`idle_power_w`)."""
    pe = c.power_energy()
    own = gap_power_w(c)  # its own gaps where it has them (the idle power drifts over a run), else the run's
    idle = float(np.median(own)) if own.size >= IDLE_MIN_SAMPLES else idle_w.get(c.gpu_label, math.nan)
    w = c.window_ns()
    n = int((~c.is_warmup).sum())
    if pe.get("energy_total_mj") is None or not math.isfinite(idle) or w is None or n == 0:
        return math.nan
    return (float(pe["energy_total_mj"]) - idle * (w[1] - w[0]) / 1e6) / n
