"""trtpace's error tree and the exit codes the command line gives for each.

`TrtpaceError` is the one root, defined in C++ with `CudaError` (a failed CUDA call, naming it;
its `code`, `file` and `line` attributes say which status and where in trtpace's source)
and `CaptureError` (work that could not be captured into a CUDA graph) beneath it, so
`except TrtpaceError` catches CUDA failures too and a broad `except RuntimeError` no longer
swallows them; `WaitTimeoutError` (a bounded wait ran out, naming what it waited for) and
`UsageError` (a malformed or out-of-range argument, also a ValueError: every argument check of the
core raises it, so a bad number caught in C++ is one line and exit 2 like one caught in Python) are
defined there too. The Python-side errors below derive from the same root.

Exit codes, the same for every command:
  0    done (a report that skipped damaged conditions warns and still exits 0)
  1    a failure while running: a CUDA error, a model that fails at run time, no usable GPU, a
       results or report file that could not be written (a full disk, a file-size limit)
  2    bad arguments or unreadable input files
  3    a latency gate failed: `sweep --max-penalty/--max-penalty-p99` found a condition slower
       than the limit (everything was still printed and saved; one stderr line per failure)
  130  interrupted by Ctrl-C, after the partial results were saved
  143  stopped by SIGTERM (or SIGHUP), after the partial results were saved
"""

from __future__ import annotations

from trtpace._core import CaptureError, CudaError, TrtpaceError, UsageError, WaitTimeoutError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_GATE",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "CaptureError",
    "CudaError",
    "GpuIndexError",
    "InputError",
    "NoDriverError",
    "NoGpuError",
    "ResultsWriteError",
    "TrtpaceError",
    "UsageError",
    "WaitTimeoutError",
    "exit_code",
]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_GATE = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class InputError(UsageError):
    """An input file cannot be read or is not what it claims to be (results, trace, model)."""


class NoDriverError(TrtpaceError):
    """No usable NVIDIA driver: missing, or too old for trtpace's CUDA runtime."""


class NoGpuError(TrtpaceError):
    """The NVIDIA driver is present but CUDA sees no GPU."""


class ResultsWriteError(TrtpaceError):
    """A results or report file could not be written (a full disk, a file-size limit, an I/O
    error): one line naming the file and why. Not a UsageError: the arguments were fine, the
    disk was not (exit 1); what was written before stays."""


class GpuIndexError(UsageError, IndexError):
    """A GPU index outside what CUDA sees."""


def exit_code(error: BaseException) -> int:
    """The command line's exit code for an error that ended a command."""
    return EXIT_USAGE if isinstance(error, UsageError) else EXIT_FAILURE
