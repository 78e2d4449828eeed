"""Ctrl-C and SIGTERM, in one place: how a run stops cleanly, and the stretches where it must not stop.

- :func:`sigterm_as_interrupt`: a CI job's cancel (SIGTERM) stops a run as
  cleanly as Ctrl-C does (the run directory is marked ``interrupted``).
- :func:`deferred`: hold both until a block ends, so that a write, or the
  start of a measuring process, is never cut in half.
- :func:`handlers_kept`: put the run's handlers back after a library (Ray's
  start-up) installs its own.

Each is a context manager that restores what it changed, and does nothing
outside the main thread, where Python cannot set signal handlers.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: the signals that stop a run
STOPPING = (signal.SIGINT, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt for the block, as Ctrl-C does."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then deliver the first that arrived, as its own
    handler would have."""
    if not _in_main_thread():
        yield
        return
    pending: list[int] = []
    previous = {signum: signal.signal(signum, lambda number, _frame: pending.append(number)) for signum in STOPPING}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for number in pending[:1]:
            handler = previous[signal.Signals(number)]
            if callable(handler):
                handler(number, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(number)


@contextmanager
def handlers_kept() -> Iterator[None]:
    """Whatever the block installs for Ctrl-C and SIGTERM (Ray's start-up installs a SIGTERM handler that
    aborts the process), the handlers from before are put back after it."""
    if not _in_main_thread():
        yield
        return
    kept = {signum: signal.getsignal(signum) for signum in STOPPING}
    try:
        yield
    finally:
        for signum, handler in kept.items():
            if handler is not None:
                signal.signal(signum, handler)
