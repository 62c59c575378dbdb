"""Jetson facts from a fake sysfs tree in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from trtpace.measure import telemetry
from trtpace.platform import jetson


def make_tree(root: Path, node: str = "17000000.gpu", of_name: str = "gpu") -> Path:
    base = root / "sys/class/devfreq"
    other = base / "soc-dvfs"
    (other / "device/of_node").mkdir(parents=True)
    (other / "device/of_node/name").write_text("emc\x00")
    d = base / node
    (d / "device/of_node").mkdir(parents=True)
    (d / "device/of_node/name").write_text(of_name + "\x00")
    (d / "cur_freq").write_text("306000000\n")
    (d / "min_freq").write_text("306000000\n")
    (d / "max_freq").write_text("1300500000\n")
    (d / "available_frequencies").write_text("306000000 612000000 918000000 1300500000\n")
    (d / "governor").write_text("nvhost_podgov\n")
    (d / "device/railgate_enable").write_text("1\n")
    (root / "var/lib/nvpmodel").mkdir(parents=True)
    (root / "var/lib/nvpmodel/status").write_text("pmode:0002\n")
    (root / "etc").mkdir()
    (root / "etc/nvpmodel.conf").write_text("< POWER_MODEL ID=0 NAME=MAXN >\n< POWER_MODEL ID=2 NAME=30W >\n")
    return d


@pytest.mark.parametrize(
    ("node", "of_name"), [("17000000.gpu", "gpu"), ("17000000.ga10b", "ga10b"), ("gpu-gpc-0", "gpu-gpc-0")]
)
def test_finds_the_gpu_node(tmp_path: Path, node: str, of_name: str) -> None:
    d = make_tree(tmp_path, node, of_name)
    found = jetson.find_gpu_devfreq(tmp_path)
    assert found is not None and found.path == d


def test_reads_frequencies_in_hz(tmp_path: Path) -> None:
    make_tree(tmp_path)
    f = jetson.facts(tmp_path)
    assert f is not None
    g = f["gpu_devfreq"]
    assert (g["cur_mhz"], g["min_mhz"], g["max_mhz"]) == (306.0, 306.0, 1300.5)
    assert g["available_mhz"] == [306.0, 612.0, 918.0, 1300.5]
    assert g["governor"] == "nvhost_podgov" and g["railgate"] is True
    assert f["nvpmodel"] == {"id": 2, "name": "30W"}
    assert f["emc_rate_hz"] is None


def test_not_a_jetson(tmp_path: Path) -> None:
    assert jetson.find_gpu_devfreq(tmp_path) is None and jetson.facts(tmp_path) is None


def test_jetson_telemetry_source(tmp_path: Path) -> None:
    d = make_tree(tmp_path)
    src = telemetry.JetsonSource(jetson.find_gpu_devfreq(tmp_path))
    assert src.read()[0] == 306.0
    (d / "cur_freq").write_text("918000000\n")
    assert src.read()[0] == 918.0
