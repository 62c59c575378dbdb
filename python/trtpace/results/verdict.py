"""What to do, in words: the verdict of a sweep per workload, and how to deploy a compare's policy.

A sweep's facts (the penalty and its interval, the attribution parts, the SM clock by NVML and
by the in-band probe) become one sentence per workload and launch path, and the next command:

- how big the penalty is: its worst gap condition's p50 penalty with the 95% bootstrap interval,
  "none" where the interval reaches 1 (no penalty this run can tell from noise), "small" below
  1.05x, else a penalty worth acting on;
- where the time goes: the largest attribution part that grew;
- whether the SM clock moved after the gap (NVML or in-band below 95% of the gap-0 baseline), so
  whether locking clocks can help on this machine: where the clock holds (an H100/H200 stays at
  its maximum), the cost is the launch path and locking does not help; where it drops (a Jetson's
  devfreq governor), `jetson_clocks` or a lock may. Conditions measured with --lock-clocks say
  it directly: the locked penalty against the unlocked one, intervals apart or not.
- the next command: `trtpace compare` on that workload at that gap, with the policies that fit.

`deployment()` turns a compare policy (its name, as `trtpace.measure.policies` parses it) into the
lines an app writes: the `trtpace.Pacer(...)` call and the C++ `trtpace::RunConfig` fields.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from trtpace.errors import UsageError
from trtpace.measure.launch import PYTHON_PATHS
from trtpace.measure.policies import ARMED_GATES, ARMED_SYNC, Policy, parse_policy
from trtpace.results.attribution import attribute
from trtpace.results.condition import ConditionKey, ConditionResult, KeyField
from trtpace.results.result import SweepResult

SMALL = 1.05  # a penalty below this is "small": act only where its milliseconds matter
NEGLIGIBLE = 1.01  # below this (1%) no penalty worth a word, whatever the interval says
CLOCK_DROP = 0.95  # the SM clock after the gap below this share of the baseline's: it dropped
CLOCK_STEADY = 0.02  # within 2% (attribution's "unchanged"): it held
LAUNCH_PARTS = ("submit", "launch", "wakeup", "launch+wakeup", "late", "write")
PART_WORDS = {
    "late": "a late issue: the host's wait overshot the due time",
    "write": "the host's input write after the gap",
    "submit": "the launch path: the host's submit call",
    "launch": "the launch path: from the submit call to the GPU starting",
    "launch+wakeup": "the launch path: the launch and the wake-up",
    "copy_in": "the input copy to the GPU",
    "device": "device execution: the GPU itself ran slower",
    "copy_out": "the output copy back to the host",
    "wakeup": "the wake-up: from the GPU finishing to the host seeing it",
}


def machine_kind(environment: dict[str, Any]) -> str:
    """ "jetson" (an integrated GPU, or devfreq telemetry), "gpu" (a discrete GPU) or "host" (no GPU)."""
    gpu = environment.get("gpu") or {}
    source = str((environment.get("telemetry") or {}).get("source") or "")
    if gpu.get("integrated") or source.startswith("jetson"):
        return "jetson"
    return "gpu" if gpu else "host"


def _gpu_name(environment: dict[str, Any]) -> str:
    name = str((environment.get("gpu") or {}).get("name") or "")
    return name.removeprefix("NVIDIA ").split(" ")[0] if name else ""


def _mhz(v: float) -> str:
    return f"{v:.0f} MHz"


@dataclass
class ClockReading:
    """The SM clock after the gap against the gap-0 baseline, by NVML (devfreq on a Jetson) and in-band."""

    nvml: tuple[float, float]
    inband: tuple[float, float]

    def _moved(self, pair: tuple[float, float]) -> str:
        a, b = pair
        if not (math.isfinite(a) and math.isfinite(b) and a > 0):
            return "unknown"
        if b < CLOCK_DROP * a:
            return "dropped"
        return "steady" if abs(b - a) <= CLOCK_STEADY * a or b > a else "dipped"

    @property
    def state(self) -> str:
        """ "dropped" (either measure fell below 95%), "steady" (every measure held), "dipped"
        (between: a few %), or "unknown" (neither measured)."""
        states = [self._moved(self.nvml), self._moved(self.inband)]
        if "dropped" in states:
            return "dropped"
        known = [s for s in states if s != "unknown"]
        if not known:
            return "unknown"
        return "dipped" if "dipped" in known else "steady"

    def phrase(self, kind: str) -> str:
        nvml_name = "devfreq" if kind == "jetson" else "NVML"
        said = []
        for name, (a, b) in ((nvml_name, self.nvml), ("in-band", self.inband)):
            if math.isfinite(a) and math.isfinite(b):
                said.append(
                    f"{_mhz(b)} {name}" if self._moved((a, b)) == "steady" else f"{_mhz(a)} -> {_mhz(b)} {name}"
                )
        if not said:
            return "the SM clock was not measured"
        verb = {"dropped": "fell", "dipped": "dipped"}.get(self.state, "held")
        if verb == "held":
            return "the SM clock held (" + ", ".join(said) + ")"
        return f"the SM clock {verb} (" + ", ".join(said) + ")"


@dataclass
class Verdict:
    """What one workload's sweep says, and what to do about it."""

    workload: str
    launch: str
    gpu: str  # the GPU worker of a multi-GPU run ("" on one GPU)
    condition: str  # the pacing of the worst gap condition, e.g. "gap 0.1 s"
    penalty: float  # its p50 penalty
    interval: tuple[float, float]
    n: int
    delta_p50_us: float
    severity: str  # none | small | penalty | unknown
    largest_part: str  # the attribution part that grew most ("" where unknown)
    largest_part_us: float
    clock: str  # steady | dipped | dropped | unknown
    clock_phrase: str
    locking: str  # helps | no-help | may-help | unknown | measured-helps | measured-no-help
    machine: str  # jetson | gpu | host
    sentence: str
    next_command: str = ""
    next_why: str = ""
    gaps_measured: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.workload + (f" [{self.launch}]" if self.launch else "") + (f" on {self.gpu}" if self.gpu else "")

    def lines(self) -> list[str]:
        """The sentence, then the next command on its own line (copyable, never folded)."""
        out = [self.sentence]
        if self.next_command:
            out.append(f"next: {self.next_command}" + (f"  ({self.next_why})" if self.next_why else ""))
        return out

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["interval"] = list(self.interval)
        d["label"] = self.label
        return d


