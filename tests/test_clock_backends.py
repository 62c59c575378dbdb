"""The clock backends behind one protocol (backend.py): the registry names every backend a record
may carry, each class keeps to the protocol, the records each one starts pass the checks state.py
applies when reading them back, and an unknown backend is refused in one line."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from test_jetson import make_tree
from trtpace.platform import clocks, jetson
from trtpace.platform.clocks import nvidia, tegra
from trtpace.platform.clocks import state as state_files
from trtpace.platform.clocks.backend import ClockBackend

KEY = "00000000:3B:00.0"


def test_the_registry_has_one_class_per_record_backend() -> None:
    assert tuple(clocks.REGISTRY) == state_files.BACKENDS == ("nvml", "nvidia-smi", "jetson", "jetson_clocks")
    assert list(clocks.REGISTRY.values()) == [
        nvidia.NvmlClocks,
        nvidia.NvidiaSmiClocks,
        tegra.DevfreqClocks,
        tegra.JetsonClocks,
    ]
    for name, cls in clocks.REGISTRY.items():
        assert cls.name == name


@pytest.mark.parametrize("cls", list(clocks.REGISTRY.values()), ids=list(clocks.REGISTRY))
def test_every_backend_keeps_to_the_protocol(cls: type[ClockBackend]) -> None:
    members = {n for n in vars(ClockBackend) if not n.startswith("_")} | set(ClockBackend.__annotations__)
    assert members == {"name", "key", "plan_lines", "initial_record", "apply", "restore"}
    for member in members:
        assert hasattr(cls, member), f"{cls.__name__} lacks {member}"
    for method in ("plan_lines", "initial_record", "apply"):
        assert inspect.isfunction(getattr(cls, method))
    # restore works from the record alone: called on the class, no lock request needed
    assert inspect.ismethod(cls.restore) and cls.restore.__self__ is cls


@pytest.mark.parametrize("backend", ["sh", "NVML", "nvml ", "jetson-clocks"])
def test_an_unknown_backend_is_refused_in_one_line(backend: str) -> None:
    st = state_files.ClockState(key=KEY, backend=backend, sm_mhz=[1980, 1980])
    with pytest.raises(clocks.ClockError) as e:
        clocks.backend_of(st)
    assert str(e.value) == f"refused to restore {KEY}: unknown backend {backend!r}"
    with pytest.raises(clocks.ClockError, match="unknown backend") as e:
        clocks._restore(st)
    assert len(str(e.value).splitlines()) == 1


def _round_trip(st: state_files.ClockState) -> state_files.ClockState:
    return state_files.parse(st.to_json())


def test_nvml_request_starts_an_nvml_record(fake) -> None:
    (lock,) = clocks.plan("max", "max", gpu=0).locks
    assert isinstance(lock, nvidia.NvmlClocks) and lock.key == KEY
    st = lock.initial_record()
    assert st.backend == "nvml" and st.key == KEY and st.sm_mhz == [1980, 1980] and st.mem_mhz == [2619, 2619]
    assert _round_trip(st).target() == st.target()
    assert lock.plan_lines()[0] == f"Fake GPU ({KEY}):"
    fake.nvmlDeviceSetGpuLockedClocks.assert_not_called()


def test_jetson_requests_start_records_state_py_accepts(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    node_dir = make_tree(root)
    monkeypatch.setenv("TRTPACE_SYSFS_ROOT", str(root))
    node = jetson.find_gpu_devfreq(root)
    assert node is not None
    devfreq = tegra.DevfreqClocks(node, "max")
    st = devfreq.initial_record()
    assert st.backend == "jetson" and st.key == devfreq.key == f"jetson:{node_dir}"
    assert _round_trip(st).saved == st.saved
    assert devfreq.plan_lines()[0].startswith(f"Jetson GPU ({node_dir}): write 1300500000 to min_freq")
    with pytest.raises(clocks.ClockError, match="on Jetson, --sm takes max"):
        tegra.DevfreqClocks(node, "fast").initial_record()

    jc = tegra.JetsonClocks()
    st = jc.initial_record()
    assert st.backend == "jetson_clocks" and st.key == jc.key == state_files.JETSON_CLOCKS_KEY
    assert _round_trip(st).saved == {"store_file": str(state_files.jetson_clocks_store())}
    assert str(state_files.jetson_clocks_store()) in jc.plan_lines()[0]
    assert (node_dir / "min_freq").read_text().strip() == "306000000"  # planning changed nothing


def test_nvidia_smi_records_are_released_through_nvidia_smi(
    fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "smi.log"
    (bin_dir / "nvidia-smi").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (bin_dir / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    st = state_files.ClockState(key=KEY, backend="nvidia-smi", sm_mhz=[1980, 1980], mem_mhz=[2619, 2619])
    clocks.backend_of(st).restore(st)
    assert log.read_text().splitlines() == [f"-i {KEY} -rgc", f"-i {KEY} -rmc"]
    fake.nvmlDeviceResetGpuLockedClocks.assert_not_called()
    clocks.backend_of(st := state_files.ClockState(key=KEY, backend="nvml", sm_mhz=[1980, 1980])).restore(st)
    fake.nvmlDeviceResetGpuLockedClocks.assert_called_once()
    fake.nvmlDeviceResetMemoryLockedClocks.assert_not_called()
