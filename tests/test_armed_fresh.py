"""Every public armed entry point as a user's script meets it: the first armed calls of a FRESH
process, under each CUDA_MODULE_LOADING mode, behind a watchdog so that a hang fails the test.

Why: under CUDA's lazy module loading a kernel's first launch waits for the context to go idle.
A user's script whose first armed call was `Pacer(from_graph(...), armed="kernel")`, `arm()`,
`release()`, `wait()` hung there behind trtpace's own spinning gate kernel; in-process GPU tests
passed because earlier tests had already loaded the kernels. Here each scenario is a standalone
script in its own process session: on a timeout the whole group is killed and the test fails
with "hung: <scenario> under CUDA_MODULE_LOADING=<mode>" and the script's output, which ends
with the Python stacks faulthandler dumped shortly before the kill.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from test_cpp_api import CMAKE, NVCC, cmake

ROOT = Path(__file__).resolve().parents[1]
MODES = ["unset", "LAZY", "EAGER"]  # "unset": the variable removed from the child's environment
SCRIPT_TIMEOUT_S = 90.0  # torch import, CUDA init, one capture and tens of inferences

pytestmark = pytest.mark.gpu
modes = pytest.mark.parametrize("mode", MODES)
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs PyTorch")


# --- the watchdog -----------------------------------------------------------------------------


def child_env(mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_MODULE_LOADING"}
    if mode != "unset":
        env["CUDA_MODULE_LOADING"] = mode
    env["PYTHONUNBUFFERED"] = "1"  # what it printed before a hang survives the kill
    return env


def tail(proc: subprocess.CompletedProcess[str], n: int = 4000) -> str:
    return f"--- stdout (tail) ---\n{proc.stdout[-n:]}\n--- stderr (tail) ---\n{proc.stderr[-n:]}"


def watchdog(cmd: list[str], name: str, mode: str, timeout: float, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs cmd in a new process session; past `timeout` kills the whole group and fails the test."""
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=child_env(mode),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        hung = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        pytest.fail(f"hung: {name} under CUDA_MODULE_LOADING={mode} (killed after {timeout:g} s)\n{tail(hung)}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def run_fresh(
    name: str, script: str, mode: str, tmp_path: Path, *args: str, timeout: float = SCRIPT_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Writes `script` to a file and runs it as `python script.py ARGS` under the watchdog; the
    script first asks faulthandler to print every thread's stack 5 s before the kill."""
    path = tmp_path / f"{re.sub(r'[^A-Za-z0-9_]+', '_', name)}.py"
    path.write_text(
        f"import faulthandler\nfaulthandler.dump_traceback_later({timeout - 5:g}, exit=False)\n"
        + textwrap.dedent(script)
    )
    return watchdog([sys.executable, str(path), *args], name, mode, timeout, tmp_path)


def expect_ok(name: str, proc: subprocess.CompletedProcess[str], mode: str, code: int = 0) -> None:
    ok = proc.returncode == code and f"OK {name}" in proc.stdout.splitlines()
    assert ok, f"{name} under CUDA_MODULE_LOADING={mode}: exit {proc.returncode} (expected {code})\n{tail(proc)}"


# --- what the scripts share -------------------------------------------------------------------

TORCH_PRELUDE = '''
import threading
import time

import torch

import trtpace
from trtpace import workloads

RECORD_KEYS = {"armed_ns", "issue_ns", "submitted_ns", "done_ns", "device_us"}


def check_record(rec):
    assert RECORD_KEYS <= set(rec), f"record keys: {sorted(rec)}"
    assert rec["done_ns"] >= rec["issue_ns"] > 0, rec
    return rec


def warm_up(fn):
    """Runs fn a few times on a side stream, as CUDA graph capture requires."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.no_grad(), torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.synchronize()


def timed_synchronize(when, limit_s):
    """torch.cuda.synchronize(), a device-wide wait: returns how long it took, asserted under limit_s."""
    t0 = time.monotonic()
    torch.cuda.synchronize()
    took = time.monotonic() - t0
    print(f"torch.cuda.synchronize() {when}: {took:.3f} s")
    assert took < limit_s, (when, took)
    return took


def linear_graph(features=256):
    """The user's script: a Linear captured into CUDAGraph(keep_graph=True). Returns (graph,
    eager: the same computation run eagerly, y: the graph's output tensor)."""
    lin = torch.nn.Linear(features, features).cuda().half().requires_grad_(False)
    x = torch.randn(8, features, device="cuda", dtype=torch.half)
    warm_up(lambda: lin(x))
    g = torch.cuda.CUDAGraph(keep_graph=True)
    with torch.cuda.graph(g):
        y = lin(x)
    g.instantiate()
    return g, lambda: lin(x), y


def pinned_linear_pacer(armed):
    """A Linear through from_torch's graph path with pinned I/O (the input surface), armed."""
    lin = torch.nn.Linear(256, 256).cuda().half().requires_grad_(False)
    x = torch.randn(8, 256, device="cuda", dtype=torch.half)
    return lin, trtpace.Pacer(workloads.from_torch(lin, (x,), launch="graph", io="pinned"), armed=armed)


class Staged:
    """The README's armed pattern: the graph copies its input in from pinned memory and its output
    back out, so an output that matches proves the armed work read the input written after arm()."""

    def __init__(self, features=256, name="staged linear"):
        self.name = name
        self.lin = torch.nn.Linear(features, features).cuda().half().requires_grad_(False)
        self.host_in = torch.zeros(8, features, dtype=torch.half).pin_memory()
        self.host_out = torch.zeros(8, features, dtype=torch.half).pin_memory()
        self.x = torch.empty(8, features, device="cuda", dtype=torch.half)
        self.seed = 0

        def body():
            self.x.copy_(self.host_in, non_blocking=True)
            self.host_out.copy_(self.lin(self.x), non_blocking=True)

        warm_up(body)
        self.g = torch.cuda.CUDAGraph(keep_graph=True)
        with torch.cuda.graph(self.g):
            body()
        self.g.instantiate()

    def workload(self):
        return workloads.from_graph(self.g.raw_cuda_graph(), keepalive=self, name=self.name)

    def next_input(self):
        self.seed += 1
        return torch.randn(self.host_in.shape, generator=torch.Generator().manual_seed(self.seed)).half()

    def check(self, inp):
        torch.testing.assert_close(self.host_out, self.lin(inp.cuda()).cpu(), rtol=1e-2, atol=1e-2)

    def frame(self, p):
        """One frame through an armed Pacer: arm, the input arrives, release, wait, check."""
        inp = self.next_input()
        p.arm()
        self.host_in.copy_(inp)
        p.release()
        rec = check_record(p.wait(timeout=10))
        self.check(inp)
        return rec
'''

FROM_GRAPH = """
g, eager, y = linear_graph()
p = trtpace.Pacer(workloads.from_graph(g.raw_cuda_graph(), keepalive=g), armed="kernel")
p.arm()                     # the process's first armed calls: these hung under lazy loading
p.release()
rec = check_record(p.wait(timeout=10))
for _ in range(20):
    p.arm()
    p.release()
    rec = check_record(p.wait(timeout=10))
torch.testing.assert_close(y, eager(), rtol=1e-2, atol=1e-2)
p.close()
print("OK from_graph")
"""

FROM_TORCH = """
lin, p = pinned_linear_pacer("kernel")
inp, out = p.inputs["input0"], p.outputs["output0"]
assert inp.device.type == "cpu" and inp.is_pinned() and out.device.type == "cpu" and out.is_pinned()
for k in range(10):
    new = torch.randn(8, 256, generator=torch.Generator().manual_seed(k)).half()
    p.arm()
    inp.copy_(new)          # the input arrives while armed
    p.release()
    check_record(p.wait(timeout=10))
    torch.testing.assert_close(out, lin(new.cuda()).cpu(), rtol=1e-2, atol=1e-2)
p.close()
print("OK from_torch")
"""

SYNTHETIC = """
import sys
import trtpace
from trtpace import workloads

gate = sys.argv[1]
fallback = sys.argv[2] if len(sys.argv) > 2 else ""  # what resident_fallback must name, if it falls back
p = trtpace.Pacer(workloads.build("tiny", gpu=0), armed=gate)
print("resident_fallback:", p.resident_fallback)
if fallback:
    assert fallback in p.resident_fallback, p.resident_fallback
    assert p.workload.core.gate_state["gate"] == "kernel", p.workload.core.gate_state
elif gate == "resident":  # a graph workload on a GPU and driver with conditional nodes
    assert p.resident_fallback == "" and p.workload.core.gate_state["gate"] == "resident", p.resident_fallback
for _ in range(20):
    p.arm()
    p.release()
    rec = p.wait(timeout=10)
    assert rec["done_ns"] >= rec["issue_ns"] > rec["armed_ns"] > 0, rec
p.close()
print(f"OK synthetic-{gate}")
"""

# A 12.3 driver, pretended: no conditional nodes (12.4+), so armed="resident" arms per frame.
RESIDENT_OLD_DRIVER = (
    """
import os
os.environ["TRTPACE_FAKE_DRIVER_VERSION"] = "12030"
"""
    + SYNTHETIC
)

TWO_PACERS = """
detector, classifier = Staged(256, "detector"), Staged(512, "classifier")
with trtpace.Pacer(detector.workload(), armed="kernel") as det, \\
        trtpace.Pacer(classifier.workload(), armed="kernel") as cls:
    for _ in range(20):
        detector.frame(det)
        classifier.frame(cls)
    for _ in range(5):      # the classifier armed while the detector runs
        a, b = detector.next_input(), classifier.next_input()
        det.arm()
        cls.arm()
        detector.host_in.copy_(a)
        det.release()
        check_record(det.wait(timeout=10))
        classifier.host_in.copy_(b)
        cls.release()
        check_record(cls.wait(timeout=10))
        detector.check(a)
        classifier.check(b)
print("OK two-pacers")
"""

EXCEPTION_WHILE_ARMED = """
s = Staged()
try:
    with trtpace.Pacer(s.workload(), armed="kernel") as p:
        p.arm()
        raise RuntimeError("boom")
except RuntimeError as e:
    assert str(e) == "boom", e
else:
    raise AssertionError("the exception was swallowed")
p2 = trtpace.Pacer(s.workload(), armed="kernel")
for _ in range(5):
    s.frame(p2)
p2.close()
timed_synchronize("after close (nothing left spinning)", 2)
print("OK exception-while-armed")
"""

ARM_TWICE = """
s = Staged()
p = trtpace.Pacer(s.workload(), armed="kernel")
p.arm()
try:
    p.arm()
except trtpace.TrtpaceError as e:
    print("second arm:", type(e).__name__, e)
else:
    raise AssertionError("a second arm() was accepted")
inp = s.next_input()
s.host_in.copy_(inp)
p.release()
check_record(p.wait(timeout=10))
s.check(inp)                # the first arm's inference, still whole
s.frame(p)
p.arm()
p.release()
try:
    p.release()
except trtpace.TrtpaceError as e:
    print("second release:", type(e).__name__, e)
else:
    raise AssertionError("a second release() without an arm was accepted")
check_record(p.wait(timeout=10))
for _ in range(3):
    s.frame(p)
p.close()
print("OK arm-twice")
"""

SYNC_WHILE_ARMED = """
s = Staged()
p = trtpace.Pacer(s.workload(), armed="kernel", arm_timeout_ms=2000)
p.arm()
timed_synchronize("while armed (the gate lets go by itself after arm_timeout_ms)", 4)
inp = s.next_input()
s.host_in.copy_(inp)
p.release()                 # its gate timed out: the Pacer launches the inference again
check_record(p.wait(timeout=10))
s.check(inp)
s.frame(p)
p.close()
print("OK sync-while-armed")
"""

SYNC_WHILE_ARMED_THREAD = """
s = Staged()
p = trtpace.Pacer(s.workload(), armed="kernel", arm_timeout_ms=2000)
inp = s.next_input()
p.arm()

def release_later():
    time.sleep(0.3)
    s.host_in.copy_(inp)
    p.release()

t = threading.Thread(target=release_later)
t.start()
t0 = time.monotonic()
torch.cuda.synchronize()    # returns once the other thread released
took = time.monotonic() - t0
t.join()
print(f"torch.cuda.synchronize() returned {took:.3f} s after arm; released at 0.3 s")
check_record(p.wait(timeout=10))
s.check(inp)
assert 0.25 < took < 1.5, took
p.close()
print("OK sync-while-armed-thread")
"""

WAIT_TIMEOUT = """
s = Staged()
p = trtpace.Pacer(s.workload(), armed="kernel")
s.frame(p)
p.arm()
t0 = time.monotonic()
try:
    p.wait(timeout=0.2)     # never released
except trtpace.WaitTimeoutError as e:
    took, msg = time.monotonic() - t0, str(e)
    assert isinstance(e, trtpace.TrtpaceError)
else:
    raise AssertionError("wait() returned for an inference never released")
print(f"wait(timeout=0.2) raised after {took:.3f} s: {msg}")
assert took < 2, took
assert "staged linear" in msg or "inference" in msg.lower(), msg
p.cancel()
for _ in range(3):
    s.frame(p)
p.close()
q = trtpace.Pacer(s.workload(), armed="kernel", wait_timeout_s=0.3)
q.arm()
try:
    q.wait()                # the Pacer's own wait_timeout_s
except trtpace.WaitTimeoutError:
    pass
else:
    raise AssertionError("wait() ignored wait_timeout_s")
q.cancel()
s.frame(q)
q.close()
print("OK wait-timeout")
"""

RESIDENT = """
import gc
detector, classifier = Staged(256, "detector"), Staged(512, "classifier")
with trtpace.Pacer(detector.workload(), armed="resident") as det, \\
        trtpace.Pacer(classifier.workload(), armed="resident") as cls:
    assert det.resident_fallback == "" and cls.resident_fallback == "", (det.resident_fallback, cls.resident_fallback)
    for _ in range(30):
        detector.frame(det)
        classifier.frame(cls)
    state = det.workload.core.gate_state
    print("detector's loop:", state)
    assert state["gate"] == "resident" and state["running"] and state["launches"] == 1, state
    assert state["done_seq"] == 30, state
    rec = detector.frame(det)
    assert rec["device_us"] > 0 and not rec["relaunched"], dict(rec)
    scratch = workloads.build("tiny", gpu=0)
    t0 = time.monotonic()
    del scratch             # freeing CUDA memory waits for the device: trtpace stops both loops first
    gc.collect()
    took = time.monotonic() - t0
    print(f"a workload freed while two loops ran: {took:.3f} s")
    assert took < 2, took
    for _ in range(3):      # launched again at the next arm
        detector.frame(det)
        classifier.frame(cls)
    assert det.workload.core.gate_state["launches"] == 2, det.workload.core.gate_state
    det.arm()
    try:
        det.arm()               # armed twice: refused, as per frame
    except trtpace.TrtpaceError as e:
        print("second arm:", e)
    else:
        raise AssertionError("a second arm() was accepted")
    det.release()
    check_record(det.wait(timeout=10))
try:
    with trtpace.Pacer(detector.workload(), armed="resident") as p:
        detector.frame(p)
        p.arm()
        raise RuntimeError("boom")
except RuntimeError as e:
    assert str(e) == "boom", e
timed_synchronize("after the loops ended (nothing left looping)", 2)
print("OK resident")
"""

RESIDENT_IDLE = """
s = Staged()
p = trtpace.Pacer(s.workload(), armed="resident", arm_timeout_ms=300)
for _ in range(3):
    s.frame(p)
time.sleep(0.8)             # no frame for longer than the idle timeout: the loop ends by itself
state = p.workload.core.gate_state
assert not state["running"] and state["exit_reason"] == "idle", state
s.frame(p)                  # arm() launches it again
assert p.workload.core.gate_state["launches"] == 2, p.workload.core.gate_state
inp = s.next_input()
p.arm()
time.sleep(0.8)             # armed, and the loop ends before the release
s.host_in.copy_(inp)
p.release()
rec = check_record(p.wait(timeout=10))
s.check(inp)
assert rec["relaunched"], dict(rec)
timed_synchronize("with the loop running (it waits for the loop's idle timeout)", 3)
s.frame(p)
p.arm()
try:
    p.wait(timeout=0.2)     # armed, never released
except trtpace.WaitTimeoutError as e:
    print("wait before release:", e)
else:
    raise AssertionError("wait() returned for a frame never released")
p.close()
print("OK resident-idle")
"""

RESIDENT_PATHS = """
lin, p = pinned_linear_pacer("resident")
x = torch.randn(8, 256, device="cuda", dtype=torch.half)
assert p.resident_fallback == "", p.resident_fallback
inp, out = p.inputs["input0"], p.outputs["output0"]
for k in range(10):
    new = torch.randn(8, 256, generator=torch.Generator().manual_seed(k)).half()
    p.arm()
    inp.copy_(new)          # the input surface: written while the loop waits
    check_record(p.infer(timeout=10))
    torch.testing.assert_close(out, lin(new.cuda()).cpu(), rtol=1e-2, atol=1e-2)
p.close()
q = trtpace.Pacer(workloads.from_torch(lin, (x,), launch="eager"), armed="resident")
print("eager path:", q.resident_fallback)
assert "not a CUDA graph" in q.resident_fallback, q.resident_fallback
for _ in range(5):
    q.arm()
    q.release()
    check_record(q.wait(timeout=10))
q.close()
print("OK resident-paths")
"""

EXIT_WHILE_ARMED = """
import sys
g, eager, y = linear_graph()
p = trtpace.Pacer(workloads.from_graph(g.raw_cuda_graph(), keepalive=g), armed=sys.argv[2])
p.arm()
print("OK exit-while-armed")
print(f"EXITING {time.time()!r}")
if sys.argv[1] == "sys.exit":
    sys.exit(3)
# else: falls off the end, armed, never closed
"""


# --- the scenarios ----------------------------------------------------------------------------

TORCH_SCENARIOS = {
    "from_graph": FROM_GRAPH,
    "from_torch": FROM_TORCH,
    "two-pacers": TWO_PACERS,
    "exception-while-armed": EXCEPTION_WHILE_ARMED,
    "arm-twice": ARM_TWICE,
    "sync-while-armed": SYNC_WHILE_ARMED,
    "sync-while-armed-thread": SYNC_WHILE_ARMED_THREAD,
    "wait-timeout": WAIT_TIMEOUT,
    "resident": RESIDENT,
    "resident-idle": RESIDENT_IDLE,
    "resident-paths": RESIDENT_PATHS,
}


@needs_torch
@modes
@pytest.mark.parametrize("name", TORCH_SCENARIOS)
def test_torch_script_armed_in_a_fresh_process(name: str, mode: str, tmp_path: Path) -> None:
    expect_ok(name, run_fresh(name, TORCH_PRELUDE + TORCH_SCENARIOS[name], mode, tmp_path), mode)


@modes
@pytest.mark.parametrize("gate", ["kernel", "wait", "resident"])
def test_synthetic_workload_armed_in_a_fresh_process(gate: str, mode: str, tmp_path: Path) -> None:
    from trtpace import _core

    if gate == "wait" and not _core.stream_wait_supported(0)[0]:
        pytest.skip(f"no stream memory waits here: {_core.stream_wait_supported(0)[1]}")
    expect_ok(f"synthetic-{gate}", run_fresh(f"synthetic-{gate}", SYNTHETIC, mode, tmp_path, gate), mode)


def test_resident_falls_back_to_per_frame_arming_on_a_driver_without_conditional_nodes(tmp_path: Path) -> None:
    proc = run_fresh("resident-old-driver", RESIDENT_OLD_DRIVER, "unset", tmp_path, "resident", "12.4")
    expect_ok("synthetic-resident", proc, "unset")


@modes
@pytest.mark.parametrize("policy", ["armed", "armed:resident"])
def test_cli_compare_armed_as_a_process_first_command(policy: str, mode: str, tmp_path: Path) -> None:
    out = tmp_path / "out"  # must not exist beforehand
    cmd = [
        sys.executable,
        "-m",
        "trtpace",
        "compare",
        "-w",
        "tiny",
        "--gap",
        "0.02",
        "--policies",
        policy,
        "--iterations",
        "30",
        "--rounds",
        "1",
        "--out",
        str(out),
        "--no-report",
    ]
    proc = watchdog(cmd, f"cli compare --policies {policy}", mode, 120, tmp_path)
    assert proc.returncode == 0, f"compare under CUDA_MODULE_LOADING={mode}: exit {proc.returncode}\n{tail(proc)}"
    assert out.is_dir() and any(out.iterdir()), tail(proc)


@needs_torch
@modes
@pytest.mark.parametrize("gate", ["kernel", "resident"])
@pytest.mark.parametrize("how", ["fall-off", "sys.exit"])
def test_interpreter_exit_while_armed(how: str, gate: str, mode: str, tmp_path: Path) -> None:
    proc = run_fresh("exit-while-armed", TORCH_PRELUDE + EXIT_WHILE_ARMED, mode, tmp_path, how, gate)
    ended = time.time()
    expect_ok("exit-while-armed", proc, mode, code=3 if how == "sys.exit" else 0)
    m = re.search(r"^EXITING ([0-9.]+)$", proc.stdout, re.MULTILINE)
    assert m, tail(proc)
    exit_s = ended - float(m.group(1))
    # promptly: not held until the default 10 s gate timeout lets go
    assert exit_s < 8, f"exit while armed ({how}) took {exit_s:.1f} s under CUDA_MODULE_LOADING={mode}\n{tail(proc)}"


# --- the C++ example ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def armed_gpu_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/cpp/armed_gpu built against trtpace installed with plain CMake (as test_cpp_api),
    for this GPU's architecture only."""
    if CMAKE is None or NVCC is None or shutil.which("c++") is None:
        pytest.skip("needs cmake, a C++ compiler and a CUDA toolkit")
    from trtpace import _core

    arch = _core.device_info(0)["compute_capability"].replace(".", "") + "-real"
    tmp = tmp_path_factory.mktemp("armed_cpp")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    build, prefix, example = tmp / "build", tmp / "prefix", tmp / "example"
    cmake(
        "-S",
        ROOT,
        "-B",
        build,
        *generator,
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_CUDA_COMPILER={NVCC}",
        f"-DTRTPACE_CUDA_ARCHITECTURES={arch}",
    )
    cmake("--build", build, "--parallel")
    cmake("--install", build, "--prefix", prefix)
    cmake(
        "-S",
        ROOT / "examples/cpp",
        "-B",
        example,
        *generator,
        f"-DCMAKE_PREFIX_PATH={prefix}",
        f"-DCUDAToolkit_ROOT={Path(NVCC).resolve().parents[1]}",
    )
    cmake("--build", example, "--target", "armed_gpu")
    return example / "armed_gpu"


@pytest.mark.cmake
@modes
def test_cpp_armed_example_in_a_fresh_process(armed_gpu_example: Path, mode: str, tmp_path: Path) -> None:
    proc = watchdog([str(armed_gpu_example), "30", "5"], "cpp armed_gpu", mode, SCRIPT_TIMEOUT_S, tmp_path)
    assert proc.returncode == 0 and "armed after 5 ms:" in proc.stdout, (
        f"armed_gpu under CUDA_MODULE_LOADING={mode}: exit {proc.returncode}\n{tail(proc)}"
    )


# --- the README's snippets, run as written ------------------------------------------------------


def readme_armed_snippets() -> list[tuple[int, str]]:
    """(line, text) of each ```python block of README.md that uses Pacer( or armed=."""
    text = (ROOT / "README.md").read_text()
    found = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        if "Pacer(" in m.group(1) or "armed=" in m.group(1):
            found.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
    return found


def undefined_names(src: str) -> set[str]:
    """Names a snippet reads but never binds (nor imports), builtins aside."""
    bound, read = set(dir(builtins)), set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return read - bound


# Stand-ins for what the README leaves to the app. A loop `while running:` runs 20 times (then
# `running` is ready for the next loop); a `while True:` loop ends when the camera runs out of
# frames and raises _EndOfFrames, which the runner catches.
README_SHIM = """
import time

class _EndOfFrames(BaseException):
    pass

class _Running:
    def __init__(self, n):
        self.n = self.left = n
    def __bool__(self):
        if self.left == 0:
            self.left = self.n
            return False
        self.left -= 1
        return True

class _Camera:
    reads = 0
    def read(self):
        self.reads += 1
        if self.reads > 200:
            raise _EndOfFrames
        return float(self.reads % 8)   # a scalar: broadcasts into any staging buffer
"""
SHIMS = {
    "running": "running = _Running(20)\n",
    "camera": "camera = _Camera()\n",
    "run_model": "def run_model(frame):\n    return frame\n",
    "use": "def use(output):\n    pass\n",
    "next_frame_due_ns": "next_frame_due_ns = time.monotonic_ns() + 5_000_000\n",
    # the README's classifier shape: (1, 3, 224, 224) half in, (1, 1000) out; warmed up on a side
    # stream as the snippet's comment asks before capture
    "model": textwrap.dedent("""
        model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 1000))
        model = model.cuda().half().eval().requires_grad_(False)
        warm_up(lambda: model(torch.zeros(1, 3, 224, 224, device="cuda", dtype=torch.half)))
    """),
    "g": "g, _eager, _y = linear_graph()\n",
    "work": "import trtpace as _trtpace\nwork = _trtpace.workloads.synthetic(50)\n",
}
READMES = readme_armed_snippets()


def test_readme_still_has_the_armed_snippets() -> None:
    assert any("armed=" in src for _, src in READMES), "README.md has no ```python block with armed="
    assert any("KeepWarm" in src and "Pacer(" in src for _, src in READMES), (
        "the README section 'In your own app: KeepWarm and Pacer' lost its Pacer( snippet"
    )


@needs_torch
@modes
@pytest.mark.parametrize(("line", "src"), READMES, ids=[f"README.md:{line}" for line, _ in READMES])
def test_readme_snippet_in_a_fresh_process(line: int, src: str, mode: str, tmp_path: Path) -> None:
    missing = undefined_names(src)
    unshimmed = sorted(missing - SHIMS.keys())
    # A snippet this test cannot run is a README a user cannot follow either: add the name to the
    # snippet or, for what an app has anyway (its camera, its model), a shim to SHIMS.
    assert not unshimmed, f"README.md:{line} uses names it never defines and no shim stands in for: {unshimmed}"
    # the three modes run at once (pytest -n): each serves its metrics on a port of its own
    src = src.replace("port=9400", "port=0")
    name = f"readme-{line}"
    shims = (TORCH_PRELUDE if missing & {"model", "g"} else "") + "".join(SHIMS[n] for n in sorted(missing))
    runner = (
        f"_src = {src!r}\n"
        f"print({'stand-ins: ' + ', '.join(sorted(missing))!r})\n"
        "try:\n"
        f"    exec(compile(_src, 'README.md:{line}', 'exec'), globals())\n"
        "except _EndOfFrames:\n"
        "    print('the shim camera ran out of frames')\n"
        f"print('OK {name}')\n"
    )
    # pacer.run(1000, gap_s=0.033) in the KeepWarm/Pacer snippet alone is ~35 s
    expect_ok(name, run_fresh(name, README_SHIM + shims + runner, mode, tmp_path, timeout=150), mode)
