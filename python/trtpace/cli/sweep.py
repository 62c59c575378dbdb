"""`trtpace sweep`: the main job."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from trtpace.cli.common import (
    JsonOutput,
    NoReport,
    Telemetry,
    TelemetryRate,
    apply_gate,
    check_gpu_index,
    print_sweep,
    run_measurement,
)
from trtpace.errors import InputError, UsageError
from trtpace.measure import pacing, workloads
from trtpace.measure.workloads import tensorrt as trt_workloads
from trtpace.platform import device
from trtpace.results.gate import check_limit
from trtpace.run.session import Progress
from trtpace.run.sweep import DEFAULT_WORKLOADS
from trtpace.run.sweep import sweep as run_sweep


def open_loop_schedule(period: float | None, rate: float | None, trace: Path | None, seed: int) -> pacing.Pacing | None:
    given = [name for name, v in (("--period", period), ("--rate", rate), ("--trace", trace)) if v is not None]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} exclude each other: give one open-loop schedule")
    if period is not None:
        return pacing.period(period)
    if rate is not None:
        return pacing.poisson(rate, seed)
    if trace is not None:
        return pacing.trace(trace)
    return None


def torch_factory(spec: str) -> tuple[Any, tuple[Any, ...]]:
    """'package.module:factory' -> factory(), which returns (module, example_inputs)."""
    if not re.fullmatch(r"[\w.]+:\w+", spec):
        raise UsageError(f"--torch takes package.module:factory, got {spec!r}")
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except ImportError as e:
        raise UsageError(f"--torch: cannot import {module_name!r}: {e}") from e
    except AttributeError as e:
        raise UsageError(f"--torch: {module_name!r} has no {attr!r}") from e
    made = factory()
    if not (isinstance(made, tuple) and len(made) == 2):
        raise UsageError(f"--torch: {spec} must return (module, example_inputs)")
    module, example = made
    return module, tuple(example) if isinstance(example, (list, tuple)) else (example,)


def model_workloads(engine: Path | None, onnx: Path | None, torch: str | None, shapes: str | None,
                    inputs: Path | None, rebuild: bool, gpu: int) -> list[workloads.Workload]:
    """The workloads named by --engine, --onnx and --torch (validated before any GPU work)."""
    parsed = trt_workloads.parse_shapes(shapes)
    if (shapes or inputs or rebuild) and not (engine or onnx):
        raise UsageError("--shapes, --inputs and --rebuild go with --engine or --onnx")
    for flag, path in (("--engine", engine), ("--onnx", onnx), ("--inputs", inputs)):
        if path is not None and not path.is_file():
            raise InputError(f"{flag} {path} does not exist")
    if torch is not None and not re.fullmatch(r"[\w.]+:\w+", torch):
        raise UsageError(f"--torch takes package.module:factory, got {torch!r}")
    if engine or onnx:
        trt_workloads.import_tensorrt()
    if engine or onnx or torch:
        device.require_gpu(gpu)
    out = []
    if engine:
        out.append(trt_workloads.from_engine(engine, gpu=gpu, shapes=parsed, inputs=inputs))
    if onnx:
        out.append(trt_workloads.from_onnx(onnx, gpu=gpu, shapes=parsed, inputs=inputs, rebuild=rebuild))
    if torch:
        module, example = torch_factory(torch)
        out.append(workloads.from_torch(module, example, gpu=gpu, name=torch))
    return out


Engine = Annotated[Path | None, typer.Option(help="A TensorRT engine (.engine/.plan) to run.")]
Onnx = Annotated[Path | None, typer.Option(help="An ONNX model, built into a TensorRT engine (cached by model, "
                                                "TensorRT version and GPU).")]
Shapes = Annotated[str | None, typer.Option(help="Shapes of dynamic inputs: name:1x3x640x640,...")]
Inputs = Annotated[Path | None, typer.Option(help="An .npz with the engine's inputs by name (default: random data "
                                                  "of each input's dtype).")]
Rebuild = Annotated[bool, typer.Option("--rebuild", help="Rebuild the engine of --onnx even if cached.")]
Torch = Annotated[str | None, typer.Option(help="package.module:factory returning (torch module, example inputs), "
                                                "captured into a CUDA graph.")]
Gpu = Annotated[int, typer.Option(help="CUDA device index to run on (after CUDA_VISIBLE_DEVICES).")]
Out = Annotated[Path | None, typer.Option(help="Folder for the results (written as each condition finishes). "
                                               "Default: trtpace-results/<command>-<time>.")]


def sweep(
    gaps: Annotated[
        str | None,
        typer.Option(help="Comma-separated idle gaps in seconds, from one inference's completion to the next "
                          "issue (closed loop), e.g. 0,0.1,0.2. A gap-0 baseline is always included."),
    ] = None,
    workload: Annotated[
        list[str] | None,
        typer.Option("--workload", "-w", help="What to run: tiny, medium, large, synthetic:us=..,kernels=.. or "
                                              "host:us=.. (repeat for several). Default: tiny, medium and large."),
    ] = None,
    iterations: Annotated[int, typer.Option(help="Measured inferences per condition.")] = 100,
    warmup: Annotated[int, typer.Option(help="Warm-up inferences per condition, run at that condition's pacing "
                                             "and kept in the results, flagged, but left out of the statistics.")] = 10,
    wait: Annotated[str, typer.Option(help="How the host waits until an inference is due: sleep, spin or hybrid "
                                           "(sleep, then spin the last stretch).")] = "hybrid",
    sync: Annotated[str, typer.Option(help="How the host waits for an inference to complete: spin, block or "
                                           "yield.")] = "spin",
    period: Annotated[float | None, typer.Option(help="Open loop: one inference due every PERIOD seconds; "
                                                      "latency counts from the due time.")] = None,
    rate: Annotated[float | None, typer.Option(help="Open loop: Poisson arrivals at RATE per second (see "
                                                    "--seed); latency counts from the due time.")] = None,
    trace: Annotated[Path | None, typer.Option(help="Open loop: due times from a file, one per line in "
                                                    "seconds (first CSV column, '#' comments).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the Poisson arrivals of --rate.")] = 0,
    out: Out = None,
    gpu: Gpu = 0,
    json_output: JsonOutput = False,
    telemetry: Telemetry = True,
    telemetry_rate: TelemetryRate = None,
    lock_clocks: Annotated[str | None, typer.Option(help="Also run every condition with SM clocks locked "
                                                         "(max, base, MHZ or MIN:MAX), interleaved with the "
                                                         "unlocked runs, and restore them after. Needs root.")] = None,
    no_report: NoReport = False,
    engine: Engine = None,
    onnx: Onnx = None,
    shapes: Shapes = None,
    inputs: Inputs = None,
    rebuild: Rebuild = False,
    torch: Torch = None,
    max_penalty: Annotated[float | None, typer.Option(help="Deployment gate: exit with code 3 when any condition's "
                                                           "p50 penalty exceeds this ratio (e.g. 1.2), after "
                                                           "printing and saving everything.")] = None,
    max_penalty_p99: Annotated[float | None, typer.Option(help="Deployment gate on the p99 penalty (e.g. 1.5); "
                                                               "exit code 3 as --max-penalty.")] = None,
) -> None:
    """Run workloads with idle gaps (or an arrival schedule) and show how much slower they get."""
    check_limit("--max-penalty", max_penalty)
    check_limit("--max-penalty-p99", max_penalty_p99)
    schedule = open_loop_schedule(period, rate, trace, seed)
    gap_list = [p.gap_s for p in pacing.parse_gaps(gaps)] if gaps is not None else None
    check_gpu_index(gpu)
    has_model = bool(engine or onnx or torch)
    specs: list[Any] = [workloads.parse_spec(w) for w in (workload or ([] if has_model else DEFAULT_WORKLOADS))]
    specs += model_workloads(engine, onnx, torch, shapes, inputs, rebuild, gpu)

    def run(progress: Progress | None, folder: Path) -> Any:
        return run_sweep(specs, gap_list, schedule=schedule, iterations=iterations, warmup=warmup, wait=wait,
                         sync=sync, gpu=gpu, out=folder, progress=progress, telemetry=telemetry,
                         telemetry_rate_hz=telemetry_rate, lock_clocks=lock_clocks)

    result = run_measurement("sweep", run, out=out, json_output=json_output, no_report=no_report, show=print_sweep)
    if max_penalty is not None or max_penalty_p99 is not None:
        apply_gate(result, max_penalty, max_penalty_p99)
