"""The migrations under way in one run, their hard deadlines, and the hosts a lost one leaves behind.

A migration that outlives its hard deadline, or is abandoned, ends "unknown": nobody can say on
which host its VM runs, so both its hosts are quarantined and nothing else in this run touches them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from executor.report import StepRecord, StepStatus
from executor.schedule import Finish
from executor.steps import Step


@dataclass(frozen=True)
class Flight:
    step: Step
    started: float
    hard_deadline: float


class InFlight:
    def __init__(self) -> None:
        self._flights: dict[int, Flight] = {}
        self.quarantined: dict[str, str] = {}  # host → why nothing more may touch it in this run

    def __bool__(self) -> bool:
        return bool(self._flights)

    def __iter__(self) -> Iterator[Flight]:
        return iter(list(self._flights.values()))

    def take_off(self, step: Step, hard_deadline_s: float) -> None:
        now = time.monotonic()
        self._flights[step.index] = Flight(step, now, now + hard_deadline_s)

    def carries(self, step: Step) -> bool:
        return step.index in self._flights

    def land(self, step: Step) -> bool:
        """True when `step` was still in flight; a step already given up as unknown stays given up."""
        return self._flights.pop(step.index, None) is not None

    def heading_to(self, host: str) -> tuple[Step, ...]:
        return tuple(f.step for f in self._flights.values() if f.step.destination == host)

    def quarantine_of(self, step: Step) -> str | None:
        """Why `step` may not start: one of its hosts is in an unknown state (None when neither is)."""
        host = next((h for h in (step.source, step.destination) if h in self.quarantined), None)
        return None if host is None else f"{host} is in an unknown state: {self.quarantined[host]}"

    def late(self) -> list[Flight]:
        now = time.monotonic()
        return [f for f in self._flights.values() if now > f.hard_deadline]

    def lose(self, flight: Flight, why: str) -> StepRecord:
        """Give `flight` up as unknown: its hosts are quarantined, and its record says where to look."""
        step = flight.step
        self._flights.pop(step.index, None)
        for host in (step.source, step.destination):
            self.quarantined.setdefault(host, f"{step.vm}'s migration there ended unknown")
        return StepRecord.of(step, StepStatus.UNKNOWN, f"{why}; check {step.vm} on {step.source} and "
                                                       f"{step.destination}", time.monotonic() - flight.started,
                             Finish.UNKNOWN)
