"""Jetson GPU facts from sysfs: the GPU's devfreq node, the EMC clock, the nvpmodel mode, the
INA3221 power rails.

Every path is read under `root` (default "/"), so tests run against a fake tree.

Power rails (JetPack 5 and 6, L4T 35/36; the files jetson-stats reads): each INA3221 monitor is a
hwmon device, sys/bus/i2c/drivers/ina3221/<bus>-<addr>/hwmon/hwmonN/, with channels 1 to 3 as
inK_label (the rail's name), inK_input (bus voltage, mV) and currK_input (current, mA); power is
their product. in7 is the sum of the shunt voltages (no rail), and unconnected channels are
labelled NC. The rails differ by module (NVIDIA's Jetson Linux developer guide, the Orin power
and performance page; not checked on a module here): the AGX Orin has VDD_GPU_SOC (GPU and SoC
together), VDD_CPU_CV and VIN_SYS_5V0 at 1-0040; the Orin NX and Orin Nano VDD_IN (the module's
input), VDD_CPU_GPU_CV and VDD_SOC (as the Xavier NX); older modules a rail of the GPU alone (TX2
VDD_SYS_GPU, Nano POM_5V_GPU, AGX Xavier GPU). JetPack 4's ina3221x driver (iio, rail_name_K) is
not read: trtpace does not run there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# of_node names of Jetson GPUs: TX2, Xavier, Orin, later parts, newer kernels, Thor.
GPU_NODE_NAMES = ("gp10b", "gv11b", "ga10b", "gb10b", "gpu", "gpu-gpc-0")


# Rails of the GPU alone; rails whose name holds GPU with other parts; the module's input.
GPU_RAILS = ("VDD_GPU", "GPU", "VDD_SYS_GPU", "POM_5V_GPU")
TOTAL_RAILS = ("VDD_IN", "POM_5V_IN")
INA3221_DIR = "sys/bus/i2c/drivers/ina3221"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().replace("\x00", "").strip()
    except OSError:
        return None


@dataclass(frozen=True)
class Devfreq:
    """A devfreq node: frequencies in Hz, as sysfs gives them."""

    path: Path

    def _int(self, name: str) -> int:
        value = _read(self.path / name)
        if value is None:
            raise OSError(f"cannot read {self.path / name}")
        return int(value)

    def cur_hz(self) -> int:
        return self._int("cur_freq")

    def min_hz(self) -> int:
        return self._int("min_freq")

    def max_hz(self) -> int:
        return self._int("max_freq")

    def available_hz(self) -> list[int]:
        return sorted(int(v) for v in (_read(self.path / "available_frequencies") or "").split())

    def governor(self) -> str | None:
        return _read(self.path / "governor")

    def railgate_enabled(self) -> bool | None:
        v = _read(self.path / "device" / "railgate_enable")
        return None if v is None else v == "1"

    def facts(self) -> dict[str, Any]:
        return {
            "node": str(self.path),
            "cur_mhz": self.cur_hz() / 1e6,
            "min_mhz": self.min_hz() / 1e6,
            "max_mhz": self.max_hz() / 1e6,
            "available_mhz": [f / 1e6 for f in self.available_hz()],
            "governor": self.governor(),
            "railgate": self.railgate_enabled(),
        }


def find_gpu_devfreq(root: str | Path = "/") -> Devfreq | None:
    """The GPU's devfreq node, found by its device-tree name as jetson_clocks and jtop do."""
    base = Path(root) / "sys/class/devfreq"
    if not base.is_dir():
        return None
    for node in sorted(base.iterdir()):
        name = _read(node / "device" / "of_node" / "name")
        if name in GPU_NODE_NAMES or node.name in GPU_NODE_NAMES:
            return Devfreq(node)
    return None


def emc_rate_hz(root: str | Path = "/") -> int | None:
    """The memory controller clock where readable (debugfs, root only)."""
    v = _read(Path(root) / "sys/kernel/debug/bpmp/debug/clk/emc/rate")
    return int(v) if v and v.isdigit() else None


def nvpmodel_mode(root: str | Path = "/") -> dict[str, Any] | None:
    """The active nvpmodel mode: its id from /var/lib/nvpmodel/status, its name from /etc/nvpmodel.conf."""
    status = _read(Path(root) / "var/lib/nvpmodel/status")
    if not status or ":" not in status:
        return None
    mode_id = int(status.split(":", 1)[1])
    name = None
    for line in (_read(Path(root) / "etc/nvpmodel.conf") or "").splitlines():
        line = line.strip()
        if line.startswith("< POWER_MODEL") and f"ID={mode_id} " in line + " ":
            name = line.split("NAME=", 1)[1].split()[0].rstrip(">") if "NAME=" in line else None
    return {"id": mode_id, "name": name}


@dataclass(frozen=True)
class PowerRail:
    """One INA3221 channel: its label and the hwmon files of its bus voltage (mV) and current (mA)."""

    label: str
    voltage_path: Path
    current_path: Path

    def power_mw(self) -> float:
        """The rail's power now, mV x mA / 1000; OSError where a file is missing or not a number."""
        values = []
        for path in (self.voltage_path, self.current_path):
            text = _read(path)
            try:
                values.append(int(text or ""))
            except ValueError:
                raise OSError(
                    f"cannot read {path}: {'missing or unreadable' if text is None else repr(text)}"
                ) from None
        return values[0] * values[1] / 1000


def power_rails(root: str | Path = "/") -> list[PowerRail]:
    """Every labelled INA3221 channel with both input files, in sysfs order (none on other machines)."""
    rails = []
    for hwmon in sorted((Path(root) / INA3221_DIR).glob("*/hwmon/hwmon*")):
        for channel in (1, 2, 3):
            label = _read(hwmon / f"in{channel}_label")
            volt, curr = hwmon / f"in{channel}_input", hwmon / f"curr{channel}_input"
            if label and label != "NC" and volt.exists() and curr.exists():
                rails.append(PowerRail(label, volt, curr))
    return rails


def gpu_power_rail(root: str | Path = "/") -> tuple[PowerRail, str] | None:
    """The rail to report as the GPU's power, and what it measures: a rail of the GPU alone, else
    one the GPU shares (its name holds GPU), else the module's input; only one that reads now."""
    rails = power_rails(root)
    ranked = (
        [(r, "GPU rail") for r in rails if r.label in GPU_RAILS]
        + [(r, "GPU with other parts on one rail") for r in rails if "GPU" in r.label and r.label not in GPU_RAILS]
        + [(r, "module input: no GPU rail") for r in rails if r.label in TOTAL_RAILS]
    )
    for rail, kind in ranked:
        try:
            rail.power_mw()
        except OSError:
            continue
        return rail, kind
    return None


def facts(root: str | Path = "/") -> dict[str, Any] | None:
    """Everything trtpace reports about a Jetson, or None on other machines."""
    node = find_gpu_devfreq(root)
    if node is None:
        return None
    return {
        "gpu_devfreq": node.facts(),
        "emc_rate_hz": emc_rate_hz(root),
        "nvpmodel": nvpmodel_mode(root),
        "power_rails": [r.label for r in power_rails(root)],
    }
