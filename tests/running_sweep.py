"""A trtpace sweep started in a subprocess, for tests that signal or kill it mid-run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def start_sweep(args: list[str], out: Path, landed: Callable[[int], bool], what: str) -> subprocess.Popen[str]:
    """Starts `trtpace sweep ARGS --out OUT` and returns once `landed(n)` holds for the number of
    conditions sweep.json lists (plus half a second, so the next one is running); kills it and
    fails the test with `what` after a minute."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "trtpace", "sweep", *args, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if landed(len(json.loads((out / "sweep.json").read_text())["conditions"])):
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(what)
    time.sleep(0.5)
    return proc
