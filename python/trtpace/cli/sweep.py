"""`trtpace sweep`: the main job."""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from trtpace.cli.driver import apply_gate, run_measurement
from trtpace.cli.errors import set_quiet, warn
from trtpace.cli.options import Append, JsonOutput, NoReport, Out, Overwrite, Quiet, Telemetry, TelemetryRate, gpu_list
from trtpace.cli.output import show_sweep
from trtpace.cli.progress import Planned
from trtpace.errors import InputError, UsageError
from trtpace.measure import pacing, workloads
from trtpace.measure.gap_work import parse_gap_work
from trtpace.measure.launch import LAUNCH_PATHS, TENSORRT_PATHS, TORCH_PATHS, parse_launch
from trtpace.measure.stability import parse_target
from trtpace.measure.workloads import tensorrt as trt_workloads
from trtpace.platform import device
from trtpace.platform.privileges import may_change_clocks
from trtpace.results.gate import check_limit, check_mode
from trtpace.run.session import Progress
from trtpace.run.sweep import DEFAULT_WORKLOADS, check_gap_work, plan_pacings
from trtpace.run.sweep import sweep as run_sweep
from trtpace.run.workers import run_on_gpus


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


def plan_launches(launch: str | None, *, torch: bool, tensorrt: bool) -> dict[str, list[str]]:
    """The launch paths of each kind of model given: {"torch": [...], "tensorrt": [...]}.

    Without --launch each model runs through every path it has (PyTorch: eager, replay, graph;
    TensorRT: python, graph). A path given must apply to at least one of the models."""
    if launch is None:
        return {"torch": list(TORCH_PATHS), "tensorrt": list(TENSORRT_PATHS)}
    kinds = {"torch": TORCH_PATHS if torch else (), "tensorrt": TENSORRT_PATHS if tensorrt else ()}
    allowed = [p for p in LAUNCH_PATHS if any(p in paths for paths in kinds.values())]
    if not allowed:
        raise UsageError(
            "--launch goes with --torch, --engine or --onnx (synthetic workloads take launch= in "
            "their spec, e.g. -w tiny:launch=direct)"
        )
    paths = parse_launch(launch, allowed)
    return {k: [p for p in paths if p in ok] for k, ok in kinds.items()}


def tensorrt_launches(paths: list[str], explicit: bool) -> list[str | None]:
    """The `launch=` values to pass the TensorRT workload builders; None: the builder's own (graph)
    where this trtpace's TensorRT support takes no launch= yet."""
    if "launch" in inspect.signature(trt_workloads.from_engine).parameters:
        return list(paths)
    if explicit and paths != ["graph"]:
        raise UsageError(
            "--launch python needs TensorRT workloads that take launch= (not in this build of "
            "trtpace): use --launch graph"
        )
    if paths != ["graph"]:
        warn("this build's TensorRT workloads launch only through a graph: measuring --launch graph")
    return [None]


def model_workloads(
    engine: Path | None,
    onnx: Path | None,
    torch: str | None,
    shapes: str | None,
    inputs: Path | None,
    rebuild: bool,
    gpu: int,
    launch: str | None = None,
    io: str = "none",
    precision: tuple[str, ...] = (),
    build: bool = True,
) -> list[workloads.Workload]:
    """The workloads named by --engine, --onnx and --torch, one per launch path (validated before
    any GPU work; with build=False only validated, as a multi-GPU run does before its workers build them)."""
    parsed = trt_workloads.parse_shapes(shapes)
    if (shapes or inputs or rebuild) and not (engine or onnx):
        raise UsageError("--shapes, --inputs and --rebuild go with --engine or --onnx")
    if precision and not onnx:
        raise UsageError(f"--{precision[0]} goes with --onnx (it chooses how the engine is built)")
    if io not in workloads.IO_MODES:
        raise UsageError(f"--io must be one of {', '.join(workloads.IO_MODES)}, got {io!r}")
    if io != "none" and not torch:
        raise UsageError("--io goes with --torch")
    for flag, path in (("--engine", engine), ("--onnx", onnx), ("--inputs", inputs)):
        if path is not None and not path.is_file():
            raise InputError(f"{flag} {path} does not exist")
    if torch is not None and not re.fullmatch(r"[\w.]+:\w+", torch):
        raise UsageError(f"--torch takes package.module:factory, got {torch!r}")
    paths = plan_launches(launch, torch=bool(torch), tensorrt=bool(engine or onnx))
    if torch:
        for p in paths["torch"]:
            workloads.torch.check_launch_io(p, io)
    if engine or onnx:
        trt_workloads.check_precision(precision)  # imports TensorRT; refuses flags it lacks
    trt_paths = tensorrt_launches(paths["tensorrt"], launch is not None) if (engine or onnx) else []
    if not build:
        return []
    if engine or onnx or torch:
        device.require_gpu(gpu)
    out = []

    def trt_kwargs(p: str | None) -> dict[str, Any]:
        return {} if p is None else {"launch": p}

    for tp in trt_paths:
        if engine is not None:
            out.append(trt_workloads.from_engine(engine, gpu=gpu, shapes=parsed, inputs=inputs, **trt_kwargs(tp)))
        if onnx is not None:
            out.append(
                trt_workloads.from_onnx(
                    onnx, gpu=gpu, shapes=parsed, inputs=inputs, rebuild=rebuild, precision=precision, **trt_kwargs(tp)
                )
            )
    if torch and paths["torch"]:
        module, example = torch_factory(torch)
        out += workloads.from_torch_paths(module, example, paths["torch"], gpu=gpu, name=torch, io=io)
    return out


