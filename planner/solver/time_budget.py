"""`--time-limit` as wall-clock seconds, and the deterministic work those seconds buy.

The limit is a hard deadline: every CP-SAT call gets what is left of it as max_time_in_seconds,
and no new call starts once it has passed.

In deterministic mode (the default) the search is also capped by CP-SAT's deterministic clock,
which counts work rather than time, so the same seed and input stop at the same point and give the
same plan. The cap is the limit times a units-per-second rate measured on this machine (each
solver stage keeps its own), chosen low enough that the deterministic cap, not the wall clock,
normally ends the search. The wall clock stays the backstop: when it cuts a deterministic search
(a loaded machine, a slow greedy), the plan is whatever was found by then and its status says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from planner.domain.policy import SolverSettings
from planner.solver.cpsat_setup import CallLimits

MAY_NOT_REPEAT = "this plan may not repeat"
WALL_CLOCK_CUT = f"stopped by the wall-clock limit: {MAY_NOT_REPEAT}"
# The share of the limit that deterministic work charged in modelled seconds of this machine (the
# greedy's passes, then the LNS rounds) may fill. This machine's own speed varies by a quarter
# between runs, and two other busy jobs on its two cores slow a search by half again (measured on
# scenarios/large-200x3000.yaml at a 7 s limit: at 0.65 consolidation's rounds were cut by the
# wall clock with two busy loops beside it). The rest of the limit is that margin, so the modelled
# work, not the wall clock, ends the search and a seed repeats; building the problem, the greedy's
# repair and writing up the plan also come out of it.
MODELLED_SHARE = 0.5
# What planning does before the search, modelled from the input's size, so that the work the search
# may do (and the plan) does not depend on how fast that part ran: building the problem, the first
# states and bounds (per VM group), and the repair (per group that must move: a drain's moves). On
# large inputs it is seconds, and taking it out of the margin above let the wall clock, not the
# modelled work, end the search (5000x100000 at a 10 s limit). Measured on the tight clusters, 4,000
# to 100,000 VMs: 17-23 µs per group and 0.17-0.42 ms per group that must move; about 1.15 × that.
SETUP_S_PER_UNIT = 26e-6
SETUP_S_PER_MUST_MOVE = 0.5e-3
# Less than this left is no time at all: CP-SAT would only load the model and stop.
MIN_CALL_SECONDS = 0.02
# Statuses CP-SAT only returns after finishing the search: the clock that stopped it does not matter.
PROVEN = (cp_model.OPTIMAL, cp_model.INFEASIBLE)
# CP-SAT returns a few milliseconds either side of its wall-clock limit; a search ending this close
# to it is taken as cut by it. The deterministic cap normally ends a search much earlier.
WALL_CLOCK_TOLERANCE_S = 0.05


@dataclass(frozen=True)
class TimeBudget:
    """When solving must end (time.monotonic()), and the deterministic work allowed in all
    (None outside deterministic mode, where only the deadline counts)."""

    deadline: float
    work: float | None

    @staticmethod
    def of(settings: SolverSettings, units_per_second: float, started: float | None = None,
           spent_s: float = 0.0) -> TimeBudget:
        """The budget of a search that began at `started` after earlier work (the greedy's) that
        the deterministic clock charges `spent_s` modelled seconds of the limit: it gets the rest.
        A modelled figure, not the wall clock, so the work allowed, and the plan, repeat."""
        began = time.monotonic() if started is None else started
        work = max(0.0, settings.time_limit_s - spent_s) * units_per_second if settings.deterministic else None
        return TimeBudget(began + settings.time_limit_s, work)

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        return self.seconds_left() < MIN_CALL_SECONDS

    def cut(self) -> bool:
        """Whether the wall clock has run out on a deterministic search."""
        return self.work is not None and self.expired()

    def cut_call(self, solver: cp_model.CpSolver, status: int) -> bool:
        """Whether the wall clock, not the deterministic cap, ended this deterministic CP-SAT call."""
        if self.work is None or status in PROVEN:
            return False
        return self.expired() or solver.wall_time >= solver.parameters.max_time_in_seconds - WALL_CLOCK_TOLERANCE_S


def modelled_setup_s(units: int, must_move: int) -> float:
    """The modelled seconds planning takes before the search, for `units` VM groups of which
    `must_move` must move."""
    return SETUP_S_PER_UNIT * units + SETUP_S_PER_MUST_MOVE * must_move


def modelled_allowance(settings: SolverSettings, setup_s: float = 0.0) -> float:
    """The modelled seconds of deterministic work the limit buys: MODELLED_SHARE of what is left of
    it after the modelled `setup_s` (modelled_setup_s)."""
    return max(0.0, settings.time_limit_s - setup_s) * MODELLED_SHARE


def call_limits(budget: TimeBudget, work: float | None, seconds: float | None = None) -> CallLimits:
    """One CP-SAT call's caps: the wall clock at what is left of the budget (or `seconds`, if less),
    and in deterministic mode its deterministic clock at `work`."""
    left = budget.seconds_left()
    wall = left if seconds is None else min(seconds, left)
    return CallLimits(wall, work if budget.work is not None else None)
