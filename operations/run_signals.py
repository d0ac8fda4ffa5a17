"""SIGTERM (systemd stopping the unit) or Ctrl-C during a run's migrations: stop dispatching; a
second one aborts the running migrations; a third stops waiting for libvirt calls that do not
return (their moves are reported unknown). The run then ends cleanly, history and all."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType


@dataclass(frozen=True)
class Interrupts:
    stop: threading.Event = field(default_factory=threading.Event)
    abort: threading.Event = field(default_factory=threading.Event)
    abandon: threading.Event = field(default_factory=threading.Event)
    signalled: threading.Event = field(default_factory=threading.Event)  # any of them arrived


@contextmanager
def migration_signals() -> Iterator[Interrupts]:
    """The steps above while the block runs (only the main thread can take signals)."""
    interrupts = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        steps = (interrupts.stop, interrupts.abort, interrupts.abandon)
        next(event for event in steps if not event.is_set() or event is interrupts.abandon).set()
        interrupts.signalled.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield interrupts
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
