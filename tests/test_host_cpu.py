"""Host CPU attribution against a fake sysfs tree: the loop's core, its frequency, idle states."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import trtpace
from trtpace.measure import host_cpu, pacing
from trtpace.platform import cpu
from trtpace.results import ConditionResult, SweepResult, split_info
from trtpace.results.attribution import attribute


def _fake_cpu(root: Path, n: int, *, freq: bool = True, idle: bool = True, khz: int = 3_000_000) -> None:
    for i in range(n):
        d = root / "sys" / "devices" / "system" / "cpu" / f"cpu{i}"
        d.mkdir(parents=True)
        if freq:
            (d / "cpufreq").mkdir()
            (d / "cpufreq" / "scaling_cur_freq").write_text(f"{khz + i}\n")
        if idle:
            for k, name in enumerate(("POLL", "C1", "C6")):
                s = d / "cpuidle" / f"state{k}"
                s.mkdir(parents=True)
                (s / "name").write_text(name + "\n")
                (s / "time").write_text(f"{1000 * k}\n")
                (s / "usage").write_text(f"{10 * k}\n")


@pytest.fixture
def sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRTPACE_SYSFS_ROOT", str(tmp_path))
    return tmp_path


def test_task_stat_parsing_survives_odd_command_names() -> None:
    fields = " ".join(str(i) for i in range(3, 53))  # fields 3..52; field 39 reads "39"
    assert cpu.parse_task_stat(f"1234 (a) b (c)) {fields}") == 39
    assert cpu.last_cpu(threading.get_native_id()) in os.sched_getaffinity(0)
    assert cpu.last_cpu(2**30) is None


def test_reads_frequency_and_idle_states(sysfs: Path) -> None:
    _fake_cpu(sysfs, 2)
    assert cpu.exposed(1) == {"cpufreq": True, "cpuidle": True}
    assert cpu.freq_khz(1) == 3_000_001
    before = cpu.idle_states(0)
    assert before == {"POLL": (0, 0), "C1": (1000, 10), "C6": (2000, 20)}
    c6 = sysfs / "sys/devices/system/cpu/cpu0/cpuidle/state2"
    (c6 / "time").write_text("7000\n")
    (c6 / "usage").write_text("25\n")
    after = cpu.idle_states(0)
    res = cpu.idle_residency(before, after, wall_us=10_000)
    assert res["C6"] == {"residency_pct": 50.0, "entries": 5.0}
    assert res["C1"]["residency_pct"] == 0.0
    reader = cpu.FreqReader()
    assert reader.khz(0) == 3_000_000
    (sysfs / "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq").write_text("800000\n")
    assert reader.khz(0) == 800_000  # pread on the kept descriptor sees the new value
    assert reader.core(threading.get_native_id()) in os.sched_getaffinity(0)
    reader.close()


def test_a_vm_without_cpufreq_or_cpuidle_says_so(sysfs: Path) -> None:
    _fake_cpu(sysfs, 1, freq=False, idle=False)
    assert cpu.exposed(0) == {"cpufreq": False, "cpuidle": False}
    assert cpu.freq_khz(0) is None and cpu.idle_states(0) == {}


def test_sampler_follows_a_named_thread(sysfs: Path) -> None:
    _fake_cpu(sysfs, max(os.sched_getaffinity(0)) + 1)
    stop = threading.Event()
    worker = threading.Thread(target=lambda: stop.wait(5), name="trtpace-runner")
    worker.start()
    seen: list[int] = []
    try:
        with host_cpu.HostCpuSampler(rate_hz=1000, on_core=seen.append) as s:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join()
    w = s.window(0, time.monotonic_ns())
    assert w["tel_cpu_t_ns"].size >= 10 and seen and seen[0] in os.sched_getaffinity(0)
    assert np.all(w["tel_cpu_khz"] == 3_000_000 + w["tel_cpu_core"])


def test_join_after() -> None:
    t = np.array([10, 20, 30])
    v = np.array([1.0, np.nan, 3.0])
    assert host_cpu.join_after(t, v, np.array([5, 15, 25, 35])).tolist()[:3] == [1.0, 3.0, 3.0]


def test_sweep_records_the_loop_core_and_its_frequency(sysfs: Path, tmp_path: Path) -> None:
    _fake_cpu(sysfs, max(os.sched_getaffinity(0)) + 1, khz=2_000_000)
    result = trtpace.sweep("host:us=200", gaps_s=[0.002], iterations=40, warmup=2, out=tmp_path / "r")
    assert result.environment["host_cpu"]["cpufreq"] and result.environment["host_cpu"]["note"] is None
    c = result.conditions[1]
    assert c.info["host_cpu"]["core"] in os.sched_getaffinity(0)
    assert set(c.info["host_cpu"]["idle"]) == {"POLL", "C1", "C6"}
    mhz = c.column("cpu_mhz_issue")
    assert np.isfinite(mhz).mean() > 0.5 and np.nanmin(mhz) >= 2000
    loaded = trtpace.load(tmp_path / "r")  # the samples are saved with the condition
    assert np.array_equal(loaded.conditions[1].column("cpu_mhz_issue"), mhz, equal_nan=True)


def test_sweep_on_a_vm_notes_it_once(sysfs: Path) -> None:
    _fake_cpu(sysfs, max(os.sched_getaffinity(0)) + 1, freq=False, idle=False)
    result = trtpace.sweep("host:us=20", gaps_s=[0.001], iterations=10, warmup=0)
    assert result.environment["host_cpu"]["note"] == cpu.NOT_EXPOSED
    assert np.isnan(result.conditions[1].column("cpu_mhz_issue")).all()


def _condition(launch: str, khz: float, gap: float) -> ConditionResult:
    n = 50
    issue = np.arange(n, dtype=np.int64) * 1_000_000 + 10_000_000
    rec = {
        "due_ns": issue,
        "issue_ns": issue,
        "submitted_ns": issue + 30_000,
        "done_ns": issue + 100_000,
        "device_us": np.full(n, 50.0),
    }
    tel = {"tel_cpu_t_ns": issue - 100, "tel_cpu_core": np.full(n, 3), "tel_cpu_khz": np.full(n, khz)}
    info = {"launch": launch, "host_cpu": {"core": 3, "idle": {"C6": {"residency_pct": 80.0, "entries": 9.0}}}}
    return ConditionResult("m", pacing.gap(gap), "spin", "spin", 0, n, rec, telemetry=tel, **split_info(info))


def test_attribution_line_names_the_core_on_python_paths_only() -> None:
    line = attribute(_condition("eager", 1_200_000, 0.1), _condition("eager", 3_400_000, 0)).line()
    assert "CPU core 3 before the issue: 3.40 -> 1.20 GHz, C6 80% of the time" in line
    assert "CPU core" not in attribute(_condition("graph", 1_200_000, 0.1), _condition("graph", 3_400_000, 0)).line()


def test_cpu_awake_spinner_is_sched_idle_and_follows() -> None:
    cores = sorted(os.sched_getaffinity(0))
    awake = host_cpu.CpuAwake()
    try:
        awake.follow(cores[0])
        assert awake.proc is not None
        deadline = time.monotonic() + 5
        while os.sched_getscheduler(awake.proc.pid) != os.SCHED_IDLE and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os.sched_getscheduler(awake.proc.pid) == os.SCHED_IDLE
        awake.follow(cores[-1])
        assert os.sched_getaffinity(awake.proc.pid) == {cores[-1]}
        assert awake.describe()["spinning"]
        time.sleep(0.2)  # spinning: its CPU time counts (it is part of the remedy's cost)
        assert awake.cpu_ns() > 10_000_000
    finally:
        awake.stop()
    assert awake.proc is None


def test_compare_with_cpu_awake_runs_it_only_for_that_policy() -> None:
    result = trtpace.compare("host:us=20", 0.002, ["sleep", "sleep+cpu-awake"], rounds=1, iterations=10, warmup=0)
    by_policy = {c.policy: c for c in result.conditions}
    assert "cpu_awake" not in by_policy["sleep"].info
    info = by_policy["sleep+cpu-awake"].info
    assert info["cpu_awake"]["core"] is not None
    # the condition's host CPU includes the spinner's, next to the loop's own
    assert info["cpu_ns"] == info["loop_cpu_ns"] + info["cpu_awake"]["cpu_ns"]
    assert SweepResult(conditions=result.conditions).rows()


def test_cpu_awake_spinner_dies_with_a_parent_killed_with_sigkill(tmp_path: Path) -> None:
    # A parent process starts the spinner, writes its pid and is then killed with SIGKILL (no
    # clean-up runs): the spinner must not survive it and keep a core busy.
    pidfile = tmp_path / "spinner.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import os, sys, time\n"
                "from trtpace.measure import host_cpu\n"
                "a = host_cpu.CpuAwake(); a.follow(sorted(os.sched_getaffinity(0))[0])\n"
                f"open({str(pidfile)!r}, 'w').write(str(a.proc.pid))\n"
                "time.sleep(60)\n"
            ),
        ]
    )
    deadline = time.monotonic() + 20
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline and parent.poll() is None, "the parent never started its spinner"
        time.sleep(0.05)
    spinner = int(pidfile.read_text())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{spinner}").exists() and time.monotonic() < deadline:
        state = Path(f"/proc/{spinner}/stat").read_text(errors="replace").rsplit(")", 1)[-1].split()[0]
        if state == "Z":  # reaped only by its new parent: a zombie uses no CPU
            break
        time.sleep(0.05)
    else:
        assert not Path(f"/proc/{spinner}").exists(), "the cpu-awake spinner outlived its killed parent"


def test_a_follow_racing_the_stop_leaves_no_spinner() -> None:
    """follow() comes from the host sampler's thread while the caller stops the spinner: once
    stop() returns, nothing spins and nothing is left to reap (CI once saw a leaked spinner)."""
    import threading

    core = min(os.sched_getaffinity(0))
    for _ in range(20):
        awake = host_cpu.CpuAwake()
        go = threading.Event()

        def sampler(awake: host_cpu.CpuAwake = awake, go: threading.Event = go) -> None:
            go.wait()
            for _ in range(50):
                awake.follow(core)
                awake.core = None  # as if the loop moved: the next follow acts again

        t = threading.Thread(target=sampler)
        t.start()
        go.set()
        awake.stop()
        t.join()
        assert awake.proc is None and not awake.describe()["spinning"]
        awake.follow(core)  # after the stop: starts nothing
        assert awake.proc is None
