"""What a condition's `info` in sweep.json holds, as typed records: the workload's description with
its launch path, where it ran (placement), compare's tag, and what the run did and cost.

`split_info` reads an info object into them and `join_info` writes them back: the same JSON keys
a run wrote, in a fixed order. A key a record does not model, or a modelled key whose value has
another type (a hand-edited or newer file), stays in `extra` as read and is written back as
read: loading and saving loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

_TEXT = (str,)
_WHOLE = (int,)
_NUMBER = (int, float)
_OBJECT = (dict,)


class _Reader:
    """Takes the keys of one info object whose values have the type a record needs; what stays
    behind is `rest` (in the order read)."""

    def __init__(self, info: Mapping[str, Any]):
        self.rest = dict(info)

    def take(self, key: str, types: tuple[type, ...]) -> Any:
        value = self.rest.get(key)
        # bool is an int to Python, never to a count or a duration
        if value is None or not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return None
        return self.rest.pop(key)


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


@dataclass(frozen=True)
class WorkloadMeta:
    """What the workload said of itself (trtpace.measure.workloads.Workload.info): its kind
    (synthetic, host, torch, tensorrt, graph, ...), its launch path as recorded (see
    `ConditionResult.launch` for it in the one vocabulary), and its host I/O: the copies around
    each inference (--io: none, pinned, pageable) or, for TensorRT, its tensors. Its other keys
    (calibration, versions, engine, precision, ...) vary by kind and stay in the condition's
    `extra`. None: not recorded."""

    kind: str | None = None
    launch: str | None = None
    io: str | Mapping[str, Any] | None = None

    @property
    def copies(self) -> str:
        """The host copies around each inference; "none" where the workload makes none (a
        TensorRT workload's io describes its tensors instead)."""
        return self.io if isinstance(self.io, str) else "none"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        _put(out, "kind", self.kind)
        _put(out, "launch", self.launch)
        _put(out, "io", self.io)
        return out


@dataclass(frozen=True)
class GpuIdentity:
    """Which GPU a condition ran on (trtpace.platform.device.identity): CUDA index, UUID, PCI bus
    id, name and host (None where unknown, as for host work), and in a multi-GPU run its worker's
    label ("gpu0", "gpu0#2") and position. Keys this record does not know, and known keys read as
    null or as another type, stay in `extra` (written back in their place)."""

    index: int | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    name: str | None = None
    host: str | None = None
    label: str | None = None
    worker: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> GpuIdentity:
        r = _Reader(value)
        return cls(
            index=r.take("index", _WHOLE),
            uuid=r.take("uuid", _TEXT),
            pci_bus_id=r.take("pci_bus_id", _TEXT),
            name=r.take("name", _TEXT),
            host=r.take("host", _TEXT),
            label=r.take("label", _TEXT),
            worker=r.take("worker", _WHOLE),
            extra=r.rest,
        )

    def to_json(self) -> dict[str, Any]:
        # identity() writes its five keys even where unknown (null: kept in extra as read), a
        # worker's label and position only in a multi-GPU run; in that order, as written
        out: dict[str, Any] = {}
        for key in ("index", "uuid", "pci_bus_id", "name", "host", "label", "worker"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
            elif key in self.extra:
                out[key] = self.extra[key]
        out.update((k, v) for k, v in self.extra.items() if k not in out)
        return out


@dataclass(frozen=True)
class Placement:
    """Where a condition ran: its GPU (None: not recorded) and, in a multi-GPU run, whether every
    GPU ran at once ("together") or it ran "alone", and in which multi-GPU round."""

    gpu: GpuIdentity | None = None
    mode: str | None = None
    round: int | None = None

    @property
    def label(self) -> str:
        """The GPU worker of a multi-GPU run ("gpu0", "gpu0#2"); "" for a run on one GPU."""
        return (self.gpu.label or "") if self.gpu is not None else ""

    @property
    def worker(self) -> int:
        """The worker's position in a multi-GPU run (0 otherwise): the order its rows are shown in."""
        return (self.gpu.worker or 0) if self.gpu is not None else 0


@dataclass(frozen=True)
class CompareTag:
    """trtpace compare's tag on a condition: its round (0, 1, ...), its policy as
    trtpace.measure.policies.Policy.to_json() wrote it, and whether it ran on the --switch-to path."""

    round: int | None = None
    policy: Mapping[str, Any] | None = None
    switch: bool | None = None

    @property
    def policy_fields(self) -> Mapping[str, Any]:
        return self.policy or {}


@dataclass(frozen=True)
class RunStats:
    """What the paced loop did and cost (None: not recorded, as in results written before it).

    cpu_ns: all host CPU the condition cost (the cpu-awake spinner's included); loop_cpu_ns the
    loop's own; hybrid_margin_ns the hybrid wait's margin; fillers_fired and filler_work_ns the
    keep-warm and pre-warm fillers; prewarm_path where the pre-warm went; armed_gate and
    armed_choice how an armed launch was gated and why; cpu_awake, until_stable and host_cpu the
    summaries of those features (trtpace.run.session)."""

    hybrid_margin_ns: int | float | None = None
    cpu_ns: int | float | None = None
    loop_cpu_ns: int | float | None = None
    fillers_fired: int | None = None
    filler_work_ns: int | float | None = None
    prewarm_path: str | None = None
    armed_choice: str | None = None
    armed_gate: str | None = None
    cpu_awake: Mapping[str, Any] | None = None
    until_stable: Mapping[str, Any] | None = None
    host_cpu: Mapping[str, Any] | None = None


class InfoFields(TypedDict, total=False):
    """ConditionResult's fields that an info object fills (`ConditionResult(..., **split_info(d))`)."""

    workload_meta: WorkloadMeta
    placement: Placement
    compare_tag: CompareTag | None
    stats: RunStats
    gap_work_recorded: str | Mapping[str, Any] | None
    load_error: str | None
    extra: Mapping[str, Any]


def split_info(info: Mapping[str, Any]) -> InfoFields:
    """A condition's info object (sweep.json, or a workload's info) as typed records."""
    r = _Reader(info)
    meta = WorkloadMeta(kind=r.take("kind", _TEXT), launch=r.take("launch", _TEXT), io=r.take("io", (str, *_OBJECT)))
    gpu = r.take("gpu", _OBJECT)
    placement = Placement(
        gpu=GpuIdentity.from_json(gpu) if gpu is not None else None,
        mode=r.take("gpu_mode", _TEXT),
        round=r.take("gpu_round", _WHOLE),
    )
    tag = CompareTag(round=r.take("round", _WHOLE), policy=r.take("policy", _OBJECT), switch=r.take("switch", (bool,)))
    stats = RunStats(
        hybrid_margin_ns=r.take("hybrid_margin_ns", _NUMBER),
        cpu_ns=r.take("cpu_ns", _NUMBER),
        loop_cpu_ns=r.take("loop_cpu_ns", _NUMBER),
        fillers_fired=r.take("fillers_fired", _WHOLE),
        filler_work_ns=r.take("filler_work_ns", _NUMBER),
        prewarm_path=r.take("prewarm_path", _TEXT),
        armed_choice=r.take("armed_choice", _TEXT),
        armed_gate=r.take("armed_gate", _TEXT),
        cpu_awake=r.take("cpu_awake", _OBJECT),
        until_stable=r.take("until_stable", _OBJECT),
        host_cpu=r.take("host_cpu", _OBJECT),
    )
    return InfoFields(
        workload_meta=meta,
        placement=placement,
        compare_tag=None if tag == CompareTag() else tag,
        stats=stats,
        gap_work_recorded=r.take("gap_work", (str, *_OBJECT)),
        load_error=r.take("load_error", _TEXT),
        extra=r.rest,
    )


def join_info(
    meta: WorkloadMeta,
    placement: Placement,
    tag: CompareTag | None,
    stats: RunStats,
    gap_work: str | Mapping[str, Any] | None,
    load_error: str | None,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The info object of sweep.json, in the order a run writes it: the workload's keys (its own
    extra keys with them), compare's tag, the gap work, the GPU, what the run did, multi-GPU
    placement; a load error last."""
    out = meta.to_json()
    out.update(extra)
    if tag is not None:
        _put(out, "round", tag.round)
        _put(out, "policy", tag.policy)
        _put(out, "switch", tag.switch)
    _put(out, "gap_work", gap_work)
    if placement.gpu is not None:
        out["gpu"] = placement.gpu.to_json()
    for key in ("armed_choice", "armed_gate", "cpu_awake", "hybrid_margin_ns", "cpu_ns", "loop_cpu_ns"):
        _put(out, key, getattr(stats, key))
    for key in ("fillers_fired", "filler_work_ns", "prewarm_path", "until_stable", "host_cpu"):
        _put(out, key, getattr(stats, key))
    _put(out, "gpu_mode", placement.mode)
    _put(out, "gpu_round", placement.round)
    _put(out, "load_error", load_error)
    return out
