"""One condition's results: every inference's record, derived columns and their statistics."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from trtpace.measure.gap_work import NONE as IDLE_GAP
from trtpace.measure.host_cpu import join_after
from trtpace.measure.launch import launch_of
from trtpace.measure.pacing import Pacing
from trtpace.measure.telemetry import ENERGY_RESOLUTION_MJ, join_before
from trtpace.results.info import CompareTag, Placement, RunStats, WorkloadMeta, join_info
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


KeyField = Literal[
    "workload",
    "pacing",
    "wait",
    "sync",
    "clocks",
    "policy",
    "launch",
    "io",
    "gap_work",
    "gpu_label",
    "gpu_mode",
    "gpu_round",
    "run",
]


@dataclass(frozen=True)
class ConditionKey:
    """What a condition is, as one comparable and hashable value (`ConditionResult.key()`); a field
    left out of the comparison is None."""

    workload: str | None
    pacing: Pacing | None
    wait: str | None
    sync: str | None
    clocks: str | None
    policy: str | None
    launch: str | None
    io: str | None
    gap_work: str | None  # its spec ("none": an idle gap)
    gpu_label: str | None
    gpu_mode: str | None
    gpu_round: int | None
    run: int | None


KEY_FIELDS: tuple[KeyField, ...] = tuple(f.name for f in fields(ConditionKey))  # type: ignore[misc]
_IDLE_STATS = RunStats()
# What summaries and derived columns are computed from: a change to any of them (an attribute
# set again, a records or telemetry array replaced) empties the condition's cache.
_CACHE_INPUTS = frozenset({"records", "telemetry", "pacing", "warmup", "stats"})


@dataclass
class ConditionResult:
    """One workload under one pacing: every inference's record, warm-up included and flagged.

    What sweep.json's `info` holds is typed (trtpace.results.info): `workload_meta` (kind, launch
    path, host I/O), `placement` (GPU, multi-GPU mode and round), `compare_tag` (compare's round,
    policy, switch), `stats` (what the loop did and cost), the gap work as recorded, a load
    error, and `extra` (every other key, kept as read and written back). `info` reads them as the
    one JSON object again.

    Summaries and derived columns are computed once and kept until the records, telemetry,
    pacing, warm-up or stats change (a condition is filled in while its run goes, then read many
    times by reports)."""

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
    telemetry: dict[str, np.ndarray] = field(default_factory=dict)  # tel_* sample arrays
    clocks: str = "default"  # or "locked max", ... (sweep --lock-clocks)
    policy: str = ""  # the remedy policy's name (trtpace compare)
    run: int = 0  # which run of its results folder measured it: 0, then 1, 2, ... for each --append
    workload_meta: WorkloadMeta = field(default_factory=WorkloadMeta)
    placement: Placement = field(default_factory=Placement)
    compare_tag: CompareTag | None = None
    stats: RunStats = _IDLE_STATS
    gap_work_recorded: str | Mapping[str, Any] | None = None  # as GapWork.to_json() wrote it
    load_error: str | None = None  # why it loaded without records (lost, corrupt)
    extra: Mapping[str, Any] = field(default_factory=dict)
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _cache_basis: tuple[Any, ...] = field(default=(), init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CACHE_INPUTS and "_cache" in self.__dict__:
            self._cache.clear()
        object.__setattr__(self, name, value)

    def _cached(self, key: Any, compute: Any) -> Any:
        """`compute()` once per `key` while the inputs stay the very same objects: an array put
        into records or telemetry in place of another (the dicts are not frozen) empties it too."""
        basis = (*self.records.values(), None, *self.telemetry.values())
        same = len(basis) == len(self._cache_basis) and all(
            a is b for a, b in zip(basis, self._cache_basis, strict=True)
        )
        if not same:
            self._cache.clear()
            object.__setattr__(self, "_cache_basis", basis)
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def __getstate__(self) -> dict[str, Any]:
        # a condition crossing processes (multi-GPU workers) travels without its cache: it is
        # recomputed where it is read
        return {k: v for k, v in self.__dict__.items() if k not in ("_cache", "_cache_basis")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _cache={}, _cache_basis=())

    @property
    def info(self) -> Mapping[str, Any]:
        """The info object of sweep.json, read-only (for code written against the untyped dict of
        earlier releases; set the typed fields instead)."""
        return MappingProxyType(self.info_json())

    def info_json(self) -> dict[str, Any]:
        """The info object as sweep.json holds it: the keys a run wrote, extra keys kept."""
        return join_info(
            self.workload_meta,
            self.placement,
            self.compare_tag,
            self.stats,
            self.gap_work_recorded,
            self.load_error,
            self.extra,
        )

    def key(self, *, ignoring: Collection[KeyField] = (), only: Collection[KeyField] | None = None) -> ConditionKey:
        """What this condition is: workload, pacing, wait, sync, clocks, policy, launch path, host
        I/O, gap work, GPU worker, multi-GPU mode and round, and run of its folder. Fields in
        `ignoring`, or not in `only`, are None: two conditions that differ only there compare equal
        (a baseline ignores pacing and gap work; pooling rounds ignores the GPU's mode)."""
        drop = set(ignoring) if only is None else set(KEY_FIELDS) - set(only)
        unknown = drop - set(KEY_FIELDS)
        if unknown:
            raise KeyError(f"unknown key field(s) {', '.join(sorted(unknown))}; expected {', '.join(KEY_FIELDS)}")
        full = ConditionKey(
            workload=self.workload,
            pacing=self.pacing,
            wait=self.wait,
            sync=self.sync,
            clocks=self.clocks,
            policy=self.policy,
            launch=self.launch,
            io=self.io,
            gap_work=self.gap_work_spec,
            gpu_label=self.gpu_label,
            gpu_mode=self.gpu_mode,
            gpu_round=self.placement.round or 0,
            run=self.run,
        )
        return replace(full, **dict.fromkeys(drop)) if drop else full

    @property
    def count(self) -> int:
        return len(self.records.get("issue_ns", ()))

    @property
    def launch(self) -> str:
        """The launch path (trtpace.measure.launch): eager, python, replay, direct or graph; "" for host work."""
        return launch_of({"launch": self.workload_meta.launch, "kind": self.workload_meta.kind})

    @property
    def io(self) -> str:
        """The per-inference host copies around the inference (none, pinned or pageable); a
        TensorRT workload's tensors, in words."""
        io = self.workload_meta.io
        return "none" if io is None else str(dict(io) if isinstance(io, Mapping) else io)

    @property
    def copies(self) -> str:
        """The host copies around each inference (--io); "none" for a workload that makes none."""
        return self.workload_meta.copies

    @property
    def gap_work(self) -> dict[str, str]:
        """What ran at the end of each gap (trtpace.measure.gap_work): kind, spec and description;
        an idle gap for the continuous baseline and for results written before gap work."""
        return recorded_gap_work(self.gap_work_recorded)

    @property
    def gap_work_spec(self) -> str:
        """The gap work as its spec ("busy:2ms", "jpeg:1280x720"); "none" for an idle gap."""
        return self.gap_work["spec"]

    @property
    def gpu_label(self) -> str:
        """The GPU worker of a multi-GPU run ("gpu0", "gpu2", "gpu0#2" for a second worker sharing
        GPU 0); "" for a run on one GPU."""
        return self.placement.label

    @property
    def gpu_mode(self) -> str:
        """Multi-GPU runs: "together" (every GPU ran at once) or "alone"; "" otherwise."""
        return self.placement.mode or ""

    @property
    def gpu_group(self) -> tuple[str, str, int]:
        """GPU worker, together/alone and multi-GPU round: conditions compare only within one group."""
        return self.gpu_label, self.gpu_mode, self.placement.round or 0

    @property
    def round(self) -> int | None:
        """Compare's round (0, 1, ...); None outside a compare."""
        return self.compare_tag.round if self.compare_tag is not None else None

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

        Computed once (read-only: the array is shared by every later caller).
        """
        if metric not in METRICS:
            raise KeyError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        column: np.ndarray = self._cached(
            ("column", metric, include_warmup), lambda: self._column(metric, include_warmup)
        )
        return column

    def summarized(self, metric: str) -> dict[str, Any]:
        """summarize() of the measured `metric` column (trtpace.results.stats), computed once."""
        out: dict[str, Any] = self._cached(("summary", metric), lambda: summarize(self.column(metric)))
        return out

    def _column(self, metric: str, include_warmup: bool) -> np.ndarray:
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
        out = np.array(v if include_warmup else v[~self.is_warmup])
        out.flags.writeable = False
        return out

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
        if self.stats.filler_work_ns is None or not self.count:
            return math.nan
        held = float(self.stats.filler_work_ns)
        wall = self.wall_ns()
        if self.stats.armed_gate == "kernel":
            armed = r["armed_ns"] > 0
            held += float((r["issue_ns"][armed] - r["armed_ns"][armed]).sum())
        elif self.stats.armed_gate == "resident":  # the loop's gate polls the whole run
            held += wall
        return 100 * held / wall if wall > 0 else math.nan

    def wall_ns(self) -> int:
        """From the first issue to the last completion, warm-up included (what CPU and SM shares divide by)."""
        r = self.records
        return int(r["done_ns"][-1] - r["issue_ns"][0]) if self.count else 0

    def summary(self) -> dict[str, Any]:
        """Every metric's summary and the power and energy, as sweep.json and --json hold them
        (a new dict each call over the summaries computed once)."""
        telemetry: dict[str, Any] = self._cached("power_energy", self.power_energy)
        return {**{m: dict(self.summarized(m)) for m in METRICS}, "telemetry": dict(telemetry)}

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
            "info": self.info_json(),
            "clocks": self.clocks,
            "policy": self.policy,
            "launch": self.launch,
            "io": self.io,
            "gap_work": self.gap_work_spec,
            "run": self.run,
        }
