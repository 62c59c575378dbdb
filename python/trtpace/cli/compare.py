"""`trtpace compare`: remedies side by side at one gap."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from trtpace.cli.common import (
    Append,
    JsonOutput,
    NoReport,
    Overwrite,
    Telemetry,
    TelemetryRate,
    check_gpu_index,
    print_compare,
    run_measurement,
)
from trtpace.cli.sweep import (
    Engine,
    Gpu,
    Inputs,
    Io,
    Launch,
    Nvtx,
    Onnx,
    Out,
    Rebuild,
    Shapes,
    Torch,
    model_workloads,
    plan_launches,
)
from trtpace.errors import UsageError
from trtpace.measure import workloads
from trtpace.measure.launch import PYTHON_PATHS
from trtpace.measure.policies import parse_policies
from trtpace.run.compare import DEFAULT_POLICIES
from trtpace.run.compare import compare as run_compare
from trtpace.run.session import Progress


def compare(
    gap: Annotated[float, typer.Option(help="The idle gap in seconds at which the policies are compared.")] = 0.1,
    policies: Annotated[str, typer.Option(help="Comma-separated policies: sleep, spin, hybrid, sync-block, "
                                                "sync-yield, keepwarm:PERIOD[:WORK], prewarm:LEAD[:WORK], "
                                                "prewarm-graph:LEAD, cpu-awake, a launch path (eager, python, "
                                                "replay, direct, graph), locked:max; join tokens with + "
                                                "(spin+keepwarm:1ms).")] = ",".join(DEFAULT_POLICIES),
    workload: Annotated[str | None, typer.Option("--workload", "-w", help="The workload (see trtpace sweep). "
                                                                         "Default: tiny.")] = None,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds: each runs the continuous baseline and every "
                                             "policy once.")] = 5,
    iterations: Annotated[int, typer.Option(help="Measured inferences per policy per round.")] = 40,
    warmup: Annotated[int, typer.Option(help="Warm-up inferences per policy per round.")] = 5,
    out: Out = None,
    overwrite: Overwrite = False,
    append: Append = False,
    gpu: Gpu = 0,
    json_output: JsonOutput = False,
    telemetry: Telemetry = True,
    telemetry_rate: TelemetryRate = None,
    no_report: NoReport = False,
    engine: Engine = None,
    onnx: Onnx = None,
    shapes: Shapes = None,
    inputs: Inputs = None,
    rebuild: Rebuild = False,
    torch: Torch = None,
    launch: Launch = None,
    io: Io = "none",
    nvtx: Nvtx = False,
) -> None:
    """Compare remedies (waits, sync modes, keep-warm, pre-warm, graphs, locked clocks) at one gap, on the
    launch path the app uses (--torch/--engine/--onnx with --launch)."""
    plan = parse_policies(policies)
    check_gpu_index(gpu)
    models = [m for m in (engine, onnx, torch) if m]
    if len(models) > 1:
        raise UsageError("compare takes one model: --engine, --onnx or --torch")
    if models and workload is not None:
        raise UsageError("give either --workload or a model (--engine, --onnx, --torch), not both")
    target: Any = workload or "tiny"
    switch_to = None
    if models:
        paths = plan_launches(launch, torch=bool(torch), tensorrt=not torch)["torch" if torch else "tensorrt"]
        # An app on a Python path also sees what the graph launched from C++ would give.
        extra = "graph" if "graph" not in paths and any(p in PYTHON_PATHS for p in paths) else None
        built = model_workloads(engine, onnx, torch, shapes, inputs, rebuild, gpu,
                                ",".join(paths + ([extra] if extra else [])), io)
        if extra and len(built) > len(paths):
            target, switch_to = built[:-1], built[-1]
        else:
            target = built
    else:
        if launch is not None or io != "none":
            raise UsageError("--launch and --io go with --torch, --engine or --onnx")
        workloads.parse_spec(target)

    def run(progress: Progress | None, folder: Path, mode: str) -> Any:
        return run_compare(target, gap, plan, rounds=rounds, iterations=iterations, warmup=warmup, gpu=gpu,
                           out=folder, out_mode=mode, progress=progress, telemetry=telemetry,
                           telemetry_rate_hz=telemetry_rate, switch_to=switch_to, nvtx=nvtx)

    run_measurement("compare", run, out=out, json_output=json_output, no_report=no_report, show=print_compare,
                    overwrite=overwrite, append=append)
