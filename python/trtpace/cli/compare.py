"""`trtpace compare`: remedies side by side at one gap."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from trtpace.cli.common import (
    Append,
    JsonOutput,
    NoReport,
    Out,
    Overwrite,
    Telemetry,
    TelemetryRate,
    check_gpu_index,
    print_compare,
    run_measurement,
)
from trtpace.cli.sweep import Gpu
from trtpace.measure import workloads
from trtpace.measure.policies import parse_policies
from trtpace.run.compare import DEFAULT_POLICIES
from trtpace.run.compare import compare as run_compare
from trtpace.run.session import Progress


def compare(
    gap: Annotated[float, typer.Option(help="The idle gap in seconds at which the policies are compared.")] = 0.1,
    policies: Annotated[str, typer.Option(help="Comma-separated policies: sleep, spin, hybrid, sync-block, "
                                                "sync-yield, keepwarm:PERIOD[:WORK], prewarm:LEAD[:WORK], "
                                                "prewarm-graph:LEAD, direct, locked:max; join tokens with + "
                                                "(spin+keepwarm:1ms).")] = ",".join(DEFAULT_POLICIES),
    workload: Annotated[str, typer.Option("--workload", "-w", help="The workload (see trtpace sweep).")] = "tiny",
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
) -> None:
    """Compare remedies (waits, sync modes, keep-warm, pre-warm, graphs, locked clocks) at one gap."""
    plan = parse_policies(policies)
    workloads.parse_spec(workload)
    check_gpu_index(gpu)

    def run(progress: Progress | None, folder: Path, mode: str) -> Any:
        return run_compare(workload, gap, plan, rounds=rounds, iterations=iterations, warmup=warmup, gpu=gpu,
                           out=folder, out_mode=mode, progress=progress, telemetry=telemetry,
                           telemetry_rate_hz=telemetry_rate)

    run_measurement("compare", run, out=out, json_output=json_output, no_report=no_report, show=print_compare,
                    overwrite=overwrite, append=append)
