"""Jetson facts from a fake sysfs tree in a temporary folder."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
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


# -- INA3221 power rails (hwmon, JetPack 5/6) ------------------------------------------------------


def make_rails(root: Path, device: str, channels: dict[int, tuple[str, int, int]]) -> Path:
    """One INA3221 under the ina3221 driver: channel -> (label, mV, mA), and in7 (the shunt sum) as
    the kernel has it."""
    hw = root / "sys/bus/i2c/drivers/ina3221" / device / "hwmon" / f"hwmon{len(device)}"
    hw.mkdir(parents=True)
    for ch, (label, mv, ma) in channels.items():
        (hw / f"in{ch}_label").write_text(label + "\n")
        (hw / f"in{ch}_input").write_text(f"{mv}\n")
        (hw / f"curr{ch}_input").write_text(f"{ma}\n")
    (hw / "in7_label").write_text("sum of shunt voltages\n")
    (hw / "in7_input").write_text("1520\n")
    return hw


def agx_orin(root: Path) -> Path:
    hw = make_rails(
        root, "1-0040", {1: ("VDD_GPU_SOC", 5000, 1200), 2: ("VDD_CPU_CV", 5000, 400), 3: ("VIN_SYS_5V0", 5000, 700)}
    )
    make_rails(root, "1-0041", {1: ("NC", 0, 0), 2: ("VDDQ_VDD2_1V8AO", 5000, 100), 3: ("NC", 0, 0)})
    return hw


def test_power_rails_of_an_agx_orin(tmp_path: Path) -> None:
    agx_orin(tmp_path)
    rails = jetson.power_rails(tmp_path)
    assert [r.label for r in rails] == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"]
    assert [r.power_mw() for r in rails] == [6000.0, 2000.0, 3500.0, 500.0]
    found = jetson.gpu_power_rail(tmp_path)
    assert found is not None
    rail, kind = found
    assert rail.label == "VDD_GPU_SOC" and kind == "GPU with other parts on one rail"


@pytest.mark.parametrize(
    ("channels", "label", "kind"),
    [
        # Orin NX / Orin Nano: the module's input, CPU+GPU+CV, SoC
        (
            {1: ("VDD_IN", 5000, 1500), 2: ("VDD_CPU_GPU_CV", 5000, 600), 3: ("VDD_SOC", 5000, 300)},
            "VDD_CPU_GPU_CV",
            "GPU with other parts on one rail",
        ),
        # a rail of the GPU alone wins over a shared one and over the input (Nano, TX2 names)
        (
            {1: ("POM_5V_IN", 5000, 900), 2: ("POM_5V_GPU", 5000, 200), 3: ("POM_5V_CPU", 5000, 300)},
            "POM_5V_GPU",
            "GPU rail",
        ),
        ({1: ("VDD_IN", 5000, 900), 2: ("VDD_SOC", 5000, 200)}, "VDD_IN", "module input: no GPU rail"),
    ],
)
def test_which_rail_is_the_gpus(
    tmp_path: Path, channels: dict[int, tuple[str, int, int]], label: str, kind: str
) -> None:
    make_rails(tmp_path, "1-0040", channels)
    found = jetson.gpu_power_rail(tmp_path)
    assert found is not None and (found[0].label, found[1]) == (label, kind)


def test_no_rails(tmp_path: Path) -> None:
    make_tree(tmp_path)
    assert jetson.power_rails(tmp_path) == [] and jetson.gpu_power_rail(tmp_path) is None
    f = jetson.facts(tmp_path)
    assert f is not None and f["power_rails"] == []
    # rails with no GPU rail and no input rail: nothing to call the GPU's power
    make_rails(tmp_path, "1-0040", {1: ("VDD_SOC", 5000, 200)})
    assert jetson.gpu_power_rail(tmp_path) is None


def test_missing_and_unreadable_rail_files(tmp_path: Path) -> None:
    hw = agx_orin(tmp_path)
    (hw / "curr3_input").unlink()  # a channel without its current file is no rail
    assert "VIN_SYS_5V0" not in [r.label for r in jetson.power_rails(tmp_path)]
    (hw / "in1_input").unlink()
    (hw / "in1_input").mkdir()  # there but unreadable (a directory reads as EISDIR, even for root)
    rail = jetson.power_rails(tmp_path)[0]
    with pytest.raises(OSError, match=r"^cannot read .*in1_input: missing or unreadable$"):
        rail.power_mw()
    (hw / "curr2_input").write_text("n/a\n")
    with pytest.raises(OSError, match=r"curr2_input: 'n/a'$"):
        jetson.power_rails(tmp_path)[1].power_mw()
    # neither GPU-named rail reads: the GPU's power is not claimed from another one
    assert jetson.gpu_power_rail(tmp_path) is None
    (hw / "curr2_input").write_text("300\n")
    make_rails(tmp_path, "2-0040", {1: ("VDD_IN", 5000, 2000)})
    found = jetson.gpu_power_rail(tmp_path)
    assert found is not None and found[0].label == "VDD_IN"  # the unreadable GPU rail is passed over


def test_jetson_source_reports_power_and_energy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path)
    hw = agx_orin(tmp_path)
    node = jetson.find_gpu_devfreq(tmp_path)
    assert node is not None
    src = telemetry.JetsonSource(node, jetson.gpu_power_rail(tmp_path))
    assert src.power_source == "INA3221 VDD_GPU_SOC (GPU with other parts on one rail)"
    assert src.energy_source == "integrated from the power samples"
    clock = iter([1_000_000_000, 1_500_000_000, 2_500_000_000])  # the good reads' times
    monkeypatch.setattr(telemetry.time, "monotonic_ns", lambda: next(clock))
    power = telemetry.COLUMNS.index("power_mw") - 1
    energy = telemetry.COLUMNS.index("energy_mj") - 1
    row = src.read()
    assert (row[0], row[power], row[energy]) == (306.0, 6000.0, 0.0)
    (hw / "curr1_input").write_text("600\n")
    row = src.read()  # 0.5 s from 6 W to 3 W: 2250 mJ
    assert (row[power], row[energy]) == (3000.0, 2250.0)
    (hw / "curr1_input").unlink()  # a read that fails is NaN for that tick; the clock is still read
    row = src.read()
    assert row[0] == 306.0 and math.isnan(row[power]) and math.isnan(row[energy])
    (hw / "curr1_input").write_text("600\n")
    row = src.read()  # integrated across the failed tick: 1 s at 3 W since the last good read
    assert (row[power], row[energy]) == (3000.0, 5250.0)


def test_jetson_sampler_describes_its_power(tmp_path: Path) -> None:
    make_tree(tmp_path)
    agx_orin(tmp_path)
    node = jetson.find_gpu_devfreq(tmp_path)
    assert node is not None
    s = telemetry.Sampler(telemetry.JetsonSource(node, jetson.gpu_power_rail(tmp_path)), rate_hz=100.0)
    d = s.describe()
    assert d["power_source"].startswith("INA3221 VDD_GPU_SOC") and d["energy_source"]
    assert "power_mw" not in d["unsupported"] and "temp_c" in d["unsupported"]
    assert d["strides"]["sm_mhz"] == 1 and d["strides"]["power_mw"] >= 1
    with s:
        time.sleep(0.1)
    w = s.window(0, time.monotonic_ns())
    assert np.nanmax(w["tel_power_mw"]) == 6000.0 and np.nanmax(w["tel_energy_mj"]) > 0
    bare = telemetry.Sampler(telemetry.JetsonSource(node), rate_hz=100.0).describe()
    assert bare["power_source"] is None and {"power_mw", "energy_mj"} <= set(bare["unsupported"])
