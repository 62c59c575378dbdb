"""`trtpace env`: what this machine offers, and what is missing."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from trtpace.fileio import dumps
from trtpace.platform.env import collect
from trtpace.platform.features import said as features_said

# What a fact that is None means, in words: a driver looked for and absent is "not found", a
# package "not installed", a variable left unset "not set", anything else that could not be
# read "unknown". The JSON keeps null.
_NONE_WORDS = {
    "cuda_driver": "not found",
    "driver_release": "not found",
    "tensorrt": "not installed",
    "tensorrt_rtx": "not installed",
    "torch": "not installed",
    "cuda_module_loading_env": "not set",
}


def said(key: str, value: Any) -> str:
    """A fact as `trtpace env` prints it: never a Python None, True or False."""
    if value is None:
        return _NONE_WORDS.get(key, "unknown")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k}={said(k, v)}" for k, v in value.items()) + ")"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(said(key, v) for v in value) + "]"
    return str(value)


def env(
    json_output: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
) -> None:
    """Show the driver, CUDA, GPUs and clocks, permissions, TensorRT/PyTorch and Jetson facts."""
    facts = collect()
    if json_output:
        print(dumps(facts))
        return
    console = Console(markup=False, highlight=False, soft_wrap=True)
    for key, value in facts.items():
        if key in ("gpus", "missing", "jetson", "cuda_problem", "features"):
            continue
        console.print(Text.assemble((key, "bold"), f": {said(key, value)}"))
    for gpu in facts["gpus"]:
        title = f"GPU {gpu['index']}" if "index" in gpu else f"GPU (NVML {gpu['nvml_index']}, not usable by CUDA)"
        console.print(
            Text.assemble(
                (title, "bold"),
                ": " + ", ".join(f"{k}={said(k, v)}" for k, v in gpu.items() if k not in ("index", "nvml_index")),
            )
        )
    for table in facts.get("features", []):
        title = "features" if table["gpu"] is None else f"GPU {table['gpu']} features"
        console.print(Text.assemble((title, "bold"), ": " + features_said(table)))
    if facts["jetson"]:
        console.print(Text.assemble(("jetson", "bold"), f": {said('jetson', facts['jetson'])[1:-1]}"))
    for item in facts["missing"]:
        console.print(Text.assemble(("missing", "yellow"), f": {item}"))
