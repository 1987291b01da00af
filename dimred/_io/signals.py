"""Holding Ctrl-C and SIGTERM back while a library that cannot take them is at work."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_HELD = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so it stops as cleanly as after Ctrl-C (temporary files removed, a
    failed run's folder removed or marked)."""


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends and are then handled as they would have been. h5py raises
    an interrupt that lands in one of its callbacks nowhere (Python prints it as ignored), so an interrupted
    write of an .h5ad file would go on, and its command exit 0."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread
        yield
        return
    received: list[tuple[int, FrameType | None]] = []
    previous = {number: signal.getsignal(number) for number in _HELD}
    for number in _HELD:
        signal.signal(number, lambda number, frame: received.append((number, frame)))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if received:
            number, frame = received[0]
            handler = previous[number]
            if callable(handler):
                handler(number, frame)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(number)
