"""SIGTERM (systemd stopping the unit) or Ctrl-C during a run's migrations: stop dispatching; a
second one aborts the running migrations; a third stops waiting for libvirt calls that do not
return (their moves are reported unknown). The run then ends cleanly, history and all."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from operations.stop_signals import on_stop_signals


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

    def escalate() -> None:
        steps = (interrupts.stop, interrupts.abort, interrupts.abandon)
        next(event for event in steps if not event.is_set() or event is interrupts.abandon).set()
        interrupts.signalled.set()

    with on_stop_signals(escalate):
        yield interrupts