def _gap_of(c: ConditionResult) -> float:
    p = c.pacing
    if p.kind == "gap" and p.gap_s:
        return float(p.gap_s)
    if p.period_s:
        return float(p.period_s)
    if p.rate_hz:
        return 1.0 / float(p.rate_hz)
    return 0.1


def _target(c: ConditionResult) -> str:
    """How `trtpace compare` names this workload: -w for synthetic and host work, else the model."""
    kind = c.workload_meta.kind or ""
    if kind in ("synthetic", "host") or not kind:
        return f"-w {c.workload}"
    if kind == "torch":
        return f"--torch {c.workload}" + (f" --launch {c.launch}" if c.launch else "")
    if kind == "tensorrt":
        path = c.extra.get("engine") or c.extra.get("onnx") or c.workload
        flag = "--onnx" if str(path).endswith(".onnx") else "--engine"
        return f"{flag} {path}" + (f" --launch {c.launch}" if c.launch else "")
    return f"-w {c.workload}"


def _severity(penalty: float, lo: float, hi: float) -> str:
    if not math.isfinite(penalty):
        return "unknown"
    if penalty < NEGLIGIBLE or (math.isfinite(lo) and lo <= 1.0):
        return "none"
    return "small" if penalty < SMALL else "penalty"


# A condition's twin at locked clocks: the same measurement but for its clocks (wait, sync and host
# I/O are the run's, shared by both)
_TWIN_IGNORES: tuple[KeyField, ...] = ("clocks", "wait", "sync", "io")


