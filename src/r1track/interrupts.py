"""Signals and the files being written: each frame's outputs are written whole, and SIGTERM ends a
run through `finally` blocks (which close the overlay into a playable file), as Ctrl-C does.

Python runs signal handlers in the main thread only; elsewhere these helpers do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
    """SIGTERM as an exception (like KeyboardInterrupt for SIGINT): the CLI exits with 143."""

    exit_code = 128 + signal.SIGTERM


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them to the handlers of before.

    A write of several files interrupted half-way leaves them disagreeing; deferred, the signal
    arrives between two whole writes.
    """
    if not _in_main_thread():
        yield
        return
    pending: list[int] = []
    previous = {}
    for signum in HELD_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is not None and handler != signal.SIG_IGN:  # None: not set from Python
            previous[signum] = signal.signal(signum, lambda s, _frame: pending.append(s))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)  # runs the handler now: KeyboardInterrupt, Terminated


def _raise_terminated(signum: int, _frame) -> None:
    raise Terminated(signum)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises `Terminated` instead of ending the process at once."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
