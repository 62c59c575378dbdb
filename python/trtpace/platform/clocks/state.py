"""What trtpace locked, per GPU, in files that survive a crash.

NVML cannot read a lock back, so trtpace writes down what it set *before* setting it:
`trtpace clocks reset` reads these files, and `show` and `sweep` warn when the process that
wrote one is gone (a crash or kill -9 left clocks locked).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trtpace.fileio import atomic_write


def state_dir() -> Path:
    """TRTPACE_STATE_DIR, else /var/lib/trtpace/clocks for root, else the user's cache."""
    if env := os.environ.get("TRTPACE_STATE_DIR"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/trtpace/clocks")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "trtpace" / "clocks"


@dataclass
class ClockState:
    """One GPU's lock as trtpace set it."""

    key: str                          # PCI bus id, or "jetson:<devfreq node>"
    backend: str                      # nvml | nvidia-smi | jetson
    sm_mhz: list[int] | None = None   # [min, max]; symbolic TDP limits are stored as written
    mem_mhz: list[int] | None = None
    saved: dict[str, Any] = field(default_factory=dict)  # Jetson: the sysfs values to restore
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    time_unix: float = field(default_factory=time.time)

    @property
    def owner_alive(self) -> bool:
        if self.host != socket.gethostname():
            return True  # another machine's file (shared home): not ours to judge
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        parts = []
        if self.sm_mhz:
            parts.append(f"SM {self.sm_mhz[0]}-{self.sm_mhz[1]} MHz")
        if self.mem_mhz:
            parts.append(f"memory {self.mem_mhz[0]}-{self.mem_mhz[1]} MHz")
        if self.saved:
            parts.append("devfreq min := max")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time_unix))
        alive = "" if self.owner_alive else ", process gone: stale"
        return f"{', '.join(parts) or 'locked'} via {self.backend} by pid {self.pid} at {when}{alive}"


def _path(key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in key)
    return state_dir() / f"{safe}.json"


def write(state: ClockState) -> None:
    path = _path(state.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(asdict(state), indent=2).encode()
    atomic_write(path, lambda f: f.write(text))


def read(key: str) -> ClockState | None:
    try:
        return ClockState(**json.loads(_path(key).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def remove(key: str) -> None:
    _path(key).unlink(missing_ok=True)


def all_states() -> list[ClockState]:
    d = state_dir()
    if not d.is_dir():
        return []
    states = []
    for p in sorted(d.glob("*.json")):
        try:
            states.append(ClockState(**json.loads(p.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return states


def stale_warnings() -> list[str]:
    """One line per lock whose owner process is gone."""
    return [f"clocks of {s.key} are still locked by trtpace ({s.describe()}); run `trtpace clocks reset`"
            for s in all_states() if not s.owner_alive]