def _locked_twin(result: SweepResult, c: ConditionResult) -> ConditionResult | None:
    for d in result.conditions:
        if (
            d is not c
            and d.clocks != "default"
            and d.count > d.warmup
            and d.key(ignoring=_TWIN_IGNORES) == c.key(ignoring=_TWIN_IGNORES)
        ):
            return d
    return None


def _locking(result: SweepResult, c: ConditionResult, clock: str, machine: str, largest: str) -> tuple[str, str]:
    """Whether locking clocks helps, and the words for it."""
    twin = _locked_twin(result, c)
    if twin is not None:
        p, (lo, hi) = result.penalty(twin), result.penalty_interval(twin)
        ulo = result.penalty_interval(c)[0]
        if math.isfinite(p):
            if math.isfinite(hi) and math.isfinite(ulo) and hi < ulo:
                return (
                    "measured-helps",
                    f"with clocks {twin.clocks} it was {p:.2f}x [{lo:.2f}, {hi:.2f}]: locking helps",
                )
            said = (
                f"with clocks {twin.clocks} it was {p:.2f}x [{lo:.2f}, {hi:.2f}], not measurably better: "
                "locking does not help"
            )
            return "measured-no-help", said
    if machine == "host":
        return "unknown", "host work: no GPU clock to lock"
    if clock == "dropped":
        how = (
            "`sudo jetson_clocks` (or `trtpace clocks lock --jetson-clocks`)"
            if machine == "jetson"
            else "`sudo trtpace clocks lock --sm max`"
        )
        return "may-help", f"so locking clocks may help: {how}, then sweep again"
    if clock == "steady":
        if largest in LAUNCH_PARTS:
            return "no-help", "so locking clocks will not help on this GPU: the cost is the launch path"
        return "no-help", "so locking clocks will not help on this GPU"
    if clock == "dipped":
        return "unknown", "a dip too small to blame: locking clocks is unlikely to help"
    return "unknown", "so whether locking helps is unknown (run with telemetry on a GPU workload)"


def _next(
    c: ConditionResult, severity: str, machine: str, clock: str, largest: str, switches: list[dict[str, Any]]
) -> tuple[str, str]:
    """The next command and why; ("", "") where nothing is worth doing."""
    if severity in ("none", "unknown"):
        return "", ""
    gap = f"{_gap_of(c):g}"
    base = f"trtpace compare {_target(c)} --gap {gap}"
    if machine == "host":
        return base, "sleep against spin; the GPU policies need a GPU workload"
    if clock == "dropped":
        return (
            base + " --policies sleep,locked:max,keepwarm:1ms,armed",
            "a locked clock beside keep-warm and armed launch; locking needs root",
        )
    if c.launch in PYTHON_PATHS and switches:
        return base, "it also runs the graph path beside yours: what switching would give"
    if largest == "late":
        return base + " --policies sleep,hybrid,spin", "the host's wait overshoots: finer waits side by side"
    if largest == "wakeup":
        return base + " --policies spin,sync-flag,armed", "the wake-up: completion waits side by side"
    return base, "keep-warm, pre-warm and armed launch against plain sleep and spin"


def _largest(parts: dict[str, float]) -> tuple[str, float]:
    grown = {k: v for k, v in parts.items() if math.isfinite(v) and v > 0}
    if not grown:
        return "", math.nan
    k = max(grown, key=lambda key: grown[key])
    return k, grown[k]


def _dur(us: float, sign: bool = False) -> str:
    """A duration as people read it: "0.064 ms", or "1.2 us" below 10 us (where ms would show 0.001)."""
    if abs(us) < 10:
        return f"{us:+.1f} us" if sign else f"{us:.1f} us"
    return f"{us / 1e3:+.3f} ms" if sign else f"{us / 1e3:.3f} ms"


