"""`trtpace env`: what this machine offers, and what is missing."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from trtpace.fileio import dumps
from trtpace.platform.env import collect


def env(
    json_output: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
) -> None:
    """Show the driver, CUDA, GPUs and clocks, permissions, TensorRT/PyTorch and Jetson facts."""
    facts = collect()
    if json_output:
        print(dumps(facts))
        return
    console = Console()
    for key, value in facts.items():
        if key in ("gpus", "missing", "jetson", "cuda_problem"):
            continue
        console.print(f"[bold]{key}[/]: {value}", highlight=False)
    for gpu in facts["gpus"]:
        title = f"GPU {gpu['index']}" if "index" in gpu else f"GPU (NVML {gpu['nvml_index']}, not usable by CUDA)"
        console.print(f"[bold]{title}[/]: " + ", ".join(f"{k}={v}" for k, v in gpu.items()
                                                       if k not in ("index", "nvml_index")),
                      highlight=False, soft_wrap=True)
    if facts["jetson"]:
        console.print(f"[bold]jetson[/]: {facts['jetson']}", highlight=False, soft_wrap=True)
    for item in facts["missing"]:
        console.print(f"[yellow]missing[/]: {item}", highlight=False, soft_wrap=True)
