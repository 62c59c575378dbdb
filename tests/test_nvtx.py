"""`--nvtx`: each condition and each inference is an NVTX range on a profiler's timeline.

Nsight Systems is not needed: tests/nvtx_inject/count.c is a small NVTX tool of our own, built
here with cc, loaded by NVTX3 through NVTX_INJECTION64_PATH exactly as nsys's is, that logs each
range push and pop. NVTX is host-side, so host workloads exercise it without a GPU. Each traced
run is a subprocess: NVTX reads NVTX_INJECTION64_PATH once per process, on its first call.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from trtpace.measure import pacing
from trtpace.results import CompareTag, ConditionResult
from trtpace.run.session import nvtx_name

INJECT_SOURCE = Path(__file__).parent / "nvtx_inject" / "count.c"


def nvtx_include_dirs() -> list[Path]:
    """Where nvtx3/nvToolsExt.h may be: the CUDA toolkit's include folder, or the nvidia-nvtx wheel's."""
    roots = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    dirs = [Path(r) / "include" for r in roots if r]
    try:
        import nvidia  # the namespace package of NVIDIA's wheels

        dirs += [Path(p) / "cu13" / "include" for p in nvidia.__path__]
    except ImportError:
        pass
    return [d for d in dirs if (d / "nvtx3" / "nvToolsExt.h").is_file()]


@pytest.fixture(scope="module")
def injection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    include = nvtx_include_dirs()
    if cc is None or not include:
        pytest.skip("building the NVTX test tool needs cc and the NVTX3 headers (CUDA toolkit or nvidia-nvtx)")
    lib = tmp_path_factory.mktemp("nvtx") / "libtrtpace_nvtx_count.so"
    subprocess.run(
        [
            cc,
            "-shared",
            "-fPIC",
            "-O1",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{include[0]}",
            str(INJECT_SOURCE),
            "-o",
            str(lib),
            "-lpthread",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return lib


@dataclass
class Range:
    message: str
    payload: int | None
    domain: str
    children: list[Range] = field(default_factory=list)


@dataclass
class Trace:
    roots: list[Range]  # ranges opened at depth 0, in order
    pushes: int
    pops: int
    still_open: int  # ranges never popped
    domains: list[str]  # domains created, in order


def parse(log: Path) -> Trace:
    """Rebuilds the range tree from the tool's log (one thread pushes and pops in these runs)."""
    roots: list[Range] = []
    stack: list[Range] = []
    totals: tuple[int, int] | None = None
    domains: list[str] = []
    for line in log.read_text().splitlines():
        kind, depth, *rest = line.split("\t")
        if kind == "push":
            domain, message, payload = rest
            assert int(depth) == len(stack), line
            r = Range(message, None if payload == "-" else int(payload), domain)
            (stack[-1].children if stack else roots).append(r)
            stack.append(r)
        elif kind == "pop":
            assert stack, f"a pop with no range open: {line}"
            assert rest[0] == stack[-1].domain, line
            stack.pop()
            assert int(depth) == len(stack), line
        elif kind == "domain":
            domains.append(rest[0])
        elif kind == "total":
            totals = (int(depth), int(rest[0]))
    assert totals is not None, "the tool never wrote its totals: the process did not exit cleanly"
    return Trace(roots, totals[0], totals[1], len(stack), domains)


def traced(injection: Path, tmp_path: Path, args: list[str]) -> tuple[subprocess.CompletedProcess[str], Path]:
    log = tmp_path / "nvtx.tsv"
    env = {**os.environ, "NVTX_INJECTION64_PATH": str(injection), "TRTPACE_NVTX_LOG": str(log)}
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc, log


def check_conditions(trace: Trace, names: list[str], per_condition: int) -> None:
    """One top-level range per condition, named as given; inside it, per inference i in order,
    "until due" then "inference i" (payload i), and nothing else."""
    assert trace.still_open == 0 and trace.pushes == trace.pops
    assert [r.message for r in trace.roots] == names
    for cond in trace.roots:
        assert cond.domain == "trtpace" and cond.payload is None
        expected = [(m, i) for i in range(per_condition) for m in ("until due", f"inference {i}")]
        assert [(r.message, r.payload) for r in cond.children] == expected
        assert all(r.domain == "trtpace" and not r.children for r in cond.children)
    assert trace.pushes == len(names) * (1 + 2 * per_condition)


