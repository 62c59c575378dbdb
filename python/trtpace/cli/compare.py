"""`trtpace compare`: remedies side by side at one gap."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import typer

from trtpace.cli.driver import run_measurement
from trtpace.cli.errors import set_quiet
from trtpace.cli.options import Append, JsonOutput, NoReport, Out, Overwrite, Quiet, Telemetry, TelemetryRate, gpu_list
from trtpace.cli.output import show_compare
from trtpace.cli.progress import Planned
from trtpace.cli.sweep import (
    AllowSharedGpu,
    Engine,
    GapWorkSpec,
    Gpu,
    GpuRounds,
    Inputs,
    Io,
    Launch,
    Nvtx,
    Onnx,
    Rebuild,
    Shapes,
    Torch,
    UntilStable,
    model_workloads,
    plan_launches,
)
from trtpace.errors import UsageError
from trtpace.measure import pacing, workloads
from trtpace.measure.gap_work import parse_gap_work
from trtpace.measure.launch import PYTHON_PATHS, launch_of
from trtpace.measure.policies import Policy, parse_policies
from trtpace.measure.stability import parse_target
from trtpace.run.compare import DEFAULT_POLICIES, plan_steps
from trtpace.run.compare import compare as run_compare
from trtpace.run.session import Progress
from trtpace.run.workers import run_on_gpus

GPU_ONLY = "keep-warm, pre-warm, armed launch and locked clocks need a GPU workload"


def needs_gpu(p: Policy) -> bool:
    """Does the policy need a GPU workload (keep-warm, pre-warm, armed launch, locked clocks)?"""
    return p.uses_filler or bool(p.armed_gate) or bool(p.lock_clocks)


def applicable(plan: list[Policy], workload: str, gpu_work: bool) -> tuple[list[Policy], str | None]:
    """The policies that can run on the workload, and the note saying which were left out and
    why (None: all can): on host work (no GPU) keep-warm, pre-warm, armed launch and locked
    clocks cannot. None left is a usage error (exit 2)."""
    if gpu_work:
        return plan, None
    kept = [p for p in plan if not needs_gpu(p)]
    left_out = [p for p in plan if needs_gpu(p)]
    if not left_out:
        return plan, None
    if not kept:
        raise UsageError(
            f"none of the policies runs on {workload}, which has no GPU work: {GPU_ONLY} (try "
            "--policies sleep,spin, or a GPU workload such as -w tiny)"
        )
    return kept, (
        f"left out {', '.join(p.name for p in left_out)}: {GPU_ONLY}, and {workload} runs on the CPU; "
        f"compared {', '.join(p.name for p in kept)}"
    )


def compare_plan(
    plan: list[Policy], gap_s: float, target: Any, switch_to: Any, rounds: int, count: int
) -> list[Planned]:
    """The conditions a compare reports, in its order: per round, each launch path's continuous
    baseline and its policies, then the switch-to path's (trtpace.run.compare.plan_steps)."""
    paths = {launch_of(w.info): w for w in target} if isinstance(target, list) else {}
    try:
        steps, _ = plan_steps(plan, pacing.gap(gap_s), paths, switch_to)
    except UsageError:  # a bad gap: said by the run itself, in its words
        return []
    return [
        Planned(p, count, launch_of(wl.info) if wl is not None else "") for _ in range(rounds) for _, p, wl, _ in steps
    ]


