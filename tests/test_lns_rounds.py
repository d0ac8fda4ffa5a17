"""The one round loop both LNS engines run: what it counts, whom it tells, when it stops."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from planner.solver.lns_rounds import (
    NOTHING_TO_SOLVE,
    Deadline,
    RoundCount,
    RoundResult,
    RoundTally,
    Rotation,
    run_rounds,
)


@dataclass
class ScriptedEngine:
    """Plays back one result per round and records the kinds and limits it was asked for."""

    script: list[RoundResult]
    asked: list[tuple[int, float]] = field(default_factory=list)

    def round(self, kind: int, limit: float) -> RoundResult:
        self.asked.append((kind, limit))
        return self.script[len(self.asked) - 1]


@dataclass
class RecordingChooser:
    rewards: list[tuple[int, float, float]] = field(default_factory=list)
    turn: int = 0

    def pick(self) -> int:
        self.turn += 1
        return self.turn % 2

    def reward(self, option: int, gain: float, seconds: float) -> None:
        self.rewards.append((option, gain, seconds))


KEPT = RoundResult(kept=True, gain=5.0, effort=0.5)
MISSED = RoundResult(kept=False, effort=0.25)


def test_a_round_count_runs_exactly_that_many_rounds_and_counts_only_solved_ones() -> None:
    engine = ScriptedEngine([KEPT, NOTHING_TO_SOLVE, MISSED, KEPT])
    chooser, tally = RecordingChooser(), RoundTally()
    run_rounds(engine, chooser, RoundCount(4, 0.3), tally)
    assert engine.asked == [(1, 0.3), (0, 0.3), (1, 0.3), (0, 0.3)]
    assert (tally.rounds, tally.kept) == (3, 2)
    # The round that drew nothing is not rewarded; the others are, with their gain and effort.
    assert chooser.rewards == [(1, 5.0, 0.5), (1, 0.0, 0.25), (0, 5.0, 0.5)]


def test_rounds_stop_after_a_stall_and_a_kept_round_restarts_the_count() -> None:
    engine = ScriptedEngine([MISSED, KEPT, MISSED, NOTHING_TO_SOLVE, MISSED, MISSED])
    tally = RoundTally()
    run_rounds(engine, RecordingChooser(), RoundCount(100, 1.0), tally, stall_after=3)
    assert len(engine.asked) == 5  # 1 missed, 1 kept, then 3 that keep nothing
    assert tally.stalled == 3


def test_the_tally_carries_over_between_calls_on_one_engine() -> None:
    engine = ScriptedEngine([KEPT, MISSED, KEPT])
    tally = RoundTally()
    run_rounds(engine, RecordingChooser(), RoundCount(2, 1.0), tally)
    run_rounds(engine, RecordingChooser(), RoundCount(1, 1.0), tally)
    assert (tally.rounds, tally.kept, tally.stalled) == (3, 2, 0)


def test_a_cut_round_marks_the_tally() -> None:
    tally = RoundTally()
    run_rounds(ScriptedEngine([RoundResult(kept=False, cut=True)]), RecordingChooser(), RoundCount(1, 1.0), tally)
    assert tally.cut


def test_a_deadline_caps_each_round_by_what_is_left_and_ends_near_it() -> None:
    allowance = Deadline(time.monotonic() + 0.3, cap=1.0)
    first = allowance.next_limit()
    assert first is not None and 0.2 < first <= 0.3
    assert Deadline(time.monotonic() + 10.0, cap=0.4).next_limit() == 0.4
    assert Deadline(time.monotonic() + 0.01, cap=1.0).next_limit() is None  # no time for a round


def test_no_round_of_a_limit_too_small_to_solve_anything() -> None:
    engine = ScriptedEngine([KEPT])
    run_rounds(engine, RecordingChooser(), RoundCount(5, 0.01), RoundTally())
    assert engine.asked == []


def test_rotation_draws_each_kind_in_turn_whatever_it_gained() -> None:
    rotation = Rotation(3)
    picks = []
    for _ in range(7):
        picks.append(rotation.pick())
        rotation.reward(picks[-1], 100.0 if picks[-1] == 0 else 0.0, 1.0)
    assert picks == [0, 1, 2, 0, 1, 2, 0]
