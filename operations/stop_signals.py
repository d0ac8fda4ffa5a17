"""SIGTERM (systemd stopping a unit) and SIGINT (Ctrl-C) routed to a callback while a block runs.

Only the main thread can take signals; elsewhere (a test calling the workflow from a thread) the
block runs without the handler. The previous handlers come back when the block ends, whatever
happened in it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def on_stop_signals(callback: Callable[[], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        callback()

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
