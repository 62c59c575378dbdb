"""Locking a Jetson GPU's clock through its devfreq node, saving and restoring what was there."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from trtpace.platform import jetson
from trtpace.platform.clocks.errors import ClockError, ClockNotSupportedError, ClockPermissionError
from trtpace.platform.clocks.state import ClockState, state_dir

_SAVED = ("min_freq", "max_freq", "governor")


def sysfs_root() -> str:
    """Where sysfs is read and written (TRTPACE_SYSFS_ROOT lets tests use a fake tree)."""
    return os.environ.get("TRTPACE_SYSFS_ROOT", "/")


def find() -> jetson.Devfreq | None:
    return jetson.find_gpu_devfreq(sysfs_root())


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value + "\n")
    except PermissionError:
        raise ClockPermissionError("locking the Jetson GPU clock needs root: run `sudo trtpace clocks lock --sm max`") from None
    except OSError as e:
        raise ClockNotSupportedError(f"cannot write {path}: {e.strerror}") from None


def lock_max(node: jetson.Devfreq, sm: str) -> ClockState:
    """min_freq := max_freq (or the asked value) and railgating off; returns what to restore."""
    if sm not in ("max",) and not sm.isdigit():
        raise ClockError("on Jetson, --sm takes max or a frequency in MHz")
    saved = {name: (node.path / name).read_text().strip() for name in _SAVED}
    railgate = node.path / "device" / "railgate_enable"
    if railgate.exists():
        saved["device/railgate_enable"] = railgate.read_text().strip()
    target = node.max_hz()
    if sm != "max":
        available = node.available_hz() or [target]
        target = min(available, key=lambda f: abs(f - int(sm) * 1_000_000))
    return ClockState(key=f"jetson:{node.path}", backend="jetson", sm_mhz=[round(target / 1e6)] * 2,
                      saved={**saved, "target_hz": str(target)})


def apply(node: jetson.Devfreq, state: ClockState) -> None:
    if "device/railgate_enable" in state.saved:
        _write(node.path / "device" / "railgate_enable", "0")
    # Raise the floor only: max stays where the power mode put it (within the nvpmodel limits).
    _write(node.path / "min_freq", str(min(int(state.saved["target_hz"]), node.max_hz())))


def restore(state: ClockState) -> None:
    base = Path(state.key.removeprefix("jetson:"))
    for name in ("max_freq", "min_freq", "governor", "device/railgate_enable"):
        if name in state.saved:
            _write(base / name, state.saved[name])


def jetson_clocks(action: str, store_file: Path) -> None:
    """Runs NVIDIA's jetson_clocks --store/--restore; --store gets a fresh file (it prompts otherwise)."""
    exe = shutil.which("jetson_clocks")
    if exe is None:
        raise ClockNotSupportedError("jetson_clocks is not installed (it ships with JetPack)")
    if action == "store":
        store_file.unlink(missing_ok=True)
        subprocess.run([exe, "--store", str(store_file)], check=True, capture_output=True, stdin=subprocess.DEVNULL)
        subprocess.run([exe], check=True, capture_output=True, stdin=subprocess.DEVNULL)
    else:
        subprocess.run([exe, "--restore", str(store_file)], check=True, capture_output=True, stdin=subprocess.DEVNULL)


def store_path() -> Path:
    """Beside the state files, so that a restore after a crash finds it."""
    return state_dir() / "jetson_clocks.conf"
