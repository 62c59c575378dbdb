"""Locking a Jetson GPU's clock through its devfreq node, saving and restoring what was there (the jetson
backend), or with NVIDIA's jetson_clocks (the jetson_clocks backend)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

from trtpace.platform import jetson
from trtpace.platform.clocks import state as state_files
from trtpace.platform.clocks import targets
from trtpace.platform.clocks.errors import ClockError, ClockNotSupportedError, ClockPermissionError
from trtpace.platform.clocks.state import ClockState
from trtpace.platform.clocks.targets import sysfs_root

__all__ = ["DevfreqClocks", "JetsonClocks", "find", "jetson_clocks", "key_of", "store_path", "sysfs_root"]

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
        raise ClockPermissionError(
            "locking the Jetson GPU clock needs root: run `sudo trtpace clocks lock --sm max`"
        ) from None
    except OSError as e:
        raise ClockNotSupportedError(f"cannot write {node / name}: {e.strerror or e}") from None


def _write_fd(fd: int, path: Path, value: str) -> None:
    try:
        with contextlib.suppress(OSError):  # (sysfs takes a write at offset 0 whatever its size)
            os.ftruncate(fd, 0)
        state_files.write_all(fd, (value + "\n").encode())
    except PermissionError:
        raise ClockPermissionError(
            "locking the Jetson GPU clock needs root: run `sudo trtpace clocks lock --sm max`"
        ) from None
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


def key_of(node: jetson.Devfreq) -> str:
    """The key of a devfreq node's record."""
    return f"jetson:{node.path}"


class DevfreqClocks:
    """Locks a Jetson GPU's clock through its devfreq node: min_freq := max_freq (or the asked
    value) and railgating off; a reset writes back what the node held."""

    name: ClassVar[str] = "jetson"

    def __init__(self, node: jetson.Devfreq, sm: str):
        self.node = node
        self.sm = sm

    @property
    def key(self) -> str:
        return key_of(self.node)

    def plan_lines(self) -> list[str]:
        st = self.initial_record()
        saved = {k: v for k, v in st.saved.items() if k != "target_hz"}
        return [
            (
                f"Jetson GPU ({self.node.path}): write {st.saved['target_hz']} to min_freq, 0 to "
                f"device/railgate_enable; saved to restore: {saved}"
            )
        ]

    def initial_record(self) -> ClockState:
        node, sm = self.node, self.sm
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
        return ClockState(
            key=self.key, backend=self.name, sm_mhz=[round(target / 1e6)] * 2, saved={**saved, "target_hz": str(target)}
        )

    def apply(self, state: ClockState) -> None:
        values = {"device/railgate_enable": "0"} if "device/railgate_enable" in state.saved else {}
        # Raise the floor only: max stays where the power mode put it (within the nvpmodel limits).
        values["min_freq"] = str(min(int(state.saved["target_hz"]), self.node.max_hz()))
        _write_all(self.node.path, values)

    @classmethod
    def restore(cls, state: ClockState) -> None:
        """Writes back what the record saved, only into the devfreq node it names, and only if that is
        a real one (checked again here: the record was checked when read, the tree may have changed)."""
        try:
            base = targets.check_devfreq_target(state.key.removeprefix("jetson:"))
        except targets.Refused as e:
            raise ClockError(f"refused to restore {state.key}: {e}") from None
        _write_all(base, {name: state.saved[name] for name in targets.JETSON_ATTRIBUTES if name in state.saved})


class JetsonClocks:
    """NVIDIA's jetson_clocks (CPU, GPU and EMC to their maximum within the power mode) after
    `jetson_clocks --store` into a fresh file beside the records; a reset runs --restore from it."""

    name: ClassVar[str] = "jetson_clocks"
    key: ClassVar[str] = state_files.JETSON_CLOCKS_KEY

    def plan_lines(self) -> list[str]:
        store = store_path()
        return [f"jetson_clocks: --store {store}, then jetson_clocks; restored by --restore {store}"]

    def initial_record(self) -> ClockState:
        return ClockState(key=self.key, backend=self.name, saved={"store_file": str(store_path())})

    def apply(self, state: ClockState) -> None:
        jetson_clocks("store", Path(state.saved["store_file"]))

    @classmethod
    def restore(cls, state: ClockState) -> None:
        """Runs jetson_clocks --restore, only from trtpace's own store file, and only while that is private."""
        store = store_path()
        if state.saved.get("store_file") != str(store):
            raise ClockError(f"refused to restore {state.key}: jetson_clocks restores only from {store}")
        state_files.check_private_file(store)
        try:
            jetson_clocks("restore", store)
        except (OSError, subprocess.SubprocessError) as e:
            raise ClockError(f"jetson_clocks --restore failed: {e}") from None


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
