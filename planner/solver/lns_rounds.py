"""The round loop of large-neighbourhood search, for every engine of the solver package.

A round draws a neighbourhood kind, lets the engine solve that neighbourhood within a limit and keep
what it finds when it is better, and tells the kind's chooser what the round removed per unit of
effort. The allowance says what each round may spend and when to stop: a wall-clock deadline, a
modelled budget, or a count of rounds. An engine only says how to draw and solve its neighbourhoods
(`RoundEngine`), so the product's LNS (planner/solver/lns.py) and the reassignment LNS
(planner/solver/reassign/lns.py) share the loop, its stopping rules and its bookkeeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

# Less than this left of a deadline, or as a round's limit, is no round at all: CP-SAT would only
# load the model and stop.
MIN_ROUND_S = 0.05


@dataclass(frozen=True)
class RoundResult:
    kept: bool  # the round's proposal was better and is now the current solution
    gain: float = 0.0  # what the round removed from the objective, as the chooser weighs it
    effort: float = 0.0  # what the round is charged: modelled seconds, wall seconds, or 1 a round
    solved: bool = True  # False: the kind drew nothing to solve (its chooser is not told)
    cut: bool = False  # the wall clock, not the round's own limit, ended its solve


NOTHING_TO_SOLVE = RoundResult(kept=False, solved=False)


class RoundEngine(Protocol):
    def round(self, kind: int, limit: float) -> RoundResult:
        """Draw a neighbourhood of `kind`, solve it within `limit` (the allowance's unit) and keep
        the result if it is better."""


class KindChooser(Protocol):
    def pick(self) -> int: ...

    def reward(self, option: int, gain: float, seconds: float) -> None: ...


class Allowance(Protocol):
    def next_limit(self) -> float | None:
        """The next round's limit; None: stop."""

    def charge(self, result: RoundResult) -> None: ...


@dataclass
class RoundTally:
    """What the rounds did so far (kept across calls of `run_rounds` on one engine)."""

    rounds: int = 0  # rounds that solved something
    kept: int = 0
    stalled: int = 0  # rounds in a row that kept nothing
    cut: bool = False


def run_rounds(engine: RoundEngine, chooser: KindChooser, allowance: Allowance, tally: RoundTally,
               stall_after: int | None = None) -> None:
    """Rounds until the allowance ends them, or `stall_after` rounds in a row keep nothing."""
    while stall_after is None or tally.stalled < stall_after:
        limit = allowance.next_limit()
        if limit is None:
            return
        kind = chooser.pick()
        result = engine.round(kind, limit)
        allowance.charge(result)
        tally.cut = tally.cut or result.cut
        if result.solved:
            tally.rounds += 1
            chooser.reward(kind, result.gain, result.effort)
        if result.kept:
            tally.kept, tally.stalled = tally.kept + 1, 0
        else:
            tally.stalled += 1


class Rotation:
    """Kinds in turn, whatever they gained: for an engine whose kinds are few and each needed."""

    def __init__(self, kinds: int) -> None:
        self.kinds = kinds
        self.turn = -1

    def pick(self) -> int:
        self.turn += 1
        return self.turn % self.kinds

    def reward(self, option: int, gain: float, seconds: float) -> None:
        return None


@dataclass
class Deadline:
    """Rounds of at most `cap` seconds until a time.monotonic() deadline."""

    deadline: float
    cap: float

    def next_limit(self) -> float | None:
        left = self.deadline - time.monotonic()
        seconds = min(self.cap, left)
        return seconds if left > MIN_ROUND_S and seconds > MIN_ROUND_S else None

    def charge(self, result: RoundResult) -> None:
        return None


@dataclass
class RoundCount:
    """Exactly `left` rounds of `limit` each, whatever the clock says: a run that repeats."""

    left: int
    limit: float

    def next_limit(self) -> float | None:
        return self.limit if self.left > 0 and self.limit > MIN_ROUND_S else None

    def charge(self, result: RoundResult) -> None:
        self.left -= 1
