"""A call that may never return (a TCP connect to a dead host, a libvirt call behind a stopped
QEMU), run so that its caller always gets an answer in time: in a daemon thread, abandoned rather
than joined when it overruns. Used by the collector and by the executor's libvirt driver."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class NoAnswer(TimeoutError):
    """The call did not return within its deadline; it may still be running."""


def within(timeout_s: float, call: Callable[[], T], what: str) -> T:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # noqa: BLE001 — handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name=what[:40], daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise NoAnswer(f"no answer within {timeout_s:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
