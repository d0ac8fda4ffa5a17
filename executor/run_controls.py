"""How a caller shapes and steers a run of `apply_plan`: its options, and the controls (signal
handlers, a window's end) that stop it from outside.

The main thread must act on a stop, an abort or a deadline within seconds even while it reads a
host that hangs, so such reads run through `interruptible`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from executor.config import ExecutorConfig
from executor.schedule import Deadline

T = TypeVar("T")
POLL_S = 0.05  # how often the main loop looks at results, signals and deadlines


@dataclass(frozen=True)
class ApplyOptions:
    config: ExecutorConfig = field(default_factory=ExecutorConfig)
    force: bool = False
    stop_on_error: bool = False
    deadline: Deadline | None = None  # past it nothing new starts: the run stops as if `stop` were set
    lock_hosts: tuple[str, ...] = ()  # hosts to lock (default: the plan's); the inventory's for a live cluster
    lock_held: bool = False  # the caller (`run`) already holds the cluster lock
    # Asked right before each step starts: why its destination takes no VM now ("" when it may),
    # e.g. a host cordoned while the run goes on. A step sent to such a host is blocked, not started.
    closed_to: Callable[[str], str] | None = None


@dataclass(frozen=True)
class Controls:
    """How a caller (signal handlers, a window) steers a run from outside."""

    stop: threading.Event = field(default_factory=threading.Event)  # start nothing new
    abort: threading.Event = field(default_factory=threading.Event)  # also abort what runs
    abandon: threading.Event = field(default_factory=threading.Event)  # stop waiting for what has not returned

    def any_set(self) -> bool:
        return any(e.is_set() for e in (self.stop, self.abort, self.abandon))

    def escalate(self) -> None:
        """Ctrl-C without the CLI's handlers: the first stops, the second aborts, the third abandons."""
        for event in (self.stop, self.abort, self.abandon):
            if not event.is_set():
                event.set()
                return


class Interrupted(Exception):
    """A stop arrived while an interruptible call was still under way."""


def interruptible(call: Callable[[], T], what: str, told_to_stop: Callable[[], bool]) -> T:
    """`call()` in a daemon thread while the main thread keeps watching `told_to_stop`: reads of a
    host that hangs (each bounded by the backend, but possibly for many seconds) must not delay
    a stop, an abort or a window's end. Raises Interrupted when told to stop first."""
    outcome: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def target() -> None:
        try:
            outcome.put((True, call()))
        except BaseException as error:  # noqa: BLE001 — re-raised in the main thread
            outcome.put((False, error))

    threading.Thread(target=target, name=what, daemon=True).start()
    while True:
        try:
            ok, value = outcome.get(timeout=POLL_S)
        except queue.Empty:
            if told_to_stop():
                raise Interrupted() from None
            continue
        if ok:
            return value
        raise value
