"""One measurement on several GPUs at once: a worker process per GPU, coordinated by the process
that owns the results folder.

    result = run_on_gpus(job, [0, 1], out="results")

Each worker is spawned (CUDA does not survive a fork) and calls `job(gpu, progress)`: a
module-level function (so it pickles) that runs a whole sweep or compare on that GPU with no
results folder of its own. Every condition it finishes, or leaves partial, is sent back; the
coordinator is the only writer of sweep.json and the condition files.

Rounds interleave the GPUs running together with each GPU alone: round 1 all together, then GPU
0 alone, GPU 1 alone, ...; round 2 the alone passes first, then together, so slow drift of the
machine hits both modes alike. In a together pass each condition starts on every GPU at the same
moment (a barrier before each condition), so "together" means the same work at the same time.

Protocol: the frozen dataclasses below, pickled over one pipe per worker. Worker -> coordinator:
Session, Calibrating, Ready (then it waits for Go), Advanced, Finished (a condition), and one of
Passed, Interrupted or Failed. Coordinator -> worker: Order("pass") to run the job once,
Order("go") to open the barrier, Order("stop") to exit. Ctrl-C or SIGTERM in the coordinator
sends each worker SIGINT, which ends its condition as partial, as in one process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Literal

from trtpace.errors import EXIT_USAGE, TrtpaceError, UsageError, exit_code
from trtpace.measure.pacing import Pacing
from trtpace.results import ConditionResult, GpuIdentity, Placement, ResultWriter, SweepResult
from trtpace.run.session import Progress, SweepInterrupted
from trtpace.signals import STOP_SIGNALS, ignore_signals, install_handler, stop_signals_held

Job = Callable[[int, Any], SweepResult]

STOP_TIMEOUT_S = 60.0  # how long interrupted workers get to save their partial condition
ADVANCE_EVERY_S = 0.1


class WorkerError(TrtpaceError):
    """A GPU's worker failed (a CUDA error, or its process died); the message names the GPU."""


def parse_gpus(text: str, *, gpu_count: int | None, allow_shared: bool = False) -> list[int]:
    """`--gpu`: "all", one index ("1") or a comma-separated list ("0,2"), checked before anything runs.

    `gpu_count` is how many GPUs CUDA sees, or None where the workloads need no GPU (host work:
    the indices then only name the workers). A GPU named twice needs `allow_shared` (two workers
    on one GPU: how the coordination is tested on a machine with one GPU)."""
    text = text.strip().lower()
    if text == "all":
        if not gpu_count:
            raise UsageError("--gpu all: CUDA sees no GPU")
        return list(range(gpu_count))
    indices = []
    for item in text.split(","):
        try:
            indices.append(int(item.strip()))
        except ValueError:
            raise UsageError(f"--gpu takes an index (0), a list (0,2) or all, got {text!r}") from None
    for i in indices:
        if i < 0:
            raise UsageError(f"--gpu must be >= 0, got {i}")
    if gpu_count is not None:
        for i in indices:
            if i >= gpu_count:
                raise UsageError(
                    f"--gpu {i} is out of range: CUDA sees {gpu_count} GPU(s)"
                    + (f", indices 0 to {gpu_count - 1}" if gpu_count else "")
                )
    twice = sorted({i for i in indices if indices.count(i) > 1})
    if twice and not allow_shared:
        raise UsageError(
            f"--gpu names GPU {twice[0]} twice: pass --allow-shared-gpu to run two workers on one GPU "
            "(for testing; their numbers then disturb each other)"
        )
    return indices


def gpu_labels(indices: list[int]) -> list[str]:
    """Worker names: gpu0, gpu2; a second worker sharing GPU 0 is gpu0#2."""
    seen: dict[int, int] = {}
    out = []
    for i in indices:
        seen[i] = seen.get(i, 0) + 1
        out.append(f"gpu{i}" + (f"#{seen[i]}" if seen[i] > 1 else ""))
    return out


# ---- the protocol ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    environment: dict[str, Any]
    settings: dict[str, Any]


@dataclass(frozen=True)
class Calibrating:
    workload: str


