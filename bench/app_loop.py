"""The bug report's application loop, measured from outside trtpace's runner, as an app writes it:
decode a JPEG camera frame, preprocess it on the host, infer, read the output on the host.

Latency of one inference = the output is on the host (synchronize or wait() returned) minus the
input is ready on the host (the preprocessed fp16 CHW array exists; for `armed-surface`, the
moment preprocessing finished writing it into the Pacer's pinned input), in us.

Loops (--loops):   dummy    one fixed input, back to back (no decode): the reference of each way
                   decode   each frame decoded + preprocessed, then inferred, back to back
                   camera   frame i due at t0 + i/--fps: sleep until it is due, decode, infer
Ways (--ways):     eager    model(x) from Python, pinned staging copied in, output copied out, sync
                   replay   the same copies and model captured into a torch.cuda.CUDAGraph, replay()
                   graph    trtpace.Pacer(from_torch(..., launch="graph", io="pinned")).infer()
                   armed    Pacer(..., armed="kernel"): arm() in the gap, copy the app's array into
                            the pinned input, release(), wait()
                   armed-surface  the same, preprocessing writing its last step into the pinned input
                   armed-fused    armed-surface with Pacer.infer(): release and wait in one C call
                                  (no interpreter between them)
Models (--models): conv, transformer (bench/models.py), torchvision mobilenet_v3_small, resnet50
(weights=None), all fp16. Each (way, loop) cell of a model runs once per round, in an order that
rotates per round; p50/p99 ratios are to the same way's dummy loop. Takes about 15 minutes at the
defaults (the camera loop runs in real time); --quick is a 1 x 50 smoke test.

    python bench/app_loop.py --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench.models` from a checkout
from bench.args import check_json_target, fail, names, number, software_facts

MODELS = ("conv", "transformer", "mobilenet_v3_small", "resnet50")
WAYS = ("eager", "replay", "graph", "armed", "armed-surface", "armed-fused")
LOOPS = ("dummy", "decode", "camera")
MEAN = (0.485, 0.456, 0.406, 0.5)  # ImageNet RGB, then alpha (the transformer's 4th "channel")
STD = (0.229, 0.224, 0.225, 0.5)
FRAMES, WIDTH, HEIGHT, QUALITY = 8, 1280, 720, 90
GOAL_P50, GOAL_P99 = 1.05, 1.10
CUDA_MODULE_LOADING_AT_START = os.environ.get("CUDA_MODULE_LOADING")  # torch sets it on import


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=names(MODELS), default=list(MODELS), help="comma-separated (default: all)")
    ap.add_argument("--ways", type=names(WAYS), default=list(WAYS), help="comma-separated (default: all)")
    ap.add_argument("--loops", type=names(LOOPS), default=list(LOOPS), help="comma-separated (default: all)")
    ap.add_argument("--rounds", type=number(int, 1), default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--n", type=number(int, 1), default=200, help="measured inferences per cell per round")
    ap.add_argument("--warmup", type=number(int, 0), default=20, help="warm-up inferences per cell per round")
    ap.add_argument("--fps", type=number(float, 0, above=True), default=30.0, help="camera frame rate (default 30)")
    ap.add_argument("--quick", action="store_true", help="1 round x 50: a smoke test")
    ap.add_argument("--json", type=Path, help="write everything here (never overwrites)")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.n = 1, 50
    return a


def imports(a: argparse.Namespace) -> dict[str, Any]:
    """torch, cv2, trtpace (and torchvision where a model needs it), or one line saying what is missing."""
    want = {"torch": "torch", "cv2": "opencv-python-headless", "trtpace": "trtpace"}
    if {"mobilenet_v3_small", "resnet50"} & set(a.models):
        want["torchvision"] = "torchvision"
    mods, missing = {}, []
    for mod, pip in want.items():
        try:
            mods[mod] = importlib.import_module(mod)
        except ImportError as e:
            missing.append(pip if mod != "trtpace" else f"trtpace ({str(e).splitlines()[0]})")
    if missing:
        fail(f"missing {', '.join(missing)}; install it to run this benchmark")
    if not mods["torch"].cuda.is_available():
        fail("torch sees no CUDA GPU (needs an NVIDIA GPU and driver)")
    return mods


def make_frames(cv2: Any) -> list[np.ndarray]:
    """FRAMES different 1280x720 BGR images (smooth gradients + noise, seeded), each JPEG-encoded once."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    out = []
    for i in range(FRAMES):
        ph = 0.7 * i
        img = np.stack(
            [
                127 + 100 * np.sin(xx / 173 + ph),
                127 + 100 * np.cos(yy / 97 - ph),
                127 + 100 * np.sin((xx + yy) / 251 + 2 * ph),
            ],
            axis=-1,
        )
        img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
        if not ok:
            fail("cv2.imencode could not encode a JPEG")
        out.append(buf)
    return out


