"""Clock-control errors: each is one line for the CLI, with exit code 2."""

from __future__ import annotations

from trtpace.errors import TrtpaceError


class ClockError(TrtpaceError):
    """A clock request that cannot be carried out as asked."""


class ClockPermissionError(ClockError):
    """Changing clocks needs root or CAP_SYS_ADMIN; the message says the command that would work."""


class ClockNotSupportedError(ClockError):
    """The GPU, its driver or the platform does not support the request."""


class ClockBusyError(ClockError):
    """Another trtpace owner holds the GPU's clocks at a different target, or is running (reset needs --force)."""