# Long because typer declares each of the command's options as one parameter.
def compare(
    gap: Annotated[float, typer.Option(help="The idle gap in seconds at which the policies are compared.")] = 0.1,
    policies: Annotated[
        str,
        typer.Option(
            help="Comma-separated policies: sleep, spin, hybrid[:MARGIN], sync-block, sync-yield, sync-flag, "
            "keepwarm:PERIOD[:WORK], prewarm:LEAD[:WORK], prewarm-graph:LEAD, armed[:wait|:kernel|:resident] "
            "[:cancellable] [:timeout=T] (graph paths), cpu-awake, a launch path (eager, python, replay, "
            "direct, graph), locked:max; join tokens with + (spin+keepwarm:1ms). Default: "
            f"{', '.join(DEFAULT_POLICIES)}. On host work (no GPU) the policies that need a GPU are left out, "
            "with a note.",
            show_default=False,
        ),
    ] = ",".join(DEFAULT_POLICIES),
    workload: Annotated[
        str | None, typer.Option("--workload", "-w", help="The workload (see trtpace sweep). Default: tiny.")
    ] = None,
    rounds: Annotated[
        int, typer.Option(help="Interleaved rounds: each runs the continuous baseline and every policy once.")
    ] = 5,
    iterations: Annotated[
        int,
        typer.Option(
            help="Measured inferences per policy per round. The default (40, "
            "x 5 rounds: 200 per policy) ranks the policies on p50 and says "
            "so: a p99 ranking needs 1,000 per policy (e.g. --iterations "
            "200), about 5x as long."
        ),
    ] = 40,
    warmup: Annotated[int, typer.Option(help="Warm-up inferences per policy per round.")] = 5,
    out: Out = None,
    overwrite: Overwrite = False,
    append: Append = False,
    gpu: Gpu = "0",
    allow_shared_gpu: AllowSharedGpu = False,
    gpu_rounds: GpuRounds = 1,
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
    gap_work: GapWorkSpec = None,
    until_stable: UntilStable = None,
    quiet: Quiet = False,
) -> None:
    """Compare remedies (waits, sync modes, keep-warm, pre-warm, graphs, locked clocks) at one gap, on the
    launch path the app uses (--torch/--engine/--onnx with --launch)."""
    set_quiet(quiet)
    work = parse_gap_work(gap_work)
    stable = parse_target(until_stable)
    plan = parse_policies(policies)
    models = [m for m in (engine, onnx, torch) if m]
    if len(models) > 1:
        raise UsageError("compare takes one model: --engine, --onnx or --torch")
    if models and workload is not None:
        raise UsageError("give either --workload or a model (--engine, --onnx, --torch), not both")
    gpu_work = bool(models) or workloads.parse_spec(workload or "tiny").needs_gpu
    plan, left_out = applicable(plan, workload or "tiny", gpu_work)
    policies = ",".join(p.name for p in plan)
    gpus = gpu_list(gpu, needs_gpu=gpu_work, allow_shared=allow_shared_gpu, rounds=gpu_rounds)
    given: dict[str, Any] = {
        "workload": workload,
        "engine": engine,
        "onnx": onnx,
        "torch": torch,
        "shapes": shapes,
        "inputs": inputs,
        "rebuild": rebuild,
        "launch": launch,
        "io": io,
    }
    settings: dict[str, Any] = {
        "gap_s": gap,
        "rounds": rounds,
        "iterations": iterations,
        "warmup": warmup,
        "telemetry": telemetry,
        "telemetry_rate_hz": telemetry_rate,
        "nvtx": nvtx,
        "gap_work": work,
        "until_stable": stable.rel if stable else None,
    }
    count = iterations + warmup
    if len(gpus) > 1:
        target, switch_to = compare_target(gpu=gpus[0], build=False, **given)
        job = functools.partial(compare_job, policies=policies, given=given, run=settings)
        # the lead GPU reports its together and alone passes; the others' alone passes take as long
        progress_plan = compare_plan(plan, gap, target, switch_to, rounds, count) * (2 * gpu_rounds)
        scale = (1 + len(gpus)) / 2

        def run(progress: Progress | None, folder: Path, mode: str) -> Any:
            return run_on_gpus(job, gpus, rounds=gpu_rounds, out=folder, out_mode=mode, progress=progress)
    else:
        target, switch_to = compare_target(gpu=gpus[0], **given)
        progress_plan, scale = compare_plan(plan, gap, target, switch_to, rounds, count), 1.0

        def run(progress: Progress | None, folder: Path, mode: str) -> Any:
            return run_compare(
                target,
                policies=plan,
                gpu=gpus[0],
                out=folder,
                out_mode=mode,
                progress=progress,
                switch_to=switch_to,
                **settings,
            )

    run_measurement(
        "compare",
        run,
        out=out,
        json_output=json_output,
        no_report=no_report,
        show=show_compare,
        overwrite=overwrite,
        append=append,
        plan=progress_plan,
        plan_scale=scale,
        notes=[left_out] if left_out else [],
    )


def compare_target(
    workload: str | None,
    engine: Path | None,
    onnx: Path | None,
    torch: str | None,
    shapes: str | None,
    inputs: Path | None,
    rebuild: bool,
    launch: str | None,
    io: str,
    gpu: int,
    build: bool = True,
) -> tuple[Any, Any]:
    """What compare runs: the workload spec, or the model's workloads per launch path, and the path an app on
    a Python path could switch to (checked without building where build=False)."""
    models = [m for m in (engine, onnx, torch) if m]
    target: Any = workload or "tiny"
    switch_to = None
    if models:
        paths = plan_launches(launch, torch=bool(torch), tensorrt=not torch)["torch" if torch else "tensorrt"]
        # An app on a Python path also sees what the graph launched from C++ would give.
        extra = "graph" if "graph" not in paths and any(p in PYTHON_PATHS for p in paths) else None
        built = model_workloads(
            engine,
            onnx,
            torch,
            shapes,
            inputs,
            rebuild,
            gpu,
            ",".join(paths + ([extra] if extra else [])),
            io,
            build=build,
        )
        if extra and len(built) > len(paths):
            target, switch_to = built[:-1], built[-1]
        else:
            target = built
    else:
        if launch is not None or io != "none":
            raise UsageError("--launch and --io go with --torch, --engine or --onnx")
        workloads.parse_spec(target)
    return target, switch_to


def compare_job(gpu: int, progress: Any, *, policies: str, given: dict[str, Any], run: dict[str, Any]) -> Any:
    """One GPU's whole compare in a multi-GPU worker process: it builds its own workloads there."""
    target, switch_to = compare_target(gpu=gpu, **given)
    return run_compare(
        target, policies=parse_policies(policies), gpu=gpu, progress=progress, switch_to=switch_to, **run
    )
