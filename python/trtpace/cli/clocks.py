"""`trtpace clocks show|lock|reset`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from trtpace.cli.errors import warn
from trtpace.errors import UsageError
from trtpace.fileio import dumps
from trtpace.platform import clocks

clocks_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Show, lock and reset GPU clocks (locking needs root)."
)


def _gpu_selector(text: str) -> int | str:
    if text == "all":
        return "all"
    if not text.isdigit():
        raise UsageError(f"--gpu takes a CUDA device index or 'all', got {text!r}")
    return int(text)


@clocks_app.command("show", short_help="Current, maximum and supported clocks, P-state and locks.")
def clocks_show(
    gpu: Annotated[str, typer.Option(help="CUDA device index, or all.")] = "0",
    json_output: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
) -> None:
    """Current and maximum clocks, supported clocks, P-state, clock-event reasons, power limit and trtpace's locks."""
    selector = _gpu_selector(gpu)
    for warning in clocks.reap_stale():
        warn(warning)
    facts = clocks.show(selector)
    if json_output:
        print(dumps(facts))
        return
    console = Console(markup=False, highlight=False, soft_wrap=True)
    for f in facts:
        console.print(Text.assemble((str(f.get("name", f["gpu"])), "bold"), f" ({f['gpu']})"))
        for k, v in f.items():
            if k not in ("gpu", "name"):
                console.print(f"  {k}: {v}")


@clocks_app.command("lock", short_help="Lock GPU clocks until `trtpace clocks reset`.")
def clocks_lock(
    sm: Annotated[
        str,
        typer.Option(
            help="SM clock: max, base (the TDP clock), MHZ, or MIN:MAX; snapped to the nearest supported clock."
        ),
    ] = "max",
    mem: Annotated[
        str | None,
        typer.Option(
            help="Also lock the memory clock: max or MHZ (Ampere or newer; can cost performance, so off by default)."
        ),
    ] = None,
    gpu: Annotated[str, typer.Option(help="CUDA device index, or all.")] = "0",
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the NVML calls and the equivalent nvidia-smi commands; change nothing."),
    ] = False,
    jetson_clocks: Annotated[
        bool,
        typer.Option(
            "--jetson-clocks", help="On Jetson, run NVIDIA's jetson_clocks (stored first, restored on reset)."
        ),
    ] = False,
) -> None:
    """Lock GPU clocks until `trtpace clocks reset` (what was set is written down first)."""
    selector = _gpu_selector(gpu)
    if dry_run:
        for line in clocks.plan(sm, mem, selector).lines():
            print(line)
        print("dry run: nothing was changed")
        return
    for warning in clocks.reap_stale():
        warn(warning)
    for st in clocks.lock(sm, mem, selector, use_jetson_clocks=jetson_clocks):
        joined = f" (joined: {len(st.owners)} owners)" if len(st.owners) > 1 else ""
        print(f"{st.key}: locked{joined} ({st.describe()}); undo with `trtpace clocks reset`")


@clocks_app.command("reset", short_help="Undo the clock locks trtpace set (also after a crash).")
def clocks_reset(
    gpu: Annotated[str, typer.Option(help="CUDA device index, or all.")] = "all",
    everyone: Annotated[
        bool, typer.Option("--all", help="Reset locked clocks whoever set them, not only trtpace's locks.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Also break locks held by running trtpace processes (their clocks change under them)."
        ),
    ] = False,
) -> None:
    """Undo the clock locks trtpace set (also after a crash or kill -9)."""
    selector = _gpu_selector(gpu)
    damaged = clocks.damaged_records()
    said = clocks.reset(selector, everyone=everyone, force=force)
    for d in damaged:
        if d.path.exists():
            warn(clocks.state_files.damaged_warning(d))
    if not said and not damaged:
        said = ["nothing to reset: trtpace holds no clock lock"]
    for line in said:
        print(line)
