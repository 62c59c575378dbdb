"""One condition's results: every inference's record, derived columns and their statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trtpace.measure.gap_work import NONE as IDLE_GAP
from trtpace.measure.host_cpu import join_after
from trtpace.measure.launch import launch_of
from trtpace.measure.pacing import Pacing
from trtpace.measure.telemetry import ENERGY_RESOLUTION_MJ, join_before
from trtpace.results.stats import summarize

METRICS = (
    "e2e_us",
    "device_us",
    "submit_us",
    "pacing_error_us",
    "launch_us",
    "inband_mhz",
    "nvml_sm_mhz",
    "cpu_mhz_issue",
    "cpu_mhz_done",
    "write_us",
    "gap_work_us",
)


def recorded_gap_work(value: Any) -> dict[str, str]:
    """The gap work a condition (info["gap_work"]) or a run (settings["gap_work"]) recorded, as
    trtpace.measure.gap_work.GapWork.to_json() wrote it: kind, spec and description. Where none was
    recorded (results written before gap work, or something unreadable) the gap was idle. Never
    parses the spec again: a JPEG spec would need an imaging library on the machine reading it."""
    idle = IDLE_GAP.to_json()
    if isinstance(value, str):  # a bare spec
        return idle if value in ("", "none") else {"kind": value.partition(":")[0], "spec": value, "description": value}
    if not isinstance(value, dict) or not isinstance(value.get("spec"), str) or value["spec"] in ("", "none"):
        return idle
    return {
        "kind": str(value.get("kind") or value["spec"].partition(":")[0]),
        "spec": value["spec"],
        "description": str(value.get("description") or value["spec"]),
    }


@dataclass
class ConditionResult:
    """One workload under one pacing: every inference's record, warm-up included and flagged."""

    workload: str
    pacing: Pacing
    wait: str
    sync: str
    warmup: int
    iterations: int
    # Column name to array (measure.records.RECORD_COLUMNS, from the core's column table). A mapping, not the
    # runner's structured array: a run's columns are views of that one array (measure.records.columns:
    # no copy), but results written before a column existed lack it (`"staged_ns" in records` must
    # say so, where a structured array's `in` compares values), files keep one array per column
    # (trtpace-sweep/1 unchanged), and callers replace or add a column (`records["device_us"] = ...`).
    records: dict[str, np.ndarray]
    status: str = "done"  # done | partial | lost
    device_timing: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    telemetry: dict[str, np.ndarray] = field(default_factory=dict)  # tel_* sample arrays
    clocks: str = "default"  # or "locked max", ... (sweep --lock-clocks)
    policy: str = ""  # the remedy policy's name (trtpace compare)
    run: int = 0  # which run of its results folder measured it: 0, then 1, 2, ... for each --append

    @property
    def count(self) -> int:
        return len(self.records.get("issue_ns", ()))

    @property
    def launch(self) -> str:
        """The launch path (trtpace.measure.launch): eager, python, replay, direct or graph; "" for host work."""
        return launch_of(self.info)

    @property
    def io(self) -> str:
        """The per-inference host copies around the inference (none, pinned or pageable)."""
        return str(self.info.get("io", "none"))

    @property
    def gap_work(self) -> dict[str, str]:
        """What ran at the end of each gap (trtpace.measure.gap_work): kind, spec and description;
        an idle gap for the continuous baseline and for results written before gap work."""
        return recorded_gap_work(self.info.get("gap_work"))

    @property
    def gap_work_spec(self) -> str:
        """The gap work as its spec ("busy:2ms", "jpeg:1280x720"); "none" for an idle gap."""
        return self.gap_work["spec"]

    @property
    def gpu_label(self) -> str:
        """The GPU worker of a multi-GPU run ("gpu0", "gpu2", "gpu0#2" for a second worker sharing
        GPU 0); "" for a run on one GPU."""
        gpu = self.info.get("gpu")
        return str(gpu.get("label") or "") if isinstance(gpu, dict) else ""

    @property
    def gpu_mode(self) -> str:
        """Multi-GPU runs: "together" (every GPU ran at once) or "alone"; "" otherwise."""
        return str(self.info.get("gpu_mode", ""))

    @property
    def gpu_group(self) -> tuple[str, str, int]:
        """GPU worker, together/alone and multi-GPU round: conditions compare only within one group."""
        r = self.info.get("gpu_round", 0)
        return self.gpu_label, self.gpu_mode, r if isinstance(r, int) else 0

    @property
    def is_warmup(self) -> np.ndarray:
        return np.arange(self.count) < self.warmup

    def column(self, metric: str, *, include_warmup: bool = False) -> np.ndarray:
        """A derived per-inference column (NaN where not measured).

        e2e_us counts from the issue in closed loop and from the due time in open loop;
        launch_us is GPU start (in-band probe) minus issue; inband_mhz the SM clock the probe
        measured (NaN for armed inferences: unverified there); nvml_sm_mhz the NVML sample taken last before the issue; cpu_mhz_issue and
        cpu_mhz_done the loop core's cpufreq frequency read last before the issue and first after
        the completion (sampled off the timed loop, so up to one sampling period away);
        write_us the host's write of the input after the gap (staged - issue; NaN where the
        workload writes none, or in results written before it was recorded); gap_work_us how
        long the gap work ran (NaN for an idle gap).
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
            # Armed inferences: on the H100 the probe read 0.3-0.99x of NVML's SM clock while their
            # device time matched continuous runs (lowest at 10 ms gaps, not understood), so the
            # reading stays in the records but is not reported as the SM clock.
            armed = np.asarray(r.get("armed_ns", np.zeros(self.count, dtype=np.int64))) > 0
            v = np.where(armed, np.nan, v)
        elif metric == "nvml_sm_mhz":
            v = self.joined("sm_mhz")
        elif metric in ("cpu_mhz_issue", "cpu_mhz_done"):
            v = self.cpu_mhz(after=metric == "cpu_mhz_done")
        elif metric == "write_us":
            staged = np.asarray(r.get("staged_ns", np.zeros(self.count, dtype=np.int64)))
            v = np.where(staged > 0, (staged - r["issue_ns"]) / 1e3, np.nan)
        elif metric == "gap_work_us":
            took = np.asarray(r.get("gap_work_ns", np.zeros(self.count, dtype=np.int64)))
            v = np.where(took > 0, took / 1e3, np.nan)
        else:
            raise KeyError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        return np.asarray(v if include_warmup else v[~self.is_warmup])

    def joined(self, telemetry_column: str) -> np.ndarray:
        """Per inference, the telemetry sample taken last before its issue (all inferences)."""
        t = self.telemetry.get("tel_t_ns")
        if t is None or t.size == 0:
            return np.full(self.count, np.nan)
        return join_before(t, self.telemetry[f"tel_{telemetry_column}"], self.records["issue_ns"])

    def cpu_mhz(self, *, after: bool) -> np.ndarray:
        """Per inference (all), the loop core's frequency before its issue or after its completion."""
        t = self.telemetry.get("tel_cpu_t_ns")
        if t is None or t.size == 0:
            return np.full(self.count, np.nan)
        khz = self.telemetry["tel_cpu_khz"]
        if after:
            return join_after(t, khz, self.records["done_ns"]) / 1e3
        return join_before(t, khz, self.records["issue_ns"]) / 1e3

    def window_ns(self) -> tuple[int, int] | None:
        """From the first measured issue to the last completion."""
        measured = ~self.is_warmup
        if not measured.any():
            return None
        return int(self.records["issue_ns"][measured][0]), int(self.records["done_ns"][measured][-1])

    def power_energy(self) -> dict[str, Any]:
        """Mean power and energy per inference over the measured window, from the telemetry."""
        out: dict[str, Any] = {
            "power_mean_w": math.nan,
            "energy_total_mj": None,
            "energy_per_inference_mj": math.nan,
            "energy_resolution_mj": ENERGY_RESOLUTION_MJ,
        }
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

    def sm_held_pct(self) -> float:
        """trtpace's own kernels outside the inferences (an armed kernel gate polling from arm to
        release, keep-warm and pre-warm fillers: one block on one SM each), as the time-average
        number of SMs they hold over the whole condition, in % of one SM. NaN when not recorded."""
        r = self.records
        if "filler_work_ns" not in self.info or not self.count:
            return math.nan
        held = float(self.info["filler_work_ns"])
        if self.info.get("armed_gate") == "kernel":
            armed = r["armed_ns"] > 0
            held += float((r["issue_ns"][armed] - r["armed_ns"][armed]).sum())
        wall = self.wall_ns()
        return 100 * held / wall if wall > 0 else math.nan

    def wall_ns(self) -> int:
        """From the first issue to the last completion, warm-up included (what CPU and SM shares divide by)."""
        r = self.records
        return int(r["done_ns"][-1] - r["issue_ns"][0]) if self.count else 0

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
            "launch": self.launch,
            "io": self.io,
            "gap_work": self.gap_work_spec,
            "run": self.run,
        }