@dataclass(frozen=True)
class Ready:  # the worker waits at the barrier until Order("go")
    workload: str
    pacing: dict[str, Any]  # Pacing.to_json()
    total: int


@dataclass(frozen=True)
class Advanced:
    completed: int
    total: int


@dataclass(frozen=True)
class Finished:
    condition: ConditionResult


@dataclass(frozen=True)
class Passed:
    pass


@dataclass(frozen=True)
class Interrupted:
    why: str


@dataclass(frozen=True)
class Failed:
    message: str  # one line
    exit_code: int


ToCoordinator = Session | Calibrating | Ready | Advanced | Finished | Passed | Interrupted | Failed


@dataclass(frozen=True)
class Order:
    what: Literal["pass", "go", "stop"]


# ---- the worker process ---------------------------------------------------------------------


def _interrupt_once(signum: int, frame: Any) -> None:
    # The terminal's Ctrl-C and the coordinator's SIGINT both arrive: the first ends the run,
    # later ones must not interrupt the saving and sending of the partial condition.
    ignore_signals()
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _send(conn: Connection, msg: ToCoordinator) -> None:
    with stop_signals_held():
        conn.send(msg)


class _WorkerProgress:
    """The worker's end of the protocol, as the Progress a run reports to."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.last = 0.0

    def session_started(self, environment: dict[str, Any], settings: dict[str, Any]) -> None:
        _send(self.conn, Session(environment, settings))

    def calibrating(self, workload: str) -> None:
        _send(self.conn, Calibrating(workload))

    def condition_started(self, workload: str, pacing: Pacing, total: int) -> None:
        _send(self.conn, Ready(workload, pacing.to_json(), total))
        if self.conn.recv() != Order("go"):  # the barrier: every GPU of the pass starts this condition at once
            raise KeyboardInterrupt("stopped by the coordinator")

    def advanced(self, completed: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last >= ADVANCE_EVERY_S or completed == total:
            self.last = now
            _send(self.conn, Advanced(completed, total))

    def condition_finished(self, condition: ConditionResult) -> None:
        _send(self.conn, Finished(condition))


def _worker_main(conn: Connection, job: Job, gpu: int) -> None:
    install_handler(STOP_SIGNALS, _interrupt_once)
    try:
        while conn.recv() == Order("pass"):
            job(gpu, _WorkerProgress(conn))
            _send(conn, Passed())
    except KeyboardInterrupt as e:  # SweepInterrupted included: its conditions were sent as they ended
        cause = e.__cause__ if isinstance(e, SweepInterrupted) else e
        _send(conn, Interrupted(str(cause or "interrupted")))
    except (EOFError, BrokenPipeError):  # the coordinator is gone
        pass
    except TrtpaceError as e:
        _send(conn, Failed((str(e).strip().splitlines() or ["failed"])[0], exit_code(e)))
    except Exception as e:  # noqa: BLE001 - anything else still reaches the coordinator as one line
        _send(conn, Failed(f"{type(e).__name__}: {e}".splitlines()[0], 1))
    finally:
        conn.close()


# ---- the coordinator --------------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    position: int
    index: int
    label: str
    process: Any
    conn: Connection
    state: str = "idle"  # idle | running | ready | passed | ended
    session: tuple[dict[str, Any], dict[str, Any]] | None = None
    pending: list[ConditionResult] = field(default_factory=list)


class _Failed(Exception):
    def __init__(self, worker: _Worker, message: str, code: int):
        super().__init__(message)
        self.worker, self.message, self.code = worker, message, code


class _Coordinator:
    def __init__(
        self, job: Job, gpus: list[int], rounds: int, out: str | Path | None, out_mode: str, progress: Progress | None
    ):
        self.job, self.gpus, self.rounds = job, gpus, rounds
        self.out, self.out_mode, self.progress = out, out_mode, progress
        self.result = SweepResult()
        self.writer: ResultWriter | None = None
        self.workers: list[_Worker] = []
        self.mode, self.round = "", 0
        self.lead: _Worker | None = None  # the pass now running and its worker that drives the bars

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        for position, (index, label) in enumerate(zip(self.gpus, gpu_labels(self.gpus), strict=True)):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker_main, args=(child, self.job, index), name=f"trtpace-{label}", daemon=True)
            p.start()
            child.close()
            self.workers.append(_Worker(position, index, label, p, parent))

    def run(self) -> SweepResult:
        for r in range(self.rounds):
            passes: list[tuple[str, list[_Worker]]] = [("together", self.workers)]
            passes += [("alone", [w]) for w in self.workers]
            if r % 2:
                passes = passes[1:] + passes[:1]
            for mode, group in passes:
                self.run_pass(mode, r, group)
        for w in self.workers:
            self.tell(w, "stop")
        return self.result

    def tell(self, w: _Worker, what: Literal["pass", "go", "stop"]) -> None:
        try:
            w.conn.send(Order(what))
        except OSError:
            w.state = "ended"
            raise _Failed(w, f"its worker process ended unexpectedly (exit code {w.process.exitcode})", 1) from None

    def run_pass(self, mode: str, r: int, group: list[_Worker]) -> None:
        self.mode, self.round, self.lead = mode, r, group[0]
        for w in group:
            self.tell(w, "pass")
            w.state = "running"
        while any(w.state != "passed" for w in group):
            self.receive(group)
            waiting = [w for w in group if w.state == "ready"]
            if waiting and all(w.state in ("ready", "passed") for w in group):
                self.open_folder()
                for w in waiting:
                    w.state = "running"
                    self.tell(w, "go")

    def receive(self, group: list[_Worker], timeout: float | None = None) -> bool:
        """Handles what the workers of `group` sent; False when nothing came within `timeout`."""
        by_object: dict[Any, _Worker] = {}
        for w in group:
            if w.state != "ended":
                by_object[w.conn] = by_object[w.process.sentinel] = w
        ready = wait(list(by_object), timeout)
        for w in dict.fromkeys(by_object[o] for o in ready):
            eof = False
            while w.state != "ended":  # read everything a worker sent, also after it exited
                with stop_signals_held():
                    try:
                        if not w.conn.poll():
                            break
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        eof = True
                        break
                    except Exception as e:  # noqa: BLE001 - a message that does not unpickle
                        w.state = "ended"
                        raise _Failed(w, f"its worker sent an unreadable message ({type(e).__name__})", 1) from None
                    self.handle(w, msg)
            if w.state != "ended" and (eof or not w.process.is_alive()):
                w.state = "ended"
                w.process.join(timeout=5)
                raise _Failed(w, f"its worker process ended unexpectedly (exit code {w.process.exitcode})", 1)
        return bool(ready)

    def handle(self, w: _Worker, msg: ToCoordinator) -> None:
        progress = self.progress if w is self.lead else None
        who = f"{w.label}" if self.mode == "alone" else "+".join(x.label for x in self.workers)
        match msg:
            case Session(environment, settings):
                w.session = (environment, settings)
            case Calibrating(workload):
                if progress is not None:
                    progress.calibrating(f"{w.label}: {workload}")
            case Ready(workload, pacing, total):
                w.state = "ready"
                if progress is not None:
                    progress.condition_started(f"{who} {self.mode}: {workload}", Pacing.from_json(pacing), total)
            case Advanced(completed, total):
                if progress is not None:
                    progress.advanced(completed, total)
            case Finished(condition):
                self.add(w, condition, progress is not None)
            case Passed():
                w.state = "passed"
            case Interrupted(why):
                w.state = "ended"
                raise KeyboardInterrupt(f"{w.label}: its worker was interrupted ({why})")
            case Failed(message, code):
                w.state = "ended"
                raise _Failed(w, message, code)
            case _:
                w.state = "ended"
                raise _Failed(w, f"its worker sent an unknown message ({type(msg).__name__})", 1)

    def add(self, w: _Worker, c: ConditionResult, lead: bool) -> None:
        gpu = replace(c.placement.gpu or GpuIdentity(), label=w.label, worker=w.position)
        c.placement = Placement(gpu=gpu, mode=self.mode, round=self.round)
        if self.writer is None:
            self.open_folder()
        self.result.conditions.append(c)
        if self.writer is not None:
            self.writer.add(c)
        if lead:
            self.progress.condition_finished(c)  # type: ignore[union-attr]

    def open_folder(self) -> None:
        """The results folder is taken when the first condition is about to start: after every
        worker of the first pass started its run (so one refusing leaves no folder behind)."""
        if self.writer is not None or self.result.environment:
            return
        sessions = [w for w in self.workers if w.session is not None]
        if not sessions:
            return
        env, settings = sessions[0].session  # type: ignore[misc]
        env = dict(env)
        env["gpus"] = [
            {"label": w.label, "index": w.index, **(w.session[0].get("gpu") or {})}  # type: ignore[index]
            for w in sessions
        ]
        env["warnings"] = list(dict.fromkeys(x for w in sessions for x in w.session[0].get("warnings", [])))  # type: ignore[index]
        settings = {
            **settings,
            "gpu": [w.index for w in self.workers],
            "gpus": [w.label for w in self.workers],
            "gpu_rounds": self.rounds,
        }
        self.result.environment, self.result.settings = env, settings
        if self.out is not None:
            self.writer = ResultWriter(self.out, env, settings, self.out_mode)
            self.result.path = self.writer.directory

    def stop(self) -> None:
        """Interrupts every worker still running and keeps what they send until they end."""
        live = [w for w in self.workers if w.state != "ended" and w.process.is_alive()]
        for w in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.process.pid, signal.SIGINT)
            with contextlib.suppress(OSError):
                w.conn.send(Order("stop"))  # an idle worker waiting for its next pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(w.state != "ended" for w in live) and time.monotonic() < deadline:
            try:
                if not self.receive(live, timeout=max(0.0, deadline - time.monotonic())):
                    break
            except (KeyboardInterrupt, _Failed):
                continue  # each worker's last word; the run ends anyway
            for w in live:
                if w.state != "ended" and not w.process.is_alive() and not w.conn.poll():
                    w.state = "ended"

    def close(self) -> None:
        try:
            for w in self.workers:
                w.process.join(timeout=5)
                if w.process.is_alive():
                    w.process.kill()
                    w.process.join()
                w.conn.close()
        finally:
            if self.writer is not None:
                self.writer.close()  # the folder goes to the next writer on every way out

    def discard_if_empty(self) -> None:
        if self.writer is not None and not self.writer.finished:
            self.writer.discard()
            self.result.path = None


def run_on_gpus(
    job: Job,
    gpus: list[int],
    *,
    rounds: int = 1,
    out: str | Path | None = None,
    out_mode: str = "new",
    progress: Progress | None = None,
) -> SweepResult:
    """Runs `job(gpu, progress)` on every GPU of `gpus` in its own process, `rounds` times
    together and alone, interleaved; returns (and writes to `out`) every condition, each
    stamped with its placement (`ConditionResult.placement`: its GPU's index, uuid, pci_bus_id,
    name, host, label and worker, "together" or "alone", and the multi-GPU round).

    Ctrl-C (or SIGTERM turned into KeyboardInterrupt) stops every worker, keeps the finished and
    partial conditions and raises SweepInterrupted; a worker's failure stops the others the same
    way and raises WorkerError (UsageError for bad input found in a worker) naming the GPU."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise UsageError(f"rounds must be a whole number >= 1, got {rounds!r}")
    if len(gpus) < 2:
        raise UsageError("run_on_gpus needs two GPUs or more (one runs in this process)")
    co = _Coordinator(job, gpus, rounds, out, out_mode, progress)
    try:
        co.start()
        return co.run()
    except KeyboardInterrupt as e:
        co.stop()
        co.discard_if_empty()
        raise SweepInterrupted(co.result) from e
    except _Failed as f:
        co.stop()
        co.discard_if_empty()
        gpu = f"{f.worker.label}" + ("" if f.worker.label == f"gpu{f.worker.index}" else f" (GPU {f.worker.index})")
        message = f"{gpu}: {f.message}"
        if f.code == EXIT_USAGE:
            raise UsageError(message) from None
        raise WorkerError(message) from None
    finally:
        co.close()