def test_sweep_nvtx_marks_each_condition_and_inference(injection: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    traced(
        injection,
        tmp_path,
        [
            "-m",
            "trtpace",
            "sweep",
            "-w",
            "host:us=20",
            "--gaps",
            "0,0.001",
            "--iterations",
            "50",
            "--warmup",
            "5",
            "--nvtx",
            "--out",
            str(out),
            "--no-report",
        ],
    )
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["settings"]["nvtx"] is True
    assert len(saved["conditions"]) == 2
    check_conditions(
        parse(tmp_path / "nvtx.tsv"), ["trtpace: host:us=20, gap 0 s", "trtpace: host:us=20, gap 0.001 s"], 55
    )


def test_without_nvtx_no_range_is_recorded(injection: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    traced(
        injection,
        tmp_path,
        [
            "-m",
            "trtpace",
            "sweep",
            "-w",
            "host:us=20",
            "--gaps",
            "0,0.001",
            "--iterations",
            "50",
            "--warmup",
            "5",
            "--out",
            str(out),
            "--no-report",
        ],
    )
    assert json.loads((out / "sweep.json").read_text())["settings"]["nvtx"] is False
    log = tmp_path / "nvtx.tsv"
    # No NVTX call at all leaves NVTX uninitialised and the tool never loaded; either way no range.
    if log.exists():
        trace = parse(log)
        assert trace.pushes == 0 and trace.roots == []


def test_compare_nvtx_names_policy_and_round(injection: Path, tmp_path: Path) -> None:
    traced(
        injection,
        tmp_path,
        [
            "-m",
            "trtpace",
            "compare",
            "-w",
            "host:us=20",
            "--gap",
            "0.001",
            "--policies",
            "sleep,spin",
            "--rounds",
            "2",
            "--iterations",
            "10",
            "--warmup",
            "2",
            "--nvtx",
            "--out",
            str(tmp_path / "r"),
            "--no-report",
        ],
    )
    names = [
        f"trtpace: host:us=20, {label}, round {r}"
        for r in (1, 2)
        for label in ("gap 0 s, continuous", "gap 0.001 s, sleep", "gap 0.001 s, spin")
    ]
    check_conditions(parse(tmp_path / "nvtx.tsv"), names, 12)


@pytest.mark.test_hooks
def test_python_api_and_a_failing_inference_keep_ranges_balanced(injection: Path, tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import trtpace
        from trtpace import _core
        from trtpace.measure.runner import make_runner
        r = trtpace.sweep("host:us=10", [0], iterations=8, warmup=1, telemetry=False, nvtx=True)
        assert r.settings["nvtx"] is True
        # A fault in the 4th completion wait: its inference range and the run's still close.
        w = _core.HostWorkload(10.0)
        w._inject_fault("wait", 4)
        runner = make_runner(w, _core.Schedule.closed_gap(0), 6, 0, "spin", "spin", nvtx=True)
        try:
            runner.run()
        except trtpace.TrtpaceError as e:
            assert "injected fault at wait" in str(e)
        else:
            raise SystemExit("no fault")
        assert runner.completed == 3
        # Stopped before it started: no records and no range. Unnamed: the workload's description.
        stopped = make_runner(_core.HostWorkload(10.0), _core.Schedule.closed_gap(0), 5, 0, nvtx=True)
        stopped.request_stop()
        stopped.run()
        make_runner(_core.HostWorkload(10.0), _core.Schedule.closed_gap(0), 1, 0, nvtx=True).run()
    """)
    traced(injection, tmp_path, ["-c", script])
    trace = parse(tmp_path / "nvtx.tsv")
    assert trace.still_open == 0 and trace.pushes == trace.pops
    assert trace.domains == ["trtpace"]  # one domain for the process, however many runs
    first, failed, unnamed = trace.roots
    assert first.message == "trtpace: host:us=10, gap 0 s" and len(first.children) == 18
    assert failed.message.startswith("trtpace: ") and failed.message != first.message
    assert [r.message for r in failed.children] == [m for i in range(4) for m in ("until due", f"inference {i}")]
    assert unnamed.message == failed.message and [r.message for r in unnamed.children] == ["until due", "inference 0"]


def test_condition_names() -> None:
    c = ConditionResult("tiny", pacing.gap(0.1), "hybrid", "spin", 5, 40, {})
    assert nvtx_name(c) == "trtpace: tiny, gap 0.1 s"
    c = ConditionResult("tiny", pacing.period(0.01), "hybrid", "spin", 5, 40, {}, clocks="locked max")
    assert nvtx_name(c) == "trtpace: tiny, period 0.01 s, locked max"
    c = ConditionResult(
        "tiny", pacing.gap(0.1), "spin", "spin", 5, 40, {}, policy="spin+keepwarm:1ms", compare_tag=CompareTag(round=2)
    )
    assert nvtx_name(c) == "trtpace: tiny, gap 0.1 s, spin+keepwarm:1ms, round 3"


@pytest.mark.gpu
def test_gpu_sweep_and_armed_compare_ranges(injection: Path, tmp_path: Path) -> None:
    traced(
        injection,
        tmp_path,
        [
            "-m",
            "trtpace",
            "sweep",
            "-w",
            "tiny",
            "--gaps",
            "0,0.001",
            "--iterations",
            "20",
            "--warmup",
            "2",
            "--nvtx",
            "--no-report",
            "--out",
            str(tmp_path / "s"),
        ],
    )
    check_conditions(parse(tmp_path / "nvtx.tsv"), ["trtpace: tiny, gap 0 s", "trtpace: tiny, gap 0.001 s"], 22)
    # Armed: each inference is queued ("arm", payload = the inference it queues) before it is due.
    traced(
        injection,
        tmp_path,
        [
            "-m",
            "trtpace",
            "compare",
            "-w",
            "tiny",
            "--gap",
            "0.001",
            "--policies",
            "armed:kernel",
            "--rounds",
            "1",
            "--iterations",
            "10",
            "--warmup",
            "2",
            "--nvtx",
            "--no-report",
            "--out",
            str(tmp_path / "c"),
        ],
    )
    trace = parse(tmp_path / "nvtx.tsv")
    assert trace.still_open == 0 and trace.pushes == trace.pops
    continuous, armed = trace.roots
    assert armed.message == "trtpace: tiny, gap 0.001 s, armed:kernel, round 1"
    arms = [r.payload for r in armed.children if r.message == "arm"]
    inferences = [r.payload for r in armed.children if r.message.startswith("inference ")]
    assert inferences == list(range(12)) and arms == list(range(12))
    assert not any(r.message == "arm" for r in continuous.children)
