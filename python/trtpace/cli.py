"""The `trtpace` command line."""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from trtpace import __version__, pacing, workloads
from trtpace.errors import CudaError, TrtpaceError, UsageError
from trtpace.report import attribution_lines, gpu_table, sweep_table
from trtpace.results import ConditionResult, SweepResult, check_writable, dumps
from trtpace.sweep import DEFAULT_WORKLOADS, SweepInterrupted, sweep as run_sweep

# typer vendors click; its exception base is reached through a public class instead of a
# private import, so this works with every typer release.
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_stderr = Console(stderr=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    """Every user-facing failure: one line on stderr, no traceback."""
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    _stderr.print(f"[bold red]error:[/] {escape(first_line)}", highlight=False, markup=True, soft_wrap=True)
    sys.exit(code)


class _OneLineErrors(typer.core.TyperGroup):
    """Turns bad input, missing GPUs and CUDA failures into one line and exit code 2."""

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _ClickException as e:
            if type(e).__name__ == "NoArgsIsHelpError":
                print(e.format_message())
                sys.exit(0)
            _fail(e.format_message(), 2)
        except (TrtpaceError, CudaError) as e:
            _fail(str(e), 2)
        except (KeyboardInterrupt, typer.Abort):
            _fail("interrupted", 130)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Measure, explain and remove the GPU inference slowdown after idle gaps.",
)


def _version(value: bool) -> None:
    if value:
        print(f"trtpace {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print trtpace's version and exit.")
    ] = False,
) -> None:
    """Measure, explain and remove the GPU inference slowdown after idle gaps."""


class _BarProgress:
    """sweep's progress reports drawn as one rich progress bar per condition."""

    def __init__(self, console: Console):
        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> _BarProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def calibrating(self, workload: str) -> None:
        self._replace(f"{workload}: calibrating", None)

    def condition_started(self, workload: str, p: pacing.Pacing, total: int) -> None:
        self._replace(f"{workload}, {p.label}", total)

    def advanced(self, completed: int, total: int) -> None:
        if self.task is not None:
            self.bars.update(self.task, completed=completed, total=total)

    def condition_finished(self, condition: ConditionResult) -> None:
        pass

    def _replace(self, description: str, total: int | None) -> None:
        if self.task is not None and self.bars.tasks[-1].total is None:
            self.bars.remove_task(self.task)
        self.task = self.bars.add_task(description, total=total)


def _open_loop_schedule(period: float | None, rate: float | None, trace: Path | None, seed: int) -> pacing.Pacing | None:
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


def _write_report(result: SweepResult, out: Path) -> None:
    """report.html beside the results (sweep and compare write it unless --no-report)."""
    from trtpace.html_report import write_html

    if result.conditions:
        path = write_html(result, out / "report.html")
        _stderr.print(f"report: {path}")


_NoReport = Annotated[bool, typer.Option("--no-report", help="Do not write report.html next to the results.")]


def _torch_factory(spec: str) -> tuple[Any, tuple[Any, ...]]:
    """'package.module:factory' -> factory(), which returns (module, example_inputs)."""
    import importlib

    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except ImportError as e:
        raise UsageError(f"--torch: cannot import {module_name!r}: {e}") from None
    except AttributeError:
        raise UsageError(f"--torch: {module_name!r} has no {attr!r}") from None
    made = factory()
    if not (isinstance(made, tuple) and len(made) == 2):
        raise UsageError(f"--torch: {spec} must return (module, example_inputs)")
    module, example = made
    return module, tuple(example) if isinstance(example, (list, tuple)) else (example,)


def _model_workloads(engine: Path | None, onnx: Path | None, torch: str | None, shapes: str | None,
                     inputs: Path | None, rebuild: bool, gpu: int) -> list[workloads.Workload]:
    """The workloads named by --engine, --onnx and --torch (validated before any GPU work)."""
    from trtpace import device
    from trtpace.workloads import tensorrt as trt_workloads

    parsed = trt_workloads.parse_shapes(shapes)
    if (shapes or inputs or rebuild) and not (engine or onnx):
        raise UsageError("--shapes, --inputs and --rebuild go with --engine or --onnx")
    for flag, path in (("--engine", engine), ("--onnx", onnx), ("--inputs", inputs)):
        if path is not None and not path.is_file():
            raise UsageError(f"{flag} {path} does not exist")
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
        module, example = _torch_factory(torch)
        out.append(workloads.from_torch(module, example, gpu=gpu, name=torch))
    return out


