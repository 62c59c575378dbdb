"""The typed condition model: info read into records and written back unchanged, extra keys
kept, one identity key, summaries computed once and recomputed when the records change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from trtpace.fileio import dumps
from trtpace.measure import pacing
from trtpace.results import (
    CompareTag,
    ConditionResult,
    GpuIdentity,
    Placement,
    RunStats,
    SweepResult,
    load,
    save,
    split_info,
)

DATA = Path(__file__).parent / "data" / "h100-sweep"

# What a multi-GPU compare round writes (trtpace.run.compare, session and workers), plus keys a
# newer trtpace might add and a known key whose value has another type (a hand-edited file).
WRITTEN = {
    "kind": "synthetic",
    "launch": "graph",
    "calibration": {"us": 100.0, "kernels": 4},
    "from_the_future": [1, {"a": None}],
    "round": 1,
    "policy": {"name": "armed", "armed_gate": "kernel"},
    "switch": True,
    "gap_work": {"kind": "busy", "spec": "busy:2ms", "description": "busy CPU work for 2 ms"},
    "gpu": {
        "index": 0,
        "uuid": "GPU-1",
        "pci_bus_id": "0000:01:00.0",
        "name": "H100",
        "host": "box",
        "label": "gpu0",
        "worker": 1,
        "numa": 3,
    },
    "armed_choice": "armed: the kernel gate",
    "armed_gate": "kernel",
    "cpu_awake": {"core": 2, "cpu_ns": 5},
    "hybrid_margin_ns": 200000,
    "cpu_ns": 123,
    "loop_cpu_ns": 100,
    "fillers_fired": 7,
    "filler_work_ns": 4000,
    "prewarm_path": "filler",
    "until_stable": {"target": 0.02, "stopped": True, "measured": 40},
    "host_cpu": {"core": 1, "idle": {"C6": {"residency_pct": 80.0}}},
    "gpu_mode": "together",
    "gpu_round": 2,
}


def _condition(**fields: object) -> ConditionResult:
    n = 20
    issue = np.arange(n, dtype=np.int64) * 1_000_000
    records = {
        "due_ns": issue,
        "issue_ns": issue,
        "submitted_ns": issue + 1000,
        "done_ns": issue + 100_000,
        "device_us": np.full(n, 50.0),
    }
    return ConditionResult("tiny", pacing.gap(0.001), "spin", "spin", 2, n - 2, records, **fields)  # type: ignore[arg-type]


def test_info_is_read_into_typed_records() -> None:
    c = _condition(**split_info(WRITTEN))
    assert c.workload_meta.kind == "synthetic" and c.launch == "graph"
    assert c.placement == Placement(
        gpu=GpuIdentity(0, "GPU-1", "0000:01:00.0", "H100", "box", "gpu0", 1), mode="together", round=2
    )
    assert c.placement.gpu is not None and c.placement.gpu.extra == {"numa": 3}
    assert c.gpu_group == ("gpu0", "together", 2) and c.placement.worker == 1
    assert c.compare_tag == CompareTag(round=1, policy={"name": "armed", "armed_gate": "kernel"}, switch=True)
    assert c.stats.cpu_ns == 123 and c.stats.fillers_fired == 7 and c.stats.prewarm_path == "filler"
    assert c.gap_work_spec == "busy:2ms"
    assert dict(c.extra) == {"calibration": {"us": 100.0, "kernels": 4}, "from_the_future": [1, {"a": None}]}


def test_info_is_written_back_as_read_keys_and_order() -> None:
    c = _condition(**split_info(WRITTEN))
    assert json.dumps(c.info_json()) == json.dumps(WRITTEN)
    assert dict(c.info) == WRITTEN
    with pytest.raises(TypeError):
        c.info["round"] = 3  # type: ignore[index]  # read-only: a write there would be lost


def test_a_value_of_another_type_stays_as_read() -> None:
    odd = {"kind": "host", "launch": None, "cpu_ns": "lots", "fillers_fired": True, "gpu": {"index": "0"}}
    c = _condition(**split_info(odd))
    assert c.stats.cpu_ns is None and c.stats.fillers_fired is None and c.launch == ""
    assert c.info_json() == odd


def test_files_on_disk_load_and_save_with_the_same_info(tmp_path: Path) -> None:
    doc = json.loads((DATA / "sweep.json").read_text())
    result = load(DATA)
    copy = save(result, tmp_path / "copy")
    saved = json.loads((copy / "sweep.json").read_text())
    for before, after in zip(doc["conditions"], saved["conditions"], strict=True):
        assert dumps(after["info"]) == dumps(before["info"])


def test_extra_keys_survive_a_load_and_save(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(DATA, folder)
    doc = json.loads((folder / "sweep.json").read_text())
    doc["conditions"][0]["info"]["from_the_future"] = {"x": [1, 2]}
    (folder / "sweep.json").write_text(json.dumps(doc))
    loaded = load(folder)
    assert loaded.conditions[0].extra["from_the_future"] == {"x": [1, 2]}
    again = json.loads((save(loaded, tmp_path / "copy") / "sweep.json").read_text())
    assert again["conditions"][0]["info"]["from_the_future"] == {"x": [1, 2]}


def test_key_ignores_what_it_is_told_to() -> None:
    a = _condition(placement=Placement(gpu=GpuIdentity(label="gpu0"), mode="alone", round=0))
    b = _condition(placement=Placement(gpu=GpuIdentity(label="gpu0"), mode="together", round=1))
    assert a.key() != b.key()
    assert a.key(ignoring=("gpu_mode", "gpu_round")) == b.key(ignoring=("gpu_mode", "gpu_round"))
    assert a.key(only=("workload", "gpu_label")) == b.key(only=("workload", "gpu_label"))
    assert a.key(only=("workload",)).pacing is None and a.key(only=("workload",)).workload == "tiny"
    assert len({a.key(), b.key(), a.key()}) == 2  # hashable: a dictionary key
    with pytest.raises(KeyError, match="unknown key field"):
        a.key(ignoring=("colour",))  # type: ignore[arg-type]


def test_baseline_is_found_by_the_key_of_everything_but_pacing_and_gap_work() -> None:
    base = _condition()
    base.pacing = pacing.gap(0.0)
    other_run = _condition()
    other_run.pacing, other_run.run = pacing.gap(0.0), 1
    gap = _condition(gap_work_recorded="busy:2ms")
    result = SweepResult([other_run, base, gap])
    assert result.baseline(gap) is base


def test_summary_is_computed_once_and_again_after_the_records_change() -> None:
    c = _condition()
    first = c.column("e2e_us")
    assert c.column("e2e_us") is first and not first.flags.writeable
    assert c.summary()["e2e_us"]["p50"] == pytest.approx(100.0)
    c.records["done_ns"] = c.records["done_ns"] + 100_000  # an array replaced in the dict
    assert c.summary()["e2e_us"]["p50"] == pytest.approx(200.0)
    c.records = {**c.records, "done_ns": c.records["issue_ns"] + 50_000}  # the dict replaced
    assert c.summarized("e2e_us")["p50"] == pytest.approx(50.0)
    c.warmup = 0
    assert c.summarized("e2e_us")["n"] == 20
    c.stats = RunStats(cpu_ns=1)  # not an input of the columns, but cleared all the same
    assert c.summarized("e2e_us")["n"] == 20


def test_a_summary_handed_out_cannot_change_the_cached_one() -> None:
    c = _condition()
    s = c.summary()
    s["e2e_us"]["p50"] = -1.0
    assert c.summary()["e2e_us"]["p50"] == pytest.approx(100.0)


def test_a_condition_pickles_without_its_cache() -> None:
    import pickle

    c = _condition(**split_info(WRITTEN))
    c.summary()
    copy = pickle.loads(pickle.dumps(c))
    assert copy._cache == {} and copy.info_json() == c.info_json()
    assert copy.summary() == c.summary() or np.isnan(copy.summary()["inband_mhz"]["p50"])