def layout(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The (C, H, W) image a model's input is filled from: (1, 3, H, W) for an image model; a
    transformer's (4, n, d) input from an n x d RGBA resize, one channel per sequence."""
    if len(shape) == 4 and shape[0] == 1 and shape[1] == 3:
        return 3, shape[2], shape[3]
    if len(shape) != 3 or shape[0] not in (3, 4):
        fail(f"no image layout for an input of shape {tuple(shape)}")
    return shape[0], shape[1], shape[2]


class Preprocess:
    """imdecode -> resize -> BGR to RGB(A) -> HWC to CHW, /255, -mean, /std -> fp16 into `out`."""

    def __init__(self, cv2: Any, chw: tuple[int, int, int]):
        c = chw[0]
        self.cv2, self.size = cv2, (chw[2], chw[1])
        self.code = cv2.COLOR_BGR2RGB if c == 3 else cv2.COLOR_BGR2RGBA
        std, mean = np.asarray(STD[:c], np.float32), np.asarray(MEAN[:c], np.float32)
        self.scale = (1 / (255 * std)).reshape(c, 1, 1)
        self.offset = (mean / std).reshape(c, 1, 1)
        self.tmp = np.empty(chw, np.float32)

    def __call__(self, jpeg: np.ndarray, out: np.ndarray) -> None:
        cv2 = self.cv2
        img = cv2.resize(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), self.size, interpolation=cv2.INTER_LINEAR)
        np.multiply(cv2.cvtColor(img, self.code).transpose(2, 0, 1), self.scale, out=self.tmp)
        np.subtract(self.tmp, self.offset, out=out)  # the last step: float32 -> fp16, written into `out`


def build_model(name: str, torch: Any, mods: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    torch.manual_seed(0)
    if name in ("conv", "transformer"):
        from bench.models import conv_net, transformer_block

        return conv_net() if name == "conv" else transformer_block()
    module = getattr(mods["torchvision"].models, name)(weights=None).eval().half().cuda()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1)).half().cuda()
    return module, (x,)


class TorchWay:
    """eager / replay: the app's own pinned staging buffer, device input, pinned output, on its stream."""

    surface = False

    def __init__(self, torch: Any, module: Any, example: Any, chw: tuple[int, int, int], replay: bool):
        self.torch, self.module = torch, module
        self.x = example.clone()
        self.staging = torch.empty(self.x.shape, dtype=self.x.dtype, pin_memory=True)
        self.staging.copy_(example)
        y = module(self.x)
        self.out_host = torch.empty(y.shape, dtype=y.dtype, pin_memory=True)
        self.dest = self.staging.numpy().reshape(chw)
        self.graph = None
        if replay:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm-up off the default stream, as capture needs
                for _ in range(3):
                    self.body()
            torch.cuda.synchronize()
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.y = self.body()

    def body(self) -> Any:
        self.x.copy_(self.staging, non_blocking=True)
        out = self.module(self.x)
        self.out_host.copy_(out, non_blocking=True)
        return out

    def before(self) -> None:
        pass

    def infer(self) -> Any:
        if self.graph is None:
            self.body()
        else:
            self.graph.replay()
        self.torch.cuda.current_stream().synchronize()
        return None


class PacerWay:
    """graph / armed / armed-surface: a Pacer on from_torch(..., launch="graph", io="pinned")."""

    def __init__(self, pacer: Any, chw: tuple[int, int, int], armed: bool, surface: bool, fused: bool = False):
        self.p, self.armed, self.surface, self.fused = pacer, armed, surface, fused
        host = pacer.inputs["input0"].numpy()
        self.dest = host.reshape(chw)
        if not np.shares_memory(self.dest, host):
            fail("the Pacer's input0 is not contiguous: cannot view it as CHW")

    def before(self) -> None:
        if self.armed:
            self.p.arm()  # right after the previous output was read: during the gap, before decode

    def infer(self) -> Any:
        """The Pacer's record: its device time is read from the GPU's events on access, after
        the loop has stamped the output's arrival."""
        if self.fused:
            return self.p.infer(timeout=5.0)  # armed during the gap: release and wait in one C call
        if self.armed:
            self.p.release()
            return self.p.wait(timeout=5.0)
        return self.p.infer()


