"""Locking a Jetson GPU's clock through its devfreq node, saving and restoring what was there."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from trtpace.platform import jetson
from trtpace.platform.clocks import state as state_files
from trtpace.platform.clocks import targets
from trtpace.platform.clocks.errors import ClockError, ClockNotSupportedError, ClockPermissionError
from trtpace.platform.clocks.state import ClockState
from trtpace.platform.clocks.targets import sysfs_root

__all__ = ["apply", "find", "jetson_clocks", "lock_max", "restore", "store_path", "sysfs_root"]

_SAVED = ("min_freq", "max_freq", "governor")


def find() -> jetson.Devfreq | None:
    return jetson.find_gpu_devfreq(sysfs_root())


def _open(node: Path, name: str) -> int:
    """An attribute of a devfreq node open for writing, confined to the real devfreq tree (targets.py)."""
    try:
        return targets.open_attribute(node, name)
    except targets.Refused as e:
        raise ClockError(f"refused to write {node / name}: {e}") from None
    except PermissionError:
        raise ClockPermissionError("locking the Jetson GPU clock needs root: run `sudo trtpace clocks lock --sm max`") from None
    except OSError as e:
        raise ClockNotSupportedError(f"cannot write {node / name}: {e.strerror or e}") from None


def _write_fd(fd: int, path: Path, value: str) -> None:
    try:
        with contextlib.suppress(OSError):  # (sysfs takes a write at offset 0 whatever its size)
            os.ftruncate(fd, 0)
        state_files.write_all(fd, (value + "\n").encode())
    except PermissionError:
        raise ClockPermissionError("locking the Jetson GPU clock needs root: run `sudo trtpace clocks lock --sm max`") from None
    except OSError as e:
        raise ClockNotSupportedError(f"cannot write {path}: {e.strerror or e}") from None


def _write_all(node: Path, values: dict[str, str]) -> None:
    """Opens every attribute first, so that one refused leaves them all as they were."""
    fds: dict[str, int] = {}
    try:
        for name in values:
            fds[name] = _open(node, name)
        for name, value in values.items():
            _write_fd(fds[name], node / name, value)
    finally:
        for fd in fds.values():
            os.close(fd)


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
    values = {"device/railgate_enable": "0"} if "device/railgate_enable" in state.saved else {}
    # Raise the floor only: max stays where the power mode put it (within the nvpmodel limits).
    values["min_freq"] = str(min(int(state.saved["target_hz"]), node.max_hz()))
    _write_all(node.path, values)


def restore(state: ClockState) -> None:
    """Writes back what the record saved, only into the devfreq node it names, and only if that is
    a real one (checked again here: the record was checked when read, the tree may have changed)."""
    try:
        base = targets.check_devfreq_target(state.key.removeprefix("jetson:"))
    except targets.Refused as e:
        raise ClockError(f"refused to restore {state.key}: {e}") from None
    _write_all(base, {name: state.saved[name] for name in targets.JETSON_ATTRIBUTES if name in state.saved})


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
    return state_files.jetson_clocks_store()
