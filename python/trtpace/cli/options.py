"""The command-line options `sweep` and `compare` share (typer Annotated types) and the checks
of their values that run before anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trtpace.errors import UsageError
from trtpace.platform import device
from trtpace.run.workers import parse_gpus

NoReport = Annotated[bool, typer.Option("--no-report", help="Do not write report.html next to the results.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the results as JSON instead of tables.")]
Telemetry = Annotated[
    bool,
    typer.Option(
        help="Sample GPU clocks, P-state, clock-event reasons, power and energy "
        "in the background (NVML, or devfreq on Jetson)."
    ),
]
TelemetryRate = Annotated[
    float | None,
    typer.Option(help="Telemetry samples per second. Default: the fastest rate costing under 5% of one core."),
]


def parse_out(text: str) -> Path:
    if not text.strip():
        raise typer.BadParameter("--out needs a folder name ('' would write into the current folder)")
    return Path(text)


Out = Annotated[
    Path | None,
    typer.Option(
        parser=parse_out,
        metavar="DIR",
        help="Folder for the results (written as each condition finishes); it "
        "must be new or empty. Default: trtpace-results/<command>-<time>.",
    ),
]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="Replace an earlier run in --out (its sweep.json, condition files and report.html)."
    ),
]
Append = Annotated[
    bool,
    typer.Option(
        "--append",
        help="Add this run's conditions to the run already in --out (same "
        "command; its environment and settings stay first).",
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Print no progress, tables, notes or warnings: only errors "
        "and the closing 'results saved in DIR' line (results "
        "and report.html are still written; --json still "
        "prints the JSON).",
    ),
]


def out_mode(out: Path | None, overwrite: bool, append: bool) -> str:
    """How run_measurement takes the results folder: checked before anything runs."""
    if overwrite and append:
        raise UsageError("--overwrite and --append exclude each other")
    if (overwrite or append) and out is None:
        raise UsageError(f"{'--overwrite' if overwrite else '--append'} goes with --out DIR")
    return "overwrite" if overwrite else "append" if append else "new" if out is not None else "unique"


def check_gpu_index(gpu: int) -> int:
    if gpu < 0:
        raise UsageError(f"--gpu must be >= 0, got {gpu}")
    return gpu


def gpu_list(text: str, *, needs_gpu: bool, allow_shared: bool, rounds: int = 1) -> list[int]:
    """--gpu as the GPUs to run on, checked before anything runs: the syntax, negatives and
    duplicates first (exit 2), then, for GPU work, the driver and each index against the GPUs CUDA
    sees. Host work takes any indices: they only name the worker processes."""
    if isinstance(rounds, bool) or rounds < 1:
        raise UsageError(f"--gpu-rounds must be >= 1, got {rounds}")
    if text.strip().lower() == "all":
        if needs_gpu:
            device.require_gpu(0)  # no driver or no GPU: said as such
        return parse_gpus(text, gpu_count=device.gpu_count(), allow_shared=allow_shared)
    gpus = parse_gpus(text, gpu_count=None, allow_shared=allow_shared)
    if needs_gpu and len(gpus) > 1:
        for i in gpus:
            device.require_gpu(i)
    return gpus
