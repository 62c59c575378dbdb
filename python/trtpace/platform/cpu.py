"""The host CPU the paced loop runs on: which core a thread last ran on (procfs), that core's
frequency (cpufreq) and its idle-state residency (cpuidle), read from sysfs.

Paths (under TRTPACE_SYSFS_ROOT, default "/", the root the Jetson code uses too, so tests use a
fake tree):
  sys/devices/system/cpu/cpuN/cpufreq/scaling_cur_freq      kHz
  sys/devices/system/cpu/cpuN/cpuidle/stateK/{name,time,usage}   time in us, usage a count
Virtual machines usually expose neither; `exposed()` says so, and reports say it once instead of
printing zeros. Every read here is a small pread on a kept file descriptor: cheap enough for a
sampler thread, and never done inside the timed C++ loop.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

NOT_EXPOSED = "CPU frequency and C-states: not exposed (a VM?)"


def sysfs_root() -> Path:
    """Where sysfs is read (TRTPACE_SYSFS_ROOT lets tests use a fake tree)."""
    return Path(os.environ.get("TRTPACE_SYSFS_ROOT", "/"))


def cpu_dir(cpu: int) -> Path:
    return sysfs_root() / "sys" / "devices" / "system" / "cpu" / f"cpu{cpu}"


def parse_task_stat(text: str) -> int:
    """The CPU a task last ran on: field 39 of /proc/<pid>/task/<tid>/stat.

    The command name (field 2) is in parentheses and may hold spaces and ')', so fields are
    counted from the last ')'."""
    rest = text[text.rindex(")") + 1 :].split()
    return int(rest[39 - 3])


def last_cpu(tid: int) -> int | None:
    """The core thread `tid` of this process last ran on; None where procfs has no such task."""
    try:
        return parse_task_stat(Path(f"/proc/self/task/{tid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def exposed(cpu: int = 0) -> dict[str, bool]:
    """Whether this machine exposes cpufreq and cpuidle for `cpu`."""
    d = cpu_dir(cpu)
    return {"cpufreq": (d / "cpufreq" / "scaling_cur_freq").is_file(), "cpuidle": (d / "cpuidle").is_dir()}


def freq_khz(cpu: int) -> int | None:
    """The core's current frequency in kHz as cpufreq reports it; None where not exposed."""
    return _read_int(cpu_dir(cpu) / "cpufreq" / "scaling_cur_freq")


@dataclass
class FreqReader:
    """Reads thread -> core -> frequency over and over, on kept file descriptors (pread)."""

    _fds: dict[str, int] = field(default_factory=dict)

    def _pread(self, path: str) -> bytes | None:
        fd = self._fds.get(path)
        try:
            if fd is None:
                fd = self._fds[path] = os.open(path, os.O_RDONLY)
            return os.pread(fd, 4096, 0)
        except OSError:
            self._fds.pop(path, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
            return None

    def core(self, tid: int) -> int | None:
        raw = self._pread(f"/proc/self/task/{tid}/stat")
        try:
            return parse_task_stat(raw.decode()) if raw else None
        except (ValueError, IndexError):
            return None

    def khz(self, cpu: int) -> int | None:
        raw = self._pread(str(cpu_dir(cpu) / "cpufreq" / "scaling_cur_freq"))
        try:
            return int(raw) if raw else None
        except ValueError:
            return None

    def close(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


def idle_states(cpu: int) -> dict[str, tuple[int, int]]:
    """{state name: (residency time in us, entries)} of one core; empty where not exposed."""
    base = cpu_dir(cpu) / "cpuidle"
    out: dict[str, tuple[int, int]] = {}
    if not base.is_dir():
        return out
    for state in sorted(base.glob("state[0-9]*"), key=lambda p: int(p.name[5:])):
        try:
            name = (state / "name").read_text().strip()
        except OSError:
            continue
        t, n = _read_int(state / "time"), _read_int(state / "usage")
        if t is not None and n is not None:
            out[name] = (t, n)
    return out


def idle_residency(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], wall_us: float
) -> dict[str, dict[str, float]]:
    """Per idle state, the share of `wall_us` the core spent in it and how often it entered it,
    between two `idle_states` readings (states missing from either are left out)."""
    out: dict[str, dict[str, float]] = {}
    for name, (t1, n1) in after.items():
        if name not in before:
            continue
        t0, n0 = before[name]
        out[name] = {
            "residency_pct": 100.0 * max(0, t1 - t0) / wall_us if wall_us > 0 else float("nan"),
            "entries": float(max(0, n1 - n0)),
        }
    return out