def _sentence(v: Verdict, lock_words: str, switches: list[dict[str, Any]]) -> str:
    lo, hi = v.interval
    digits = 3 if hi - lo < 0.02 else 2
    iv = f"95% interval {lo:.{digits}f}-{hi:.{digits}f}x" if math.isfinite(lo) and math.isfinite(hi) else ""
    if v.severity == "unknown":
        return f"{v.label}: penalty unknown (no usable gap-0 baseline): nothing to conclude; run the sweep again."
    ms = f"{_dur(v.delta_p50_us, sign=True)} p50" if math.isfinite(v.delta_p50_us) else ""
    facts = "; ".join(
        x
        for x in (
            f"worst of {len(v.gaps_measured)}" if len(v.gaps_measured) > 1 else "",
            iv,
            ms if v.severity != "none" else f"n={v.n}",
        )
        if x
    )
    if v.severity == "none":
        return f"{v.label}: no penalty worth fixing, {v.penalty:.{digits}f}x at {v.condition} ({facts}): nothing to do."
    head = (
        f"{v.label}: {v.penalty:.2f}x slower at {v.condition} ({facts})."
        if v.severity == "penalty"
        else f"{v.label}: a small penalty, {v.penalty:.2f}x at {v.condition} ({facts}): act only if that matters."
    )
    words = PART_WORDS.get(v.largest_part, v.largest_part)
    if v.machine == "host" and v.largest_part == "submit":
        words = "the work itself on the CPU (the loop's core after the gap, its clock and idle states)"
    where = f" Most of it is {words} (+{_dur(v.largest_part_us)})." if v.largest_part else ""
    if v.machine == "host":
        clock = " Host work: no GPU clock to lock."
    elif lock_words.startswith("with clocks"):
        clock = f" {v.clock_phrase[0].upper()}{v.clock_phrase[1:]}; {lock_words}."
    else:
        clock = f" {v.clock_phrase[0].upper()}{v.clock_phrase[1:]}" + (f", {lock_words}." if lock_words else ".")
    switch = "".join(
        f" Switching {s['from']} -> {s['to']} measured {s['penalty_from']:.2f}x -> {s['penalty_to']:.2f}x."
        for s in switches
    )
    return head + where + clock + switch


def sweep_verdicts(result: SweepResult) -> list[Verdict]:
    """One verdict per workload and launch path (per GPU worker and mode of a multi-GPU run), in
    run order, from its worst gap condition at default clocks (of the first run in the folder
    that measured it)."""
    machine = machine_kind(result.environment)
    groups: dict[ConditionKey, list[ConditionResult]] = {}
    for c in result.conditions:
        if c.pacing.is_continuous or c.clocks != "default" or c.count <= c.warmup or c.policy:
            continue
        groups.setdefault(c.key(only=("gpu_label", "gpu_mode", "workload", "launch", "gap_work")), []).append(c)
    switches = result.launch_switches()
    out = []
    for conds in groups.values():
        # the fields the group shares, typed as the conditions hold them
        gpu_label, gpu_mode, workload, launch = (
            conds[0].gpu_label,
            conds[0].gpu_mode,
            conds[0].workload,
            conds[0].launch,
        )
        scored = [(result.penalty(c), i, c) for i, c in enumerate(conds)]
        finite = [s for s in scored if math.isfinite(s[0])]
        _, _, worst = max(finite, key=lambda s: (s[0], -s[1])) if finite else scored[0]
        base = result.baseline(worst)
        penalty = result.penalty(worst)
        lo, hi = result.penalty_interval(worst)
        severity = _severity(penalty, lo, hi)
        parts: dict[str, float] = {}
        clock = ClockReading((math.nan, math.nan), (math.nan, math.nan))
        delta = math.nan
        if base is not None and base.count > base.warmup:
            a = attribute(worst, base)
            parts, delta = a.parts_delta_us, a.delta_p50_us
            clock = ClockReading(a.sm_mhz, a.inband_mhz)
        largest, largest_us = _largest(parts)
        kind = machine if worst.device_timing != "host" and worst.workload_meta.kind != "host" else "host"
        state = clock.state if kind != "host" else "unknown"
        lock_state, lock_words = _locking(result, worst, state, kind, largest)
        mine = [
            s
            for s in switches
            if s["workload"] == workload and s["from"] == launch and s["pacing"] == worst.pacing.label
        ]
        cmd, why = _next(worst, severity, kind, state, largest, mine)
        v = Verdict(
            workload=workload,
            launch=launch,
            gpu=f"{gpu_label}, {gpu_mode}" if gpu_label else "",
            condition=worst.pacing.label,
            penalty=penalty,
            interval=(lo, hi),
            n=worst.count - worst.warmup,
            delta_p50_us=delta,
            severity=severity,
            largest_part=largest,
            largest_part_us=largest_us,
            clock=state,
            clock_phrase=clock.phrase(kind),
            locking=lock_state,
            machine=kind,
            sentence="",
            next_command=cmd,
            next_why=why,
            gaps_measured=[c.pacing.label for c in conds],
        )
        v.sentence = _sentence(v, lock_words if severity in ("penalty", "small") else "", mine)
        out.append(v)
    return out


