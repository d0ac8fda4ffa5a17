"""The time a run goes by: the wall clock, or (testing, `--now`) a clock that starts at a given
instant and then advances with real time — or, on the simulated backend, with the simulated
duration of the migrations completed so far, so window tests are exact and need no waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta


class RunClock:
    def __init__(self, start: datetime | None = None, simulated: bool = False) -> None:
        self.start = start
        self.simulated = simulated and start is not None  # time stands still until migrations run
        self._began = time.monotonic()
        self._elapsed: Callable[[], float] = lambda: 0.0

    def follow(self, elapsed_s: Callable[[], float]) -> None:
        """Simulated time: from now on the start plus `elapsed_s()` (the migrations' durations)."""
        self._elapsed = elapsed_s

    def __call__(self) -> datetime:
        if self.start is None:
            return datetime.now().astimezone()
        if self.simulated:
            return self.start + timedelta(seconds=self._elapsed())
        return self.start + timedelta(seconds=time.monotonic() - self._began)

    def timestamp(self) -> float:
        return self().timestamp()


def parse_now(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is local time."""
    from planner.domain.errors import InputError  # noqa: PLC0415

    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError("--now", f"must be an ISO 8601 time such as 2026-11-26T04:59:00, got {text!r}") from None
    return parsed if parsed.tzinfo else parsed.astimezone()
