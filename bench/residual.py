"""Where the GPU-side residual of armed launch after a gap comes from, measured.

An armed inference released after an idle gap still runs its graph slower on the GPU than back to
back (app_loop.py: 1.05-1.07x with no host writes and no copies). Each condition below runs the
same armed graph (`from_torch(..., launch="graph", io="none")`, `Pacer(w, armed="kernel")`, one
Pacer per model) and changes one thing about what precedes the release:

  b2b           arm, release, wait, back to back: the baseline of every ratio
  b2b+l2flush   back to back, but first a torch op overwrites a buffer of 2x the L2 size on a side
                stream (that stream synchronized, not the device), then arm: a cold L2, all else warm
  gap           --gap s idle between inferences: arm right after the previous result, sleep to
                about 1 ms before the due time, spin, release
  gap+keepwarm  the same gap with trtpace.KeepWarm(period_ms=1, work_us=5) running through the batch
  gap+touch     the same gap; --lead s before the due time a small torch kernel (1 MB add_) on a
                side stream, synchronized there, then arm, spin to the due time, release
  gap+latearm   the same gap, armed only --lead s before the due time, no touch: tells "the GPU
                woke up" (touch closes it, latearm does not) from "the graph waited long behind the
                gate" (latearm closes it too)

Device time is the graph's own event nodes (`wait()["device_us"]`), end to end is release to wait
return (`done_ns - issue_ns`). NVML (SM clock, memory clock, P-state) is read right before each
release, or every 10th when one sample costs over 20 us. Conditions run interleaved: R rounds of N
inferences per condition, their order rotating per round. About 8 minutes at the defaults.

    python bench/residual.py --json residual.json
    python bench/residual.py --quick --models conv
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench.models` from a checkout
from bench.args import check_json_target, fail, names, number, software_facts

MODELS = ("conv", "transformer", "mobilenet_v3_small")
CONDITIONS = ("b2b", "b2b+l2flush", "gap", "gap+keepwarm", "gap+touch", "gap+latearm")
GAPPED = ("gap", "gap+keepwarm", "gap+touch", "gap+latearm")
REMEDIES = ("gap+keepwarm", "gap+touch", "gap+latearm")  # what may bring gap's device time back
CLOSE = 1.02  # "back": device p50 within this of b2b's
L2_MATCH = 0.02  # b2b+l2flush "reproduces" gap: device ratios this close
NVML_BUDGET_US = 20.0  # a sample costing more is taken every NVML_STRIDE-th inference only
NVML_STRIDE = 10
TOUCH_BYTES = 1 << 20
WIDTH = 100
CUDA_MODULE_LOADING_AT_START = os.environ.get("CUDA_MODULE_LOADING")  # torch sets it on import


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=names(MODELS), default=list(MODELS), help="comma-separated (default: all)")
    ap.add_argument(
        "--conditions",
        type=names(CONDITIONS),
        default=list(CONDITIONS),
        help="comma-separated, b2b among them (default: all)",
    )
    ap.add_argument(
        "--gap",
        type=number(float, 0, above=True),
        default=0.033,
        help="seconds from one result to the next release (default 0.033)",
    )
    ap.add_argument(
        "--lead",
        type=number(float, 0, above=True),
        default=0.002,
        help="seconds before the release that gap+touch touches and gap+latearm arms (default 0.002)",
    )
    ap.add_argument("--rounds", type=number(int, 1), default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--n", type=number(int, 1), default=200, help="measured inferences per condition per round")
    ap.add_argument(
        "--warmup",
        type=number(int, 0),
        default=5,
        help="unrecorded inferences opening each condition's batch (default 5)",
    )
    ap.add_argument("--quick", action="store_true", help="1 round x 40: a smoke test")
    ap.add_argument("--json", type=Path, help="write the raw numbers here (never overwrites)")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.n = 1, 40
    if "b2b" not in a.conditions:
        ap.error("--conditions: b2b is the baseline of every ratio; keep it")
    if a.lead >= a.gap:
        ap.error(f"--lead {a.lead:g} must be shorter than --gap {a.gap:g}")
    return a


def imports(a: argparse.Namespace) -> dict[str, Any]:
    """torch, pynvml, trtpace (and torchvision where a model needs it), or one line saying what is missing."""
    want = {"torch": "torch", "pynvml": "nvidia-ml-py", "trtpace": "trtpace"}
    if "mobilenet_v3_small" in a.models:
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


def build_model(name: str, torch: Any, mods: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    torch.manual_seed(0)
    if name in ("conv", "transformer"):
        from bench.models import conv_net, transformer_block

        return conv_net() if name == "conv" else transformer_block()
    module = getattr(mods["torchvision"].models, name)(weights=None).eval().half().cuda()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1)).half().cuda()
    return module, (x,)


def until(due_ns: int) -> None:
    """Sleeps to about 1 ms before `due_ns`, then spins (a camera loop waiting for its frame)."""
    left = due_ns - time.monotonic_ns() - 1_000_000
    if left > 0:
        time.sleep(left / 1e9)
    while time.monotonic_ns() < due_ns:
        pass


class Nvml:
    """SM clock, memory clock and P-state of CUDA device 0, found by its PCI bus id."""

    def __init__(self, pynvml: Any):
        self.nv = pynvml
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:
            fail(f"NVML is not available: {e}")
        self.how = "PCI bus id of CUDA device 0"
        try:
            from trtpace.platform import device

            bus = str(device.require_gpu(0)["pci_bus_id"])
            self.handle = pynvml.nvmlDeviceGetHandleByPciBusId(bus.encode())
        except Exception:  # noqa: BLE001 - an older core or NVML refusing the id: NVML's own index 0
            self.how = "NVML index 0 (the PCI bus id lookup failed)"
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        self.stride = 1
        self.cost_us: dict[str, float] = {}

    def sample(self) -> tuple[int, int, int]:
        nv, h = self.nv, self.handle
        return (
            int(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)),
            int(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM)),
            int(nv.nvmlDeviceGetPerformanceState(h)),
        )

    def calibrate(self, n: int = 50) -> str:
        """Times each call and a whole sample; picks every inference or every NVML_STRIDE-th."""
        nv, h = self.nv, self.handle
        calls = {
            "nvmlDeviceGetClockInfo(SM)": lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM),
            "nvmlDeviceGetClockInfo(MEM)": lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM),
            "nvmlDeviceGetPerformanceState": lambda: nv.nvmlDeviceGetPerformanceState(h),
            "sample": self.sample,
        }
        for what, fn in calls.items():
            for _ in range(5):
                fn()
            t = []
            for _ in range(n):
                t0 = time.perf_counter_ns()
                fn()
                t.append(time.perf_counter_ns() - t0)
            self.cost_us[what] = float(np.median(t)) / 1e3
        cost = self.cost_us["sample"]
        self.stride = 1 if cost <= NVML_BUDGET_US else NVML_STRIDE
        each = ", ".join(f"{k.removeprefix('nvmlDevice')} {v:.1f}" for k, v in self.cost_us.items() if k != "sample")
        return f"NVML sample (SM clock, MEM clock, P-state) costs {cost:.1f} us p50 ({each} us): " + (
            "taken before every release"
            if self.stride == 1
            else f"over {NVML_BUDGET_US:.0f} us, so taken before every {NVML_STRIDE}th release only"
        )

    def driver(self) -> str:
        v = self.nv.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)

    def name(self) -> str:
        v = self.nv.nvmlDeviceGetName(self.handle)
        return v.decode() if isinstance(v, bytes) else str(v)

    def max_clocks(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for key, clock in (("max_sm_mhz", self.nv.NVML_CLOCK_SM), ("max_mem_mhz", self.nv.NVML_CLOCK_MEM)):
            try:
                out[key] = int(self.nv.nvmlDeviceGetMaxClockInfo(self.handle, clock))
            except self.nv.NVMLError:
                out[key] = None
        return out


class Side:
    """The torch work some conditions run before arming, on a stream of their own."""

    def __init__(self, torch: Any):
        props = torch.cuda.get_device_properties(0)
        self.l2_bytes = int(getattr(props, "L2_cache_size", 0) or 0)
        self.l2_known = self.l2_bytes > 0
        if not self.l2_known:
            self.l2_bytes = 64 << 20  # more than any H100/H200 L2: the flush stays 2x it
        self.stream = torch.cuda.Stream()
        self.flush_buf = torch.zeros(2 * self.l2_bytes // 4, dtype=torch.int32, device="cuda")
        self.scratch = torch.zeros(TOUCH_BYTES // 4, dtype=torch.float32, device="cuda")
        torch.cuda.synchronize()  # before anything is armed
        self.torch = torch
        self.flush()  # load both kernels now: a lazy load while armed would wait for the gate
        self.touch()

    def flush(self) -> None:
        """Reads and rewrites 2x the L2: whatever the graph left in it is evicted."""
        with self.torch.cuda.stream(self.stream):
            self.flush_buf.add_(1)
        self.stream.synchronize()

    def touch(self) -> None:
        with self.torch.cuda.stream(self.stream):
            self.scratch.add_(1)
        self.stream.synchronize()


def empty_cell() -> dict[str, Any]:
    return {
        "device_us": [],
        "e2e_us": [],
        "armed_us": [],
        "round": [],
        "relaunched": 0,
        "nvml": [],
        "keepwarm_fired": [],
    }


def run_batch(
    cond: str, p: Any, side: Side, nvml: Nvml, trtpace: Any, a: argparse.Namespace, r: int, cell: dict[str, Any]
) -> None:
    """warmup + n armed inferences of one condition; records the last n into `cell`."""
    gap_ns, lead_ns = round(a.gap * 1e9), round(a.lead * 1e9)
    kw = trtpace.KeepWarm(period_ms=1, work_us=5, gpu=0) if cond == "gap+keepwarm" else None
    now = time.monotonic_ns
    gc.collect()
    gc.disable()
    try:
        if kw is not None:
            kw.start()
        fired0 = kw.fired if kw is not None else 0
        late = cond in ("gap+touch", "gap+latearm")  # armed only `lead` before the release
        due = now() + gap_ns
        for i in range(a.warmup + a.n):
            measured = i >= a.warmup
            if cond == "b2b+l2flush":
                side.flush()  # before arm: no other stream's work while armed
            if not late:
                p.arm()  # right after the previous result
            if cond in GAPPED:
                if late:
                    until(due - lead_ns)
                    if cond == "gap+touch":
                        side.touch()
                    p.arm()
                until(due)
            sample, cost_us = None, 0.0
            if measured and (i - a.warmup) % nvml.stride == 0:
                t0 = time.perf_counter_ns()
                sample = nvml.sample()
                cost_us = (time.perf_counter_ns() - t0) / 1e3
            p.release()
            rec = p.wait(timeout=5.0)
            due = now() + gap_ns
            if measured:
                cell["device_us"].append(float(rec["device_us"]))
                cell["e2e_us"].append((rec["done_ns"] - rec["issue_ns"]) / 1e3)
                cell["armed_us"].append((rec["issue_ns"] - rec["armed_ns"]) / 1e3)
                cell["round"].append(r)
                cell["relaunched"] += bool(rec.get("relaunched"))
                if sample is not None:
                    cell["nvml"].append(
                        {
                            "round": r,
                            "i": i - a.warmup,
                            "sm_mhz": sample[0],
                            "mem_mhz": sample[1],
                            "pstate": sample[2],
                            "cost_us": cost_us,
                        }
                    )
        if kw is not None:
            cell["keepwarm_fired"].append(int(kw.fired) - int(fired0))
    finally:
        if kw is not None:
            kw.stop()
        gc.enable()


def summarize(cell: dict[str, Any]) -> dict[str, Any]:
    dev, e2e = np.asarray(cell["device_us"]), np.asarray(cell["e2e_us"])
    sm = [s["sm_mhz"] for s in cell["nvml"]]
    mem = [s["mem_mhz"] for s in cell["nvml"]]
    states = Counter(s["pstate"] for s in cell["nvml"])
    return {
        "n": int(dev.size),
        "device_p50_us": float(np.median(dev)),
        "device_p99_us": float(np.percentile(dev, 99)),
        "e2e_p50_us": float(np.median(e2e)),
        "e2e_p99_us": float(np.percentile(e2e, 99)),
        "armed_p50_us": float(np.median(cell["armed_us"])),
        "sm_mhz_p50": float(np.median(sm)) if sm else None,
        "mem_mhz_p50": float(np.median(mem)) if mem else None,
        "pstates": {f"P{k}": v for k, v in sorted(states.items())},
        "nvml_samples": len(sm),
        "nvml_cost_p50_us": float(np.median([s["cost_us"] for s in cell["nvml"]])) if sm else None,
        "relaunched": cell["relaunched"],
    }


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def verdict(name: str, ratio: dict[str, float], lead_ms: float) -> str:
    """One sentence: what brings gap's device time back within CLOSE of b2b, and whether a cold L2
    back to back costs as much."""
    g = ratio.get("gap")
    if g is None:
        return f"{name}: no verdict: it needs the gap condition."
    tried = [c for c in REMEDIES if c in ratio]
    back = [c for c in tried if ratio[c] <= CLOSE]
    l2 = ratio.get("b2b+l2flush")
    l2_repro = l2 is not None and abs(l2 - g) <= L2_MATCH
    if g <= CLOSE:
        reading = f"there is no device-time residual at this gap (within {CLOSE:.2f}x of b2b)"
    elif "gap+latearm" in back:
        reading = (
            f"the residual is the armed graph waiting long behind the gate: arming {lead_ms:g} ms "
            "before the release, with no other work, brings it back"
        )
    elif "gap+touch" in back and "gap+keepwarm" in back:
        reading = "the residual is the GPU waking from idle: any work shortly before the release brings it back"
    elif "gap+touch" in back:
        reading = (
            f"the residual is the GPU waking from idle: one small kernel {lead_ms:g} ms before the release "
            "brings it back" + (", KeepWarm does not" if "gap+keepwarm" in tried else "")
        )
    elif "gap+keepwarm" in back:
        reading = "the residual is the GPU's idle power state: KeepWarm's filler every 1 ms brings it back" + (
            ", one kernel before the release does not" if "gap+touch" in tried else ""
        )
    elif l2_repro:
        reading = "the residual is a cold L2: a flush back to back costs as much, and waking the GPU does not help"
    elif tried:
        reading = f"no candidate tried brings the residual back within {CLOSE:.2f}x"
    else:
        reading = "no remedy condition was run"
    nums = ", ".join(f"{c} {ratio[c]:.2f}x" for c in ("gap", *tried) if c in ratio)
    within = f"within {CLOSE:.2f}x of b2b: {', '.join(back) or 'none'}"
    if l2 is None:
        l2_note = "b2b+l2flush not run"
    elif l2_repro:
        l2_note = f"b2b+l2flush {l2:.2f}x reproduces gap's {g:.2f}x: a cold L2 alone costs as much"
    else:
        l2_note = f"b2b+l2flush {l2:.2f}x, {abs(l2 - g):.2f} from gap's: L2 is not it"
    return f"{name}: {reading}: {nums} ({within}); {l2_note}."


def report(name: str, cells: dict[str, dict[str, Any]], a: argparse.Namespace, nvml_stride: int) -> dict[str, Any]:
    summ = {c: summarize(cells[c]) for c in a.conditions}
    base = summ["b2b"]
    ratios: dict[str, dict[str, float]] = {}
    costs = [c["cost_us"] for cell in cells.values() for c in cell["nvml"]]
    print(
        f"\n{name}: armed kernel gate, gap {a.gap * 1e3:g} ms, {a.rounds} rounds x {a.n} per condition\n"
        "device: the graph's event nodes; e2e: release -> wait returned; x: over b2b's p50 (p99 x: p99s)\n"
        f"NVML before {'every' if nvml_stride == 1 else f'every {nvml_stride}th'} release: "
        f"{fmt(float(np.median(costs)) if costs else None, '.1f')} us p50 per sample in this run"
    )
    head = (
        f"{'condition':13} {'n':>5} {'dev p50 us':>10} {'dev x':>6} {'e2e p50 us':>10} {'e2e x':>6} "
        f"{'p99 x':>6} {'SM MHz':>7} {'MEM MHz':>7} {'P-state':>9}"
    )
    print(head)
    print("-" * len(head))
    for c in a.conditions:
        s = summ[c]
        ratios[c] = {
            "device_p50": s["device_p50_us"] / base["device_p50_us"],
            "e2e_p50": s["e2e_p50_us"] / base["e2e_p50_us"],
            "e2e_p99": s["e2e_p99_us"] / base["e2e_p99_us"],
        }
        x = ratios[c]
        pstate = "/".join(s["pstates"]) or "-"
        print(
            f"{c:13} {s['n']:5d} {s['device_p50_us']:10.1f} {x['device_p50']:6.3f} {s['e2e_p50_us']:10.1f} "
            f"{x['e2e_p50']:6.3f} {x['e2e_p99']:6.3f} {fmt(s['sm_mhz_p50'], '.0f'):>7} "
            f"{fmt(s['mem_mhz_p50'], '.0f'):>7} {pstate:>9}"
        )
        if s["relaunched"]:
            print(f"  {c}: {s['relaunched']} inferences ran again plainly (the gate let go by itself)")
        if len(s["pstates"]) > 1:
            print(f"  {c}: P-states seen {s['pstates']}")
    text = verdict(name, {c: x["device_p50"] for c, x in ratios.items()}, a.lead * 1e3)
    print(textwrap.fill(text, WIDTH, subsequent_indent="  "))
    return {"summary": summ, "ratios": ratios, "verdict": text}


def machine(mods: dict[str, Any], nvml: Nvml, side: Side) -> dict[str, Any]:
    torch = mods["torch"]
    props = torch.cuda.get_device_properties(0)
    return {
        "gpu": nvml.name(),
        "gpu_torch": torch.cuda.get_device_name(0),
        "driver": nvml.driver(),
        "nvml_device": nvml.how,
        **nvml.max_clocks(),
        "capability": list(torch.cuda.get_device_capability(0)),
        "sms": int(props.multi_processor_count),
        "l2_bytes": side.l2_bytes if side.l2_known else None,
        "flush_bytes": 2 * side.l2_bytes,
        **software_facts(torch, mods, CUDA_MODULE_LOADING_AT_START),
    }


def main() -> None:
    a = parse_args()
    check_json_target(a.json)
    mods = imports(a)
    torch, trtpace = mods["torch"], mods["trtpace"]
    timeout_error = getattr(trtpace, "WaitTimeoutError", TimeoutError)
    nvml = Nvml(mods["pynvml"])
    results: dict[str, dict[str, dict[str, Any]]] = {}
    started = time.monotonic()
    with contextlib.ExitStack() as stack, torch.no_grad():
        side = Side(torch)
        pacers = {}
        for name in a.models:
            module, example = build_model(name, torch, mods)
            w = trtpace.workloads.from_torch(module, example, name=name, launch="graph", io="none")
            pacers[name] = stack.enter_context(trtpace.Pacer(w, armed="kernel"))
            results[name] = {c: empty_cell() for c in a.conditions}
        torch.cuda.synchronize()  # everything built and idle before the first arm
        cal = nvml.calibrate()
        print(
            f"{nvml.name()}, driver {nvml.driver()}, L2 "
            f"{f'{side.l2_bytes / 2**20:.0f} MiB' if side.l2_known else 'size unknown (flush 128 MiB)'}, "
            f"CUDA_MODULE_LOADING={os.environ.get('CUDA_MODULE_LOADING')}"
        )
        print(textwrap.fill(cal, WIDTH))
        gapped = sum(c in GAPPED for c in a.conditions)
        est = a.rounds * len(a.models) * gapped * (a.warmup + a.n) * a.gap
        print(
            f"{len(a.models)} models x {len(a.conditions)} conditions x {a.rounds} rounds x {a.n}: "
            f"about {est / 60:.1f} min of gaps",
            flush=True,
        )
        try:
            for r in range(a.rounds):
                shift = r * len(a.conditions) // a.rounds
                order = a.conditions[shift:] + a.conditions[:shift]
                for name, p in pacers.items():
                    for cond in order:
                        run_batch(cond, p, side, nvml, trtpace, a, r, results[name][cond])
                print(f"round {r + 1}/{a.rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
        except timeout_error as e:
            fail(f"an armed inference did not finish within 5 s: {e}")
    reports = {name: report(name, cells, a, nvml.stride) for name, cells in results.items()}
    if a.json is not None:
        doc = {
            "benchmark": "bench/residual.py",
            "machine": machine(mods, nvml, side),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
            "device_us": "the graph's own event nodes (Pacer.wait()['device_us'])",
            "e2e_us": "done_ns - issue_ns of the record: release -> wait returned",
            "armed_us": "issue_ns - armed_ns: how long the inference sat armed before its release",
            "nvml": {
                "cost_us_p50": nvml.cost_us,
                "stride": nvml.stride,
                "budget_us": NVML_BUDGET_US,
                "when": "right before release(), measured inferences only",
            },
            "thresholds": {"close": CLOSE, "l2_match": L2_MATCH},
            "models": {name: {"cells": results[name], **reports[name]} for name in results},
        }
        try:
            with open(a.json, "x") as f:
                json.dump(doc, f, indent=1)
        except FileExistsError:
            fail(f"{a.json} appeared during the run; not overwriting it")
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
