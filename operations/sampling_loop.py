"""`rebalance collect --every`: one round per period until a count is reached or a signal stops it.

Each round starts one period after the previous one started, or at once when that round took
longer. SIGTERM (systemd stopping the unit) and Ctrl-C do not cut a round short: the round in
progress finishes (it is at most the sampling interval plus the host timeout) and is stored, then
the loop ends cleanly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from operations.stop_signals import on_stop_signals


@dataclass(frozen=True)
class Rounds:
    done: int
    failed: int
    stopped: bool  # a signal ended the loop before its count


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while the block runs (only the main thread takes signals)."""
    stop = threading.Event()
    with on_stop_signals(stop.set):
        yield stop


def repeat(period_s: float, count: int | None, one_round: Callable[[int], bool], stop: threading.Event,
           clock: Callable[[], float] = time.monotonic) -> Rounds:
    """Call `one_round(n)` (n = 1, 2, …; it returns False for a failed round) every `period_s`."""
    done = failed = 0
    while not stop.is_set() and (count is None or done < count):
        started = clock()
        if not one_round(done + 1):
            failed += 1
        done += 1
        if count is not None and done >= count:
            break
        stop.wait(max(0.0, started + period_s - clock()))
    return Rounds(done, failed, stop.is_set())