Engine = Annotated[Path | None, typer.Option(help="A TensorRT engine (.engine/.plan) to run.")]
Onnx = Annotated[
    Path | None,
    typer.Option(help="An ONNX model, built into a TensorRT engine (cached by model, TensorRT version and GPU)."),
]
Shapes = Annotated[str | None, typer.Option(help="Shapes of dynamic inputs: name:1x3x640x640,...")]
Inputs = Annotated[
    Path | None,
    typer.Option(help="An .npz with the engine's inputs by name (default: random data of each input's dtype)."),
]
Rebuild = Annotated[bool, typer.Option("--rebuild", help="Rebuild the engine of --onnx even if cached.")]
Fp16 = Annotated[
    bool,
    typer.Option(
        "--fp16",
        help="--onnx: build weakly typed, letting TensorRT run layers in FP16 "
        "(TensorRT 10.x; 11.x builds only as the ONNX model's types say).",
    ),
]
Bf16 = Annotated[bool, typer.Option("--bf16", help="--onnx: as --fp16, in BF16 (TensorRT 10.x).")]
Int8 = Annotated[bool, typer.Option("--int8", help="--onnx: as --fp16, in INT8 without calibration (TensorRT 10.x).")]
Torch = Annotated[
    str | None,
    typer.Option(
        help="package.module:factory returning (torch module, example inputs), "
        "run through each launch path of --launch."
    ),
]
Launch = Annotated[
    str | None,
    typer.Option(
        help="Launch paths, comma-separated: eager (module called from Python), "
        "replay (CUDAGraph.replay from Python), graph (one graph launched "
        "from C++) for --torch; python (execute_async_v3 from Python), "
        "graph for --engine/--onnx. Default: all of them."
    ),
]
Io = Annotated[
    str,
    typer.Option(
        help="Per-inference host copies with --torch: none, pinned or pageable (a fresh "
        "input written on the host, copied in, the output copied out)."
    ),
]
Gpu = Annotated[
    str,
    typer.Option(
        help="CUDA device index to run on (after CUDA_VISIBLE_DEVICES), a list (0,2) or "
        "all: one worker process per GPU, the GPUs measured together and each alone, "
        "interleaved."
    ),
]
AllowSharedGpu = Annotated[
    bool,
    typer.Option(
        "--allow-shared-gpu",
        help="Let --gpu name one GPU twice (0,0): two "
        "workers share it. For testing the "
        "multi-GPU coordination on one GPU.",
    ),
]
GpuRounds = Annotated[
    int, typer.Option(help="With several GPUs: rounds of (all together, then each alone), interleaved.")
]
GapWorkSpec = Annotated[
    str | None,
    typer.Option(
        "--gap-work",
        metavar="SPEC",
        help="What the app does in each gap: none (an idle gap, the default), busy:2ms (arithmetic on the loop's core "
        "for that long), memory:64MB (every cache line of a buffer that large read and written) or "
        "jpeg:1280x720 (a JPEG frame that size decoded and preprocessed; needs OpenCV or Pillow). It runs at the "
        "end of each gap and the inference is issued when it ends; the gap-0 baseline stays back to back "
        "without it.",
    ),
]
UntilStable = Annotated[
    str | None,
    typer.Option(
        "--until-stable",
        metavar="TARGET",
        help="Stop each condition once its p50 and p99 are known to within TARGET (e.g. 2%: the 95% interval's "
        "half width under 2% of each), checked twice a second; --iterations is then the cap (and the time "
        "left shown is for the cap). The results say, per condition, whether it got there.",
    ),
]
Nvtx = Annotated[
    bool,
    typer.Option(
        "--nvtx",
        help="Mark each condition and each inference as an NVTX range, for "
        "profilers: nsys profile trtpace ... --nvtx. Off: no cost.",
    ),
]


