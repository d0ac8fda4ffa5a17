"""The trade between the goal and the memory migrated to reach it, made explicit.

The spread greedy lowers the peak one step at a time, so its path is a list of plans, each valid:
fewer moves, a higher peak. With `limits.min_gain_per_moved_gib` = g, a plan is scored as its goal
(‰) plus g ‰ for every GiB it migrates, and the best-scoring plan on that path, or the solver's own,
is the one kept: a GiB is only moved if it buys at least g ‰ of peak. The same points, thinned to
the ones no other beats on both counts, are printed as the options the operator has.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.instance.problem import Problem
from planner.instance.state import PlacementState

MIB_PER_GIB = 1024
# Options printed with a plan: enough to see the shape of the trade, few enough to read.
SHOWN_OPTIONS = 5


@dataclass(frozen=True)
class TradePoint:
    goal: int
    moved_mib: int
    moves: int
    cost: int  # moved memory weighed by the policy's move costs: the solver's own tie-break
    step: int | None  # moves of the greedy's path that give this plan; None for the solver's plan

    @staticmethod
    def of(state: PlacementState, step: int | None) -> TradePoint:
        return TradePoint(state.goal_value(), state.moved_mib, state.moved_vms, state.move_cost, step)

    def score(self, per_gib: float) -> tuple[float, int]:
        return self.goal + per_gib * self.moved_mib / MIB_PER_GIB, self.cost


def greedy_path(greedy: PlacementState) -> list[TradePoint]:
    """The plan after each whole step of the greedy's improving passes, as it recorded them (the
    repair before them, which every point keeps, included)."""
    return [TradePoint(goal, moved_mib, moves, cost, step) for step, goal, moved_mib, moves, cost in greedy.path]


def state_at(problem: Problem, greedy: PlacementState, step: int) -> PlacementState:
    """The placement after the first `step` moves of the greedy's path (its later moves undone)."""
    state = PlacementState(problem, greedy.assignment)
    for unit, source, _ in reversed(greedy.moves[step:]):
        state.move(problem.units[unit], source)
    return state


def choose(points: list[TradePoint], per_gib: float) -> TradePoint:
    """The point with the best goal + per_gib × moved GiB; among equals, the cheapest to migrate.
    At 0 the last point (the solver's plan) stands: the goal alone decides, as the solver did."""
    if per_gib <= 0:
        return points[-1]
    return min(points, key=lambda point: point.score(per_gib))


def options(points: list[TradePoint]) -> list[TradePoint]:
    """The points no other beats on both goal and moved memory, fewest GiB first, thinned to a few."""
    frontier: list[TradePoint] = []
    for point in sorted(points, key=lambda p: (p.moved_mib, p.goal)):
        if not frontier or point.goal < frontier[-1].goal:
            frontier.append(point)
    if len(frontier) <= SHOWN_OPTIONS:
        return frontier
    last = len(frontier) - 1
    picks = sorted({round(i * last / (SHOWN_OPTIONS - 1)) for i in range(SHOWN_OPTIONS)})
    return [frontier[i] for i in picks]