def _print_result(result: SweepResult, as_json: bool) -> None:
    if as_json:
        print(dumps(result.to_json()))
        return
    for warning in result.environment.get("warnings", []):
        _stderr.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    rows = result.rows()
    console = Console()
    console.print(sweep_table(rows))
    gpu = gpu_table(rows)
    if gpu is not None:
        console.print(gpu)
    lines = attribution_lines(rows)
    if lines:
        console.print("[bold]where the extra time goes[/] (p50 change vs gap 0; parts averaged around the median)")
        for line in lines:
            console.print("  " + line, highlight=False, soft_wrap=True)


@app.command()
def sweep(
    gaps: Annotated[
        Optional[str],
        typer.Option(help="Comma-separated idle gaps in seconds, from one inference's completion to the next "
                          "issue (closed loop), e.g. 0,0.1,0.2. A gap-0 baseline is always included."),
    ] = None,
    workload: Annotated[
        Optional[list[str]],
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
    period: Annotated[Optional[float], typer.Option(help="Open loop: one inference due every PERIOD seconds; "
                                                         "latency counts from the due time.")] = None,
    rate: Annotated[Optional[float], typer.Option(help="Open loop: Poisson arrivals at RATE per second (see "
                                                       "--seed); latency counts from the due time.")] = None,
    trace: Annotated[Optional[Path], typer.Option(help="Open loop: due times from a file, one per line in "
                                                       "seconds (first CSV column, '#' comments).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the Poisson arrivals of --rate.")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the results (written as each condition "
                                                     "finishes). Default: trtpace-results/sweep-<time>.")] = None,
    gpu: Annotated[int, typer.Option(help="CUDA device index to run on (after CUDA_VISIBLE_DEVICES).")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON instead of a table.")] = False,
    telemetry: Annotated[bool, typer.Option(help="Sample GPU clocks, P-state, clock-event reasons, power and energy "
                                                 "in the background (NVML, or devfreq on Jetson).")] = True,
    telemetry_rate: Annotated[Optional[float], typer.Option(help="Telemetry samples per second. Default: the "
                                                                 "fastest rate costing under 5% of one core.")] = None,
    lock_clocks: Annotated[Optional[str], typer.Option(help="Also run every condition with SM clocks locked "
                                                            "(max, base, MHZ or MIN:MAX), interleaved with the "
                                                            "unlocked runs, and restore them after. Needs root.")] = None,
    no_report: _NoReport = False,
    engine: Annotated[Optional[Path], typer.Option(help="A TensorRT engine (.engine/.plan) to run.")] = None,
    onnx: Annotated[Optional[Path], typer.Option(help="An ONNX model, built into a TensorRT engine (cached by "
                                                      "model, TensorRT version and GPU).")] = None,
    shapes: Annotated[Optional[str], typer.Option(help="Shapes of dynamic inputs: name:1x3x640x640,...")] = None,
    inputs: Annotated[Optional[Path], typer.Option(help="An .npz with the engine's inputs by name (default: random "
                                                        "data of each input's dtype).")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild the engine of --onnx even if cached.")] = False,
    torch: Annotated[Optional[str], typer.Option(help="package.module:factory returning (torch module, example "
                                                      "inputs), captured into a CUDA graph.")] = None,
) -> None:
    """Run workloads with idle gaps (or an arrival schedule) and show how much slower they get."""
    schedule = _open_loop_schedule(period, rate, trace, seed)
    gap_list = [p.gap_s for p in pacing.parse_gaps(gaps)] if gaps is not None else None
    if gpu < 0:
        raise UsageError(f"--gpu must be >= 0, got {gpu}")
    has_model = bool(engine or onnx or torch)
    specs: list[Any] = [workloads.parse_spec(w) for w in (workload or ([] if has_model else DEFAULT_WORKLOADS))]
    if out is None:
        out = Path("trtpace-results") / datetime.datetime.now().strftime("sweep-%Y%m%d-%H%M%S")
    check_writable(out)
    specs += _model_workloads(engine, onnx, torch, shapes, inputs, rebuild, gpu)
    bars = _BarProgress(_stderr)
    try:
        if json_output:
            result = run_sweep(specs, gap_list, schedule=schedule, iterations=iterations, warmup=warmup, wait=wait,
                               sync=sync, gpu=gpu, out=out, telemetry=telemetry,
                               telemetry_rate_hz=telemetry_rate, lock_clocks=lock_clocks)
        else:
            with bars:
                result = run_sweep(specs, gap_list, schedule=schedule, iterations=iterations, warmup=warmup,
                                   wait=wait, sync=sync, gpu=gpu, out=out, progress=bars,
                                   telemetry=telemetry, telemetry_rate_hz=telemetry_rate, lock_clocks=lock_clocks)
    except SweepInterrupted as e:
        _print_result(e.result, json_output)
        if not no_report:
            _write_report(e.result, out)
        _stderr.print(f"interrupted: the finished conditions and the partial one are saved in {out}")
        raise typer.Exit(130) from None
    _print_result(result, json_output)
    if not no_report:
        _write_report(result, out)
    _stderr.print(f"results saved in {out}")


@app.command()
def env(
    json_output: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
) -> None:
    """Show the driver, CUDA, GPUs and clocks, permissions, TensorRT/PyTorch and Jetson facts."""
    from trtpace.env import collect

    facts = collect()
    if json_output:
        print(dumps(facts))
        return
    console = Console()
    for key, value in facts.items():
        if key in ("gpus", "missing", "jetson"):
            continue
        console.print(f"[bold]{key}[/]: {value}", highlight=False)
    for gpu in facts["gpus"]:
        console.print(f"[bold]GPU {gpu['index']}[/]: " + ", ".join(f"{k}={v}" for k, v in gpu.items() if k != "index"),
                      highlight=False, soft_wrap=True)
    if facts["jetson"]:
        console.print(f"[bold]jetson[/]: {facts['jetson']}", highlight=False, soft_wrap=True)
    for item in facts["missing"]:
        console.print(f"[yellow]missing[/]: {item}", highlight=False)


def _print_compare(result: SweepResult, as_json: bool) -> None:
    from trtpace.compare import recommend, summarize_policies
    from trtpace.report import compare_tables

    summaries = summarize_policies(result)
    rec = recommend(summaries)
    if as_json:
        print(dumps({"environment": result.environment, "settings": result.settings,
                     "policies": [s.to_json() for s in summaries], "recommendation": rec}))
        return
    console = Console()
    for table in compare_tables(summaries):
        console.print(table)
    if rec:
        console.print(f"[bold]recommendation[/]: {rec['line']}", highlight=False, soft_wrap=True)


@app.command()
def compare(
    gap: Annotated[float, typer.Option(help="The idle gap in seconds at which the policies are compared.")] = 0.1,
    policies: Annotated[str, typer.Option(help="Comma-separated policies: sleep, spin, hybrid, sync-block, "
                                                "sync-yield, keepwarm:PERIOD[:WORK], prewarm:LEAD[:WORK], direct, "
                                                "locked:max; join tokens with + (spin+keepwarm:1ms).")]
    = "sleep,spin,keepwarm:1ms,prewarm:2ms",
    workload: Annotated[str, typer.Option("--workload", "-w", help="The workload (see trtpace sweep).")] = "tiny",
    rounds: Annotated[int, typer.Option(help="Interleaved rounds: each runs the continuous baseline and every "
                                             "policy once.")] = 5,
    iterations: Annotated[int, typer.Option(help="Measured inferences per policy per round.")] = 40,
    warmup: Annotated[int, typer.Option(help="Warm-up inferences per policy per round.")] = 5,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the results. Default: "
                                                     "trtpace-results/compare-<time>.")] = None,
    gpu: Annotated[int, typer.Option(help="CUDA device index to run on.")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON instead of tables.")] = False,
    no_report: _NoReport = False,
) -> None:
    """Compare remedies (waits, sync modes, keep-warm, pre-warm, graphs, locked clocks) at one gap."""
    from trtpace.compare import compare as run_compare
    from trtpace.policies import parse_policies

    plan = parse_policies(policies)
    workloads.parse_spec(workload)
    if gpu < 0:
        raise UsageError(f"--gpu must be >= 0, got {gpu}")
    if out is None:
        out = Path("trtpace-results") / datetime.datetime.now().strftime("compare-%Y%m%d-%H%M%S")
    check_writable(out)
    bars = _BarProgress(_stderr)
    interrupted = False
    try:
        if json_output:
            result = run_compare(workload, gap, plan, rounds=rounds, iterations=iterations, warmup=warmup, gpu=gpu,
                                 out=out)
        else:
            with bars:
                result = run_compare(workload, gap, plan, rounds=rounds, iterations=iterations, warmup=warmup,
                                     gpu=gpu, out=out, progress=bars)
    except SweepInterrupted as e:
        result, interrupted = e.result, True
    _print_compare(result, json_output)
    if not no_report:
        _write_report(result, out)
    if interrupted:
        _stderr.print(f"interrupted: the rounds so far are saved in {out}")
        raise typer.Exit(130)
    _stderr.print(f"results saved in {out}")


@app.command()
def report(
    results: Annotated[Path, typer.Argument(help="A results folder written by trtpace sweep or compare (partial "
                                                 "ones too).")],
    html_file: Annotated[Optional[Path], typer.Option("--html", help="Write the self-contained HTML report here "
                                                                     "(default: RESULTS/report.html).")] = None,
    png: Annotated[Optional[Path], typer.Option(help="Also write every plot as a PNG into this folder.")] = None,
    csv_file: Annotated[Optional[Path], typer.Option("--csv", help="Write one row per condition as CSV (units in "
                                                                   "every header).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Render saved results: tables, attribution, plots, HTML, CSV or JSON."""
    from trtpace.html_report import is_compare, write_csv, write_html, write_pngs
    from trtpace.results import load

    result = load(results)
    if is_compare(result):
        _print_compare(result, json_output)
    elif json_output:
        print(dumps(result.to_json()))
    else:
        _print_result(result, False)
    target = html_file or results / "report.html"
    for what, path in (("--html", target), ("--png", png), ("--csv", csv_file)):
        if path is not None:
            check_writable(path if what == "--png" else path.parent)
    _stderr.print(f"report: {write_html(result, target)}")
    if png is not None:
        _stderr.print(f"plots: {len(write_pngs(result, png))} PNG files in {png}")
    if csv_file is not None:
        write_csv(result, csv_file)
        _stderr.print(f"csv: {csv_file}")


clocks_app = typer.Typer(no_args_is_help=True, help="Show, lock and reset GPU clocks (locking needs root).")
app.add_typer(clocks_app, name="clocks")


def _gpu_selector(text: str) -> int | str:
    if text == "all":
        return "all"
    if not text.isdigit():
        raise UsageError(f"--gpu takes a CUDA device index or 'all', got {text!r}")
    return int(text)


@clocks_app.command("show")
def clocks_show(
    gpu: Annotated[str, typer.Option(help="CUDA device index, or all.")] = "0",
    json_output: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
) -> None:
    """Current and maximum clocks, supported clocks, P-state, clock-event reasons, power limit and trtpace's locks."""
    from trtpace import clocks

    facts = clocks.show(_gpu_selector(gpu))
    for warning in clocks.state_files.stale_warnings():
        _stderr.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if json_output:
        print(dumps(facts))
        return
    console = Console()
    for f in facts:
        console.print(f"[bold]{f.get('name', f['gpu'])}[/] ({f['gpu']})", highlight=False)
        for k, v in f.items():
            if k not in ("gpu", "name"):
                console.print(f"  {k}: {v}", highlight=False, soft_wrap=True)


@clocks_app.command("lock")
def clocks_lock(
    sm: Annotated[str, typer.Option(help="SM clock: max, base (the TDP clock), MHZ, or MIN:MAX; snapped to the "
                                         "nearest supported clock.")] = "max",
    mem: Annotated[Optional[str], typer.Option(help="Also lock the memory clock: max or MHZ (Ampere or newer; "
                                                    "can cost performance, so off by default).")] = None,
    gpu: Annotated[str, typer.Option(help="CUDA device index, or all.")] = "0",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the NVML calls and the equivalent nvidia-smi "
                                                            "commands; change nothing.")] = False,
    jetson_clocks: Annotated[bool, typer.Option("--jetson-clocks", help="On Jetson, run NVIDIA's jetson_clocks "
                                                                        "(stored first, restored on reset).")] = False,
) -> None:
    """Lock GPU clocks until `trtpace clocks reset` (what was set is written down first)."""
    from trtpace import clocks

    selector = _gpu_selector(gpu)
    if dry_run:
        for line in clocks.plan(sm, mem, selector).lines():
            print(line)
        print("dry run: nothing was changed")
        return
    for st in clocks.lock(sm, mem, selector, use_jetson_clocks=jetson_clocks):
        print(f"{st.key}: locked ({st.describe()}); undo with `trtpace clocks reset`")


@clocks_app.command("reset")
def clocks_reset(
    gpu: Annotated[str, typer.Option(help="CUDA device index, or all.")] = "all",
    everyone: Annotated[bool, typer.Option("--all", help="Reset locked clocks whoever set them, not only "
                                                         "trtpace's locks.")] = False,
) -> None:
    """Undo the clock locks trtpace set (also after a crash or kill -9)."""
    from trtpace import clocks

    said = clocks.reset(_gpu_selector(gpu), everyone=everyone)
    for line in said or ["nothing to reset: trtpace holds no clock lock"]:
        print(line)


def main() -> None:
    """Console-script entry point."""
    app()