def sweep_plan(n_workloads: int, pacings: list[pacing.Pacing], count: int, variants: int) -> list[Planned]:
    """The conditions a sweep reports, in its order: per workload, each pacing (unlocked, then
    locked where --lock-clocks can lock)."""
    return [Planned(p, count, str(w)) for w in range(n_workloads) for p in pacings for _ in range(variants)]


def sweep_job(gpu: int, progress: Any, *, texts: list[str], models: dict[str, Any], run: dict[str, Any]) -> Any:
    """One GPU's whole sweep in a multi-GPU worker process: it builds its own workloads there."""
    specs: list[Any] = [workloads.parse_spec(t) for t in texts]
    specs += model_workloads(gpu=gpu, **models)
    return run_sweep(specs, gpu=gpu, progress=progress, **run)


# Long because typer declares each of the command's options as one parameter.
def sweep(
    gaps: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated idle gaps in seconds, from one inference's completion to the next "
            "issue (closed loop), e.g. 0,0.1,0.2. A gap-0 baseline is always included."
        ),
    ] = None,
    workload: Annotated[
        list[str] | None,
        typer.Option(
            "--workload",
            "-w",
            help="What to run: tiny, medium, large, synthetic:us=..,kernels=.. or "
            "host:us=.. (repeat for several). Default: tiny, medium and large.",
        ),
    ] = None,
    iterations: Annotated[int, typer.Option(help="Measured inferences per condition.")] = 100,
    warmup: Annotated[
        int,
        typer.Option(
            help="Warm-up inferences per condition, run at that condition's pacing "
            "and kept in the results, flagged, but left out of the statistics."
        ),
    ] = 10,
    wait: Annotated[
        str,
        typer.Option(
            help="How the host waits until an inference is due: sleep, spin or hybrid "
            "(sleep, then spin the last stretch)."
        ),
    ] = "hybrid",
    sync: Annotated[
        str,
        typer.Option(
            help="How the host waits for an inference to complete: spin, block, "
            "yield or flag (a word the GPU writes behind it; no driver "
            "call)."
        ),
    ] = "spin",
    period: Annotated[
        float | None,
        typer.Option(help="Open loop: one inference due every PERIOD seconds; latency counts from the due time."),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            help="Open loop: Poisson arrivals at RATE per second (see --seed); latency counts from the due time."
        ),
    ] = None,
    trace: Annotated[
        Path | None,
        typer.Option(
            help="Open loop: due times from a file, one per line in seconds (first CSV column, '#' comments)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the Poisson arrivals of --rate.")] = 0,
    out: Out = None,
    overwrite: Overwrite = False,
    append: Append = False,
    gpu: Gpu = "0",
    allow_shared_gpu: AllowSharedGpu = False,
    gpu_rounds: GpuRounds = 1,
    json_output: JsonOutput = False,
    telemetry: Telemetry = True,
    telemetry_rate: TelemetryRate = None,
    lock_clocks: Annotated[
        str | None,
        typer.Option(
            help="Also run every condition with SM clocks locked "
            "(max, base, MHZ or MIN:MAX), interleaved with the "
            "unlocked runs, and restore them after. Needs root."
        ),
    ] = None,
    no_report: NoReport = False,
    engine: Engine = None,
    onnx: Onnx = None,
    shapes: Shapes = None,
    inputs: Inputs = None,
    rebuild: Rebuild = False,
    fp16: Fp16 = False,
    bf16: Bf16 = False,
    int8: Int8 = False,
    torch: Torch = None,
    launch: Launch = None,
    io: Io = "none",
    max_penalty: Annotated[
        float | None,
        typer.Option(
            help="Deployment gate: exit with code 3 when any condition's "
            "p50 penalty exceeds this ratio (e.g. 1.2), after "
            "printing and saving everything."
        ),
    ] = None,
    max_penalty_p99: Annotated[
        float | None, typer.Option(help="Deployment gate on the p99 penalty (e.g. 1.5); exit code 3 as --max-penalty.")
    ] = None,
    max_penalty_mode: Annotated[
        str,
        typer.Option(
            help="How the gate reads a penalty: estimate (fail where the penalty itself is over the limit) or "
            "interval (fail only where its whole 95% interval is over it: a penalty within noise of the "
            "limit passes, said on stderr)."
        ),
    ] = "estimate",
    nvtx: Nvtx = False,
    gap_work: GapWorkSpec = None,
    until_stable: UntilStable = None,
    quiet: Quiet = False,
) -> None:
    """Run workloads with idle gaps (or an arrival schedule) and show how much slower they get."""
    set_quiet(quiet)
    work = parse_gap_work(gap_work)
    stable = parse_target(until_stable)
    check_limit("--max-penalty", max_penalty)
    check_limit("--max-penalty-p99", max_penalty_p99)
    check_mode(max_penalty_mode)
    schedule = open_loop_schedule(period, rate, trace, seed)
    gap_list = [p.gap_s for p in pacing.parse_gaps(gaps)] if gaps is not None else None
    pacings = plan_pacings(gap_list, schedule)
    check_gap_work(work, pacings)  # before anything runs
    has_model = bool(engine or onnx or torch)
    texts = list(workload or ([] if has_model else DEFAULT_WORKLOADS))
    specs: list[Any] = [workloads.parse_spec(w) for w in texts]
    gpus = gpu_list(
        gpu, needs_gpu=has_model or any(s.needs_gpu for s in specs), allow_shared=allow_shared_gpu, rounds=gpu_rounds
    )
    precision = tuple(p for p, on in (("fp16", fp16), ("bf16", bf16), ("int8", int8)) if on)
    models: dict[str, Any] = {
        "engine": engine,
        "onnx": onnx,
        "torch": torch,
        "shapes": shapes,
        "inputs": inputs,
        "rebuild": rebuild,
        "launch": launch,
        "io": io,
        "precision": precision,
    }
    settings: dict[str, Any] = {
        "gaps_s": gap_list,
        "schedule": schedule,
        "iterations": iterations,
        "warmup": warmup,
        "wait": wait,
        "sync": sync,
        "telemetry": telemetry,
        "telemetry_rate_hz": telemetry_rate,
        "lock_clocks": lock_clocks,
        "nvtx": nvtx,
        "gap_work": work,
        "until_stable": stable.rel if stable else None,
    }
    variants = 2 if lock_clocks is not None and may_change_clocks()[0] else 1
    if len(gpus) > 1:
        model_workloads(gpu=gpus[0], build=False, **models)
        job = functools.partial(sweep_job, texts=texts, models=models, run=settings)
        # the lead GPU reports its together and alone passes; the others' alone passes take as long
        plan, scale = (
            sweep_plan(len(texts), pacings, iterations + warmup, variants) * (2 * gpu_rounds),
            (1 + len(gpus)) / 2,
        )

        def run(progress: Progress | None, folder: Path, mode: str) -> Any:
            return run_on_gpus(job, gpus, rounds=gpu_rounds, out=folder, out_mode=mode, progress=progress)
    else:
        specs += model_workloads(gpu=gpus[0], **models)
        plan, scale = sweep_plan(len(specs), pacings, iterations + warmup, variants), 1.0

        def run(progress: Progress | None, folder: Path, mode: str) -> Any:
            return run_sweep(specs, gpu=gpus[0], out=folder, out_mode=mode, progress=progress, **settings)

    result = run_measurement(
        "sweep",
        run,
        out=out,
        json_output=json_output,
        no_report=no_report,
        show=show_sweep,
        overwrite=overwrite,
        append=append,
        plan=plan,
        plan_scale=scale,
    )
    if max_penalty is not None or max_penalty_p99 is not None:
        apply_gate(result, max_penalty, max_penalty_p99, mode=max_penalty_mode)