def summary_line(verdicts: list[Verdict], environment: dict[str, Any]) -> str:
    """The one sentence over all workloads: what to do first on this machine."""
    act = [v for v in verdicts if v.severity == "penalty"]
    small = [v for v in verdicts if v.severity == "small"]
    if not verdicts:
        return "nothing measured after a gap, so no verdict."
    name = _gpu_name(environment)
    where = f" on this {name}" if name else " on this machine"
    if not act:
        if small:
            return (
                f"what to do{where}: nothing urgent: {', '.join(v.label for v in small)} pay(s) under 5% "
                "after a gap; the others none."
            )
        return f"what to do{where}: nothing: no workload measurably slows down after a gap."
    worst = max(act, key=lambda v: v.penalty)
    if worst.locking in ("may-help", "measured-helps"):
        fix = (
            "lock the GPU clock"
            + (" (`sudo jetson_clocks`)" if worst.machine == "jetson" else "")
            + " and compare remedies"
        )
    elif worst.locking in ("no-help", "measured-no-help") and worst.machine != "host":
        fix = "pick a launch-path remedy (keep-warm, pre-warm or armed launch); locking clocks will not help"
    else:
        fix = "compare remedies"
    return (
        f"what to do{where}: {fix}: `{worst.next_command}` ({worst.label} pays {worst.penalty:.2f}x at "
        f"{worst.condition}" + (f"; {len(act) - 1} more workload(s) also pay" if len(act) > 1 else "") + ")."
    )


def verdicts_json(result: SweepResult) -> dict[str, Any]:
    """The verdicts as --json carries them: the summary sentence and one entry per workload."""
    vs = sweep_verdicts(result)
    return {"summary": summary_line(vs, result.environment), "workloads": [v.to_json() for v in vs]}


# --- deploying a compare policy -------------------------------------------------------------


def _num(v: float) -> str:
    return f"{v:g}"


def _ns(ms: float) -> str:
    return f"{round(ms * 1e6):_}".replace("_", "'")


