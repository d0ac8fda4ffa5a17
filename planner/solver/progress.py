"""What the solver reports while it works: the stage, the best goal so far and the bound, so an
operator watching a long solve sees whether waiting longer can still help."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SolveProgress:
    stage: str  # "greedy", "cp-sat", "lns"
    goal: int  # the goal's value: weighted peak ‰ for spread, hosts in use for consolidate
    bound: int  # no placement does better than this
    elapsed_s: float  # since planning began


ProgressSink = Callable[[SolveProgress], None]


def ignore(_: SolveProgress) -> None:
    """The sink when nobody is watching."""
