"""What the solver reports while it works: the stage, the best goal so far and the bound, so an
operator watching a long solve sees whether waiting longer can still help."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SolveProgress:
    stage: str  # "greedy", "cp-sat", "lns"; the reassignment search: "local search", "lns", "exchange"
    goal: int  # the goal's value: weighted peak ‰ for spread, hosts in use for consolidate; a cost
    bound: int  # no placement does better than this
    elapsed_s: float  # since planning began

    @property
    def gap_pct(self) -> float | None:
        """How far the best is above the bound, in per cent; None when the bound is 0."""
        return 100.0 * (self.goal - self.bound) / self.bound if self.bound > 0 else None


ProgressSink = Callable[[SolveProgress], None]


def ignore(_: SolveProgress) -> None:
    """The sink when nobody is watching."""


@dataclass(frozen=True)
class Reporter:
    """Tells the progress sink a stage's best goal, with the bound and the time since solving began."""

    sink: ProgressSink
    bound: int
    started: float

    def __call__(self, stage: str, goal: int) -> None:
        self.sink(SolveProgress(stage, goal, self.bound, time.monotonic() - self.started))


class Improvements:
    """Passes a report on only when its goal is below every one before: a search that offers its
    best after every slice would otherwise repeat the same line."""

    def __init__(self, report: Reporter) -> None:
        self.report = report
        self.last: int | None = None

    def __call__(self, stage: str, goal: int) -> None:
        if self.last is None or goal < self.last:
            self.last = goal
            self.report(stage, goal)