# Long because it holds the deployment lines (Python and C++) of every kind of remedy, side by side.
def deployment(policy_name: str, launch: str = "", armed_gate: str = "") -> dict[str, Any]:
    """How an app runs `policy_name` itself: {"python": [lines], "cpp": [lines], "note": str}.

    `armed_gate` is the gate plain `armed` chose on this machine (kernel or wait); `launch` the
    path the policy was measured on. Python: `trtpace.Pacer` (or `trtpace.KeepWarm` around the
    app's own call for keep-warm alone); C++: the `trtpace::RunConfig` fields of the paced runner."""
    try:
        p: Policy = parse_policy(policy_name)
    except UsageError:  # a policy this trtpace no longer parses (an old folder): no lines to give
        return {"python": [], "cpp": [], "note": f"{policy_name}: not a policy this trtpace can deploy"}
    kw: list[str] = []
    cpp: list[str] = ["trtpace::RunConfig config;"]
    note = ""
    gate = p.armed_gate if p.armed_gate in ARMED_GATES else (armed_gate or "kernel")
    if p.wait != "hybrid" or p.hybrid_margin_ms:
        kw.append(f'wait="{p.wait}"')
    cpp.append(f"config.wait = trtpace::WaitMode::{p.wait};")
    if p.hybrid_margin_ms:
        cpp.append(f"config.hybrid_margin_ns = {_ns(p.hybrid_margin_ms)};")
    if p.sync != "spin":
        if not (p.armed_gate and p.sync == ARMED_SYNC):  # an armed Pacer waits on the flag by default
            kw.append(f'sync="{p.sync}"')
        cpp.append(f"config.sync = trtpace::SyncMode::{p.sync};")
    if p.keepwarm_period_ms:
        kw += [f"keepwarm_period_ms={_num(p.keepwarm_period_ms)}", f"keepwarm_work_us={_num(p.keepwarm_work_us)}"]
        cpp += [
            f"config.keepwarm_period_ns = {_ns(p.keepwarm_period_ms)};",
            f"config.keepwarm_work_ns = {_ns(p.keepwarm_work_us / 1e3)};",
        ]
    if p.prewarm_lead_ms:
        kw += [f"prewarm_lead_ms={_num(p.prewarm_lead_ms)}", f'prewarm_target="{p.prewarm_target}"']
        if p.prewarm_work_us:
            kw.append(f"prewarm_work_us={_num(p.prewarm_work_us)}")
        cpp += [
            f"config.prewarm_lead_ns = {_ns(p.prewarm_lead_ms)};",
            f"config.prewarm_target = trtpace::PrewarmTarget::{p.prewarm_target};",
        ]
        if p.prewarm_work_us:
            cpp.append(f"config.prewarm_work_ns = {_ns(p.prewarm_work_us / 1e3)};")
    if p.armed_gate:
        kw.append(f'armed="{gate}"')
        if p.armed_cancellable:
            kw.append("armed_cancellable=True")
        cpp += ["config.armed = true;", f"config.arm.gate = trtpace::GateKind::{gate};"]
        if p.arm_timeout_ms:
            kw.append(f"arm_timeout_ms={_num(p.arm_timeout_ms)}")
            cpp.append(f"config.arm.timeout_ns = {_ns(p.arm_timeout_ms)};")
    python = [f"pacer = trtpace.Pacer({', '.join(['w', *kw])})"]
    if launch:
        python.append(
            f"# w: the model's workload on the {launch} path, e.g. "
            f'trtpace.workloads.from_torch(model, (x,), launch="{launch}")'
        )
    if p.armed_gate:
        python += [
            "pacer.arm()                      # during the gap: the launch is paid now",
            "# ... write the input into pacer.inputs ...",
            "pacer.release(); record = pacer.wait(timeout=1.0)",
        ]
    else:
        python += [
            "pacer.expect(next_frame_due_ns)  # announce the next frame (time.monotonic_ns())",
            "record = pacer.infer()",
        ]
    if p.keepwarm_period_ms and not (p.prewarm_lead_ms or p.armed_gate):
        python.append(
            f"# or around your own call: with trtpace.KeepWarm(period_ms={_num(p.keepwarm_period_ms)}, "
            f"work_us={_num(p.keepwarm_work_us)}) as kw: ... with kw.inference(): run_model(frame)"
        )
    cpp.append('trtpace::Runner runner(workload, config);  // #include "trtpace/runner.hpp"')
    if p.lock_clocks:
        note = (
            f"locked clocks: `sudo trtpace clocks lock --sm {p.lock_clocks}` before the app starts "
            "(`trtpace clocks reset` undoes it; `--jetson-clocks` on a Jetson)"
        )
    if p.cpu_awake:
        awake = (
            "cpu-awake: a SCHED_IDLE spinner on the loop's core keeps it out of idle states during the gap "
            "(no Pacer option: run one beside the app)"
        )
        note = (note + "; " if note else "") + awake
    if p.launch:
        note = (note + "; " if note else "") + f"run the model on the {p.launch} path"
    return {"python": python, "cpp": cpp, "note": note}