def build(name: str, mods: dict[str, Any], ways: list[str], stack: contextlib.ExitStack) -> dict[str, Any]:
    torch, trtpace = mods["torch"], mods["trtpace"]
    module, example = build_model(name, torch, mods)
    chw = layout(tuple(example[0].shape))
    built: dict[str, Any] = {}
    for way in ways:
        if way in ("eager", "replay"):
            built[way] = TorchWay(torch, module, example[0], chw, replay=way == "replay")
            continue
        w = trtpace.workloads.from_torch(
            module, tuple(t.clone() for t in example), name=f"{name} {way}", launch="graph", io="pinned"
        )
        pacer = stack.enter_context(trtpace.Pacer(w, armed="kernel") if way != "graph" else trtpace.Pacer(w))
        built[way] = PacerWay(
            pacer,
            chw,
            armed=way != "graph",
            surface=way in ("armed-surface", "armed-fused"),
            fused=way == "armed-fused",
        )
    return {"ways": built, "chw": chw, "shape": list(example[0].shape), "pre": Preprocess(mods["cv2"], chw)}


def until(due_ns: int) -> None:
    """Sleeps to about 1 ms before `due_ns`, then spins (a camera loop waiting for its frame)."""
    left = due_ns - time.monotonic_ns() - 1_000_000
    if left > 0:
        time.sleep(left / 1e9)
    while time.monotonic_ns() < due_ns:
        pass


# Where an armed inference's latency goes, from its Pacer record, the GPU stamps mapped to the host
# clock (offset measured before and after the cell, interpolated): these parts add up to it (for
# `armed`, less the staging copy, "write us").
ARMED_PARTS = {
    "to_release_us": "input written -> Pacer.release() stamps its issue (Python)",
    "release_us": "the release call (one store)",
    "to_gate_us": "the store -> the gate kernel sees it (PCIe)",
    "gpu_us": "gate -> the done word written (copies, model; device_us is its model part)",
    "notice_us": "the done word written -> the host's wait sees it",
    "return_us": "the wait sees it -> wait() returned to the app (Python)",
}


def split_armed(
    records: list[tuple[int, int, dict[str, Any]]],
    off0: dict[str, int],
    off1: dict[str, int],
    cell: dict[str, list[float]],
) -> None:
    """Appends each armed inference's parts (ARMED_PARTS) to the cell."""
    span = max(off1["host_ns"] - off0["host_ns"], 1)
    for t_ready, t_done, rec in records:
        frac = (rec["issue_ns"] - off0["host_ns"]) / span
        offset = off0["offset_ns"] + frac * (off1["offset_ns"] - off0["offset_ns"])
        gate, done_w = rec["gate_gt_ns"] - offset, rec["done_gt_ns"] - offset
        parts = {
            "to_release_us": rec["issue_ns"] - t_ready,
            "release_us": rec["submitted_ns"] - rec["issue_ns"],
            "to_gate_us": gate - rec["submitted_ns"],
            "gpu_us": done_w - gate,
            "notice_us": rec["done_ns"] - done_w,
            "return_us": t_done - rec["done_ns"],
        }
        for key, ns in parts.items():
            cell.setdefault(key, []).append(ns / 1e3)
        cell.setdefault("wait_driver_calls", []).append(float(rec["wait_driver_calls"]))
        cell.setdefault("wait_driver_us", []).append(float(rec["wait_driver_us"]))
    cell.setdefault("clock_sync_uncertainty_ns", []).extend([off0["uncertainty_ns"], off1["uncertainty_ns"]])


def run_cell(
    way: Any,
    loop: str,
    setup: dict[str, Any],
    frames: list[np.ndarray],
    a: argparse.Namespace,
    dummy: np.ndarray,
    own: np.ndarray,
    cell: dict[str, list[float]],
) -> None:
    pre, now = setup["pre"], time.monotonic_ns
    armed = isinstance(way, PacerWay) and way.armed
    records: list[tuple[int, int, dict[str, Any]]] = []
    off0 = way.p.gpu_clock_offset() if armed else None
    period_ns, t0 = 1e9 / a.fps, now()
    target = way.dest if way.surface else own
    for i in range(a.warmup + a.n):
        way.before()
        if loop == "camera":
            until(t0 + round(i * period_ns))
        t_start = now()
        if loop != "dummy":
            pre(frames[i % len(frames)], target)
        elif way.surface:
            way.dest[...] = dummy  # the fixed input, already where the graph reads it
        t_ready = now()  # input ready on the host
        if not way.surface:
            way.dest[...] = dummy if loop == "dummy" else own  # the staging copy, on the critical path
        t_written = now()
        record = way.infer()
        t_done = now()  # output on the host
        device_us = None if record is None else record["device_us"]
        if i >= a.warmup:
            cell["latency_us"].append((t_done - t_ready) / 1e3)
            cell["host_write_us"].append((t_written - t_ready) / 1e3)
            if loop != "dummy":
                cell["decode_us"].append((t_ready - t_start) / 1e3)
            if device_us is not None:
                cell["device_us"].append(float(device_us))
            if armed:
                records.append((t_written, t_done, dict(record)))
    if off0 is not None:
        split_armed(records, off0, way.p.gpu_clock_offset(), cell)


