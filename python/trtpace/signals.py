"""Signals in one place: which ones end a run, and the handlers trtpace installs for a block of
code and restores after it.

Python runs signal handlers in the main thread only, so from any other thread nothing is
installed and the block runs as it is. A handler trtpace installs is given the handler it
replaced (`previous`), so it can pass the signal on: `pass_on` runs it, or the default action.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

# Ctrl-C; SIGTERM (timeout, systemd, docker stop); SIGHUP (a closed terminal)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Handler = Callable[[int, Any, Any], None]  # (signum, frame, the handler it replaced)


@contextlib.contextmanager
def handling(signals: Iterable[int], handler: Handler) -> Iterator[None]:
    """`handler` handles `signals` during the block; the handlers it replaced come back after it.
    A signal whose handler was not installed from Python (getsignal() is None) is left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in signals}
    previous = {s: h for s, h in previous.items() if h is not None}
    for s, h in previous.items():
        signal.signal(s, functools.partial(_with_previous, handler, h))
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _with_previous(handler: Handler, previous: Any, signum: int, frame: Any) -> None:
    handler(signum, frame, previous)


def pass_on(signum: int, frame: Any, previous: Any) -> None:
    """What `previous` would have done with the signal: call it, or take the default action."""
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Holds the stop signals until the block is done (a measured condition recorded, a message
    wholly sent or received: one cut in half would leave the pipe unreadable). The first one then
    takes effect as it would have; an ignored one stays ignored."""
    caught: list[tuple[int, Any]] = []

    def hold(signum: int, frame: Any, previous: Any) -> None:
        if previous != signal.SIG_IGN:
            caught.append((signum, previous))

    with handling(STOP_SIGNALS, hold):
        yield
    if caught:
        signum, previous = caught[0]
        pass_on(signum, None, previous)


def ignore_signals(signals: Iterable[int] = STOP_SIGNALS) -> None:
    """From now on these signals do nothing (a worker's first stop has begun saving its work)."""
    for s in signals:
        signal.signal(s, signal.SIG_IGN)


def install_handler(signals: Iterable[int], handler: Callable[[int, Any], None]) -> None:
    """`handler` handles `signals` for the rest of the process (a worker process's own handlers)."""
    for s in signals:
        signal.signal(s, handler)
