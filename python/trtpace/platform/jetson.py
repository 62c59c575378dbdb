"""Jetson GPU facts from sysfs: the GPU's devfreq node, the EMC clock, the nvpmodel mode.

Every path is read under `root` (default "/"), so tests run against a fake tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# of_node names of Jetson GPUs: TX2, Xavier, Orin, later parts, newer kernels, Thor.
GPU_NODE_NAMES = ("gp10b", "gv11b", "ga10b", "gb10b", "gpu", "gpu-gpc-0")


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


def facts(root: str | Path = "/") -> dict[str, Any] | None:
    """Everything trtpace reports about a Jetson, or None on other machines."""
    node = find_gpu_devfreq(root)
    if node is None:
        return None
    return {"gpu_devfreq": node.facts(), "emc_rate_hz": emc_rate_hz(root), "nvpmodel": nvpmodel_mode(root)}
