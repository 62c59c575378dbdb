"""A child process for the clock tests: locks clocks on a fake NVML (or a fake Jetson sysfs tree),
then holds them until signalled or until its stdin closes.

    python clock_child.py LOG [sigterm-handler] [sm=SPEC] [jetson] [stdin]
Every NVML setter/reset call is appended to LOG, so the parent can see what happened; with
`jetson`, NVML is missing and TRTPACE_SYSFS_ROOT names the fake tree. With `stdin`, the child
leaves the lock (and exits 0) when its stdin closes; a refused lock prints `refused: ...` and exits 4.
"""

from __future__ import annotations

import faulthandler
import signal
import sys
import time

import pynvml

from fake_nvml import make_fake_nvml
from trtpace.platform import clocks, nvml

log_path = sys.argv[1]
args = sys.argv[2:]
sm = next((a.removeprefix("sm=") for a in args if a.startswith("sm=")), "max")


def log(text: str) -> None:
    with open(log_path, "a") as f:
        f.write(text + "\n")


# A parent that sees this child hang sends SIGUSR1 first: every thread's stack goes to stderr.
faulthandler.register(signal.SIGUSR1, all_threads=True)

fake = make_fake_nvml()
fake.nvmlDeviceSetGpuLockedClocks.side_effect = lambda h, lo, hi: log(f"set {lo} {hi}")
fake.nvmlDeviceResetGpuLockedClocks.side_effect = lambda h: log("reset")
if "jetson" in args:
    fake.nvmlInit.side_effect = pynvml.NVMLError_LibraryNotFound
nvml.pynvml = fake

if "sigterm-handler" in args:

    def previous(signum, frame):
        log("previous handler ran")
        sys.exit(3)

    signal.signal(signal.SIGTERM, previous)

try:
    with clocks.locked_clocks(sm=sm, gpu=0):
        print("locked", flush=True)
        if "stdin" in args:
            sys.stdin.read()
        else:
            time.sleep(60)
except clocks.ClockError as e:
    print(f"refused: {e}", flush=True)
    sys.exit(4)
