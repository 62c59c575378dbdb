"""Argument helpers the app-side benchmarks share (bench/app_loop.py, bench/residual.py): argparse
types that check a comma list or a number, and the one-line error every bad input gets."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any, NoReturn


def fail(msg: str) -> NoReturn:
    """One line on stderr, named after the running script, and exit 2."""
    print(f"{Path(sys.argv[0]).name}: {msg}", file=sys.stderr)
    raise SystemExit(2)


def names(allowed: tuple[str, ...]) -> Any:
    """An argparse type: a comma list of `allowed` names, repeats dropped, order kept."""

    def parse(text: str) -> list[str]:
        items = [s.strip() for s in text.split(",") if s.strip()]
        bad = [s for s in items if s not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{','.join(bad) or 'nothing'}: choose from {','.join(allowed)}")
        return list(dict.fromkeys(items))

    return parse


def number(kind: type, low: float, *, above: bool = False) -> Any:
    """An argparse type: a finite `kind` >= low (> low with `above`)."""

    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(v) or v < low or (above and v == low):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if above else '>='} {low}")
        return v

    return parse


def check_json_target(path: Path | None) -> None:
    """Refuses, before any work, a --json file that exists (never overwritten) or has no folder."""
    if path is not None and (path.exists() or not path.parent.is_dir()):
        fail(f"{path} already exists; not overwriting it" if path.exists() else f"no folder {path.parent}")


def software_facts(torch: Any, mods: dict[str, Any], loading_at_start: str | None) -> dict[str, Any]:
    """The software a GPU benchmark ran under, and the CUDA_MODULE_LOADING it started with and has
    now (torch sets it when imported)."""
    import numpy as np

    return {
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "torchvision": getattr(mods.get("torchvision"), "__version__", None),
        "trtpace": getattr(mods["trtpace"], "__version__", None),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "CUDA_MODULE_LOADING_at_start": loading_at_start,
        "CUDA_MODULE_LOADING": os.environ.get("CUDA_MODULE_LOADING"),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
