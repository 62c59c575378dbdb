"""A child process for the clock tests: locks clocks on a fake NVML, then waits to be signalled.

    python clock_child.py LOG [sigterm-handler]
Every NVML setter/reset call is appended to LOG, so the parent can see what happened.
"""

from __future__ import annotations

import signal
import sys
import time

from fake_nvml import make_fake_nvml
from trtpace.platform import clocks, nvml

log_path = sys.argv[1]


def log(text: str) -> None:
    with open(log_path, "a") as f:
        f.write(text + "\n")


fake = make_fake_nvml()
fake.nvmlDeviceSetGpuLockedClocks.side_effect = lambda h, lo, hi: log(f"set {lo} {hi}")
fake.nvmlDeviceResetGpuLockedClocks.side_effect = lambda h: log("reset")
nvml.pynvml = fake

if "sigterm-handler" in sys.argv:
    def previous(signum, frame):
        log("previous handler ran")
        sys.exit(3)

    signal.signal(signal.SIGTERM, previous)

with clocks.locked_clocks(sm="max", gpu=0):
    print("locked", flush=True)
    time.sleep(60)