def p99_ci(x: np.ndarray, rng: np.random.Generator, resamples: int = 1000) -> list[float]:
    """A seeded percentile-bootstrap 95% interval of the p99."""
    boot = np.concatenate([np.percentile(rng.choice(x, (100, x.size)), 99, axis=1) for _ in range(resamples // 100)])
    return [float(v) for v in np.percentile(boot, [2.5, 97.5])]


def summarize(cell: dict[str, list[float]]) -> dict[str, Any]:
    x = np.asarray(cell["latency_us"])
    p50, p99 = np.percentile(x, [50, 99])
    s = {
        "n": int(x.size),
        "p50_us": float(p50),
        "p99_us": float(p99),
        "p99_ci_us": p99_ci(x, np.random.default_rng(0)),
        "mean_us": float(x.mean()),
        "max_us": float(x.max()),
    }
    for key in ("host_write_us", "decode_us", "device_us", *ARMED_PARTS, "wait_driver_us"):
        s[f"{key[:-3]}_p50_us"] = float(np.median(cell[key])) if cell.get(key) else None
    return s


def fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def report(name: str, setup: dict[str, Any], cells: dict[str, Any], a: argparse.Namespace) -> dict[str, Any]:
    print(
        f"\n{name}: input {tuple(setup['shape'])}, {a.rounds} rounds x {a.n} after {a.warmup} warm-up; "
        "input ready -> output on the host"
    )
    print(
        "x: p50/p99 over the same way's dummy loop; vs graph: p50 over the graph way's dummy p50;\n"
        "write, decode: p50 us of the staging copy and of decode + preprocess"
    )
    print(
        f"{'loop':6} {'way':13} {'n':>5} {'p50 us':>8} {'p99 us':>8} {'p99 95% CI':>13} {'p50 x':>6} "
        f"{'p99 x':>6} {'vs graph':>8} {'write us':>8} {'decode':>8}"
    )
    graph_dummy = cells.get("dummy/graph")
    for loop in a.loops:
        for way in a.ways:
            c = cells[f"{loop}/{way}"]
            s, base = c["summary"], cells.get(f"dummy/{way}")
            c["p50_ratio"] = s["p50_us"] / base["summary"]["p50_us"] if base else None
            c["p99_ratio"] = s["p99_us"] / base["summary"]["p99_us"] if base else None
            c["vs_graph_dummy_p50"] = s["p50_us"] / graph_dummy["summary"]["p50_us"] if graph_dummy else None
            lo, hi = s["p99_ci_us"]
            print(
                f"{loop:6} {way:13} {s['n']:5d} {s['p50_us']:8.1f} {s['p99_us']:8.1f} {f'{lo:.0f}-{hi:.0f}':>13} "
                f"{fmt(c['p50_ratio'], '.3f'):>6} {fmt(c['p99_ratio'], '.3f'):>6} "
                f"{fmt(c['vs_graph_dummy_p50'], '.3f'):>8} {fmt(s['host_write_p50_us']):>8} "
                f"{fmt(s['decode_p50_us']):>8}"
            )
    armed_ways = [w for w in a.ways if w.startswith("armed")]
    if armed_ways:
        print("where armed latency goes, p50 us per part (input ready -> output on the host):")
        for key, what in ARMED_PARTS.items():
            print(f"  {key[:-3]:10} {what}")
        keys = [*ARMED_PARTS, "wait_driver_us"]
        print(f"{'loop':6} {'way':13} " + " ".join(f"{k[:-3]:>10}" for k in keys))
        for loop in a.loops:
            for way in armed_ways:
                s = cells[f"{loop}/{way}"]["summary"]
                print(f"{loop:6} {way:13} " + " ".join(f"{fmt(s[k[:-3] + '_p50_us']):>10}" for k in keys))
    cam, ref = cells.get("camera/armed-surface"), cells.get("dummy/armed-surface")
    if not (cam and ref):
        print(f"goal for {name}: not evaluated (needs --ways armed-surface and --loops dummy,camera)")
        return {"evaluated": False}
    r50, r99 = cam["p50_ratio"], cam["p99_ratio"]
    holds = r50 <= GOAL_P50 and r99 <= GOAL_P99
    print(
        f"goal for {name} (armed-surface camera vs its dummy, p50 <= {GOAL_P50:.2f}x and p99 <= {GOAL_P99:.2f}x):\n"
        f"  p50 {cam['summary']['p50_us']:.1f} / {ref['summary']['p50_us']:.1f} us = {r50:.3f}x "
        f"({'yes' if r50 <= GOAL_P50 else 'no'}), p99 {cam['summary']['p99_us']:.1f} / "
        f"{ref['summary']['p99_us']:.1f} us = {r99:.3f}x ({'yes' if r99 <= GOAL_P99 else 'no'}): "
        f"{'HOLDS' if holds else 'does NOT hold'}"
    )
    return {"evaluated": True, "holds": holds, "p50_ratio": r50, "p99_ratio": r99}


def machine(mods: dict[str, Any]) -> dict[str, Any]:
    torch, cv2 = mods["torch"], mods["cv2"]
    driver = None
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader", "-i", "0"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        driver = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 and smi.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "gpu": torch.cuda.get_device_name(0),
        "capability": list(torch.cuda.get_device_capability(0)),
        "driver": driver,
        "cv2": cv2.__version__,
        "cv2_threads": cv2.getNumThreads(),
        **software_facts(torch, mods, CUDA_MODULE_LOADING_AT_START),
    }


def main() -> None:
    a = parse_args()
    check_json_target(a.json)
    mods = imports(a)
    torch, trtpace = mods["torch"], mods["trtpace"]
    timeout_error = getattr(trtpace, "WaitTimeoutError", TimeoutError)
    frames = make_frames(mods["cv2"])
    order = [(way, loop) for way in a.ways for loop in a.loops]
    results: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    with contextlib.ExitStack() as stack, torch.no_grad():
        setups = {name: build(name, mods, a.ways, stack) for name in a.models}
        app_stream = torch.cuda.Stream()  # the app's side stream (eager and replay run on it)
        torch.cuda.synchronize()
        for name, setup in setups.items():
            dummy = np.empty(setup["chw"], np.float16)
            setup["pre"](frames[0], dummy)  # the dummy loop's one fixed input: the first frame, preprocessed
            setup["dummy"], setup["own"] = dummy, np.empty(setup["chw"], np.float16)
            results[name] = {
                f"{loop}/{way}": {
                    "loop": loop,
                    "way": way,
                    "latency_us": [],
                    "host_write_us": [],
                    "decode_us": [],
                    "device_us": [],
                }
                for way, loop in order
            }
        try:
            for r in range(a.rounds):
                shift = r * len(order) // a.rounds
                for name, setup in setups.items():
                    for way, loop in order[shift:] + order[:shift]:
                        gc.collect()
                        with torch.cuda.stream(app_stream):
                            run_cell(
                                setup["ways"][way],
                                loop,
                                setup,
                                frames,
                                a,
                                setup["dummy"],
                                setup["own"],
                                results[name][f"{loop}/{way}"],
                            )
                print(f"round {r + 1}/{a.rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
        except timeout_error as e:
            fail(f"an armed inference did not finish within 5 s: {e}")
    goals = {}
    for name, cells in results.items():
        for c in cells.values():
            c["summary"] = summarize(c)
        goals[name] = report(name, setups[name], cells, a)
    if a.json is not None:
        doc = {
            "benchmark": "bench/app_loop.py",
            "machine": machine(mods),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
            "latency": "output on the host (synchronize/wait returned) minus input ready on the host, us",
            "host_write": "the staging copy of the app's preprocessed array (armed-surface has none: two clock reads)",
            "frames": {"count": FRAMES, "size": [WIDTH, HEIGHT], "jpeg_quality": QUALITY},
            "models": {
                name: {
                    "input_shape": setups[name]["shape"],
                    "image_chw": list(setups[name]["chw"]),
                    "cells": results[name],
                    "goal": goals[name],
                }
                for name in results
            },
        }
        try:
            with open(a.json, "x") as f:
                json.dump(doc, f, indent=1)
        except FileExistsError:
            fail(f"{a.json} appeared during the run; not overwriting it")
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
