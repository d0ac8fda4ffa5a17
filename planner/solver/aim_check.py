"""Whether the spread greedy's aimed pass will reach its aim, judged a quarter and half of the way in.

The aimed pass relieves every host above the aim (one per-mille over the lower bound) into hosts
that stay under it. Where memory is tight it cannot finish within the budget: it then spends most of
the budget taking the hosts it reaches all the way down while the peak stays where the hosts it
could not relieve are, and the step by step pass after it has little left. How much of the load
above the aim is gone a quarter of the way through the pass's budget tells the two apart: on the
tight 1000x20000 clusters (greedy alone, the 10 s limit's budget, seeds 1-6) the runs that went on
to reach the bound had removed 45-52 % by then, those that fell short 32-40 % (fill 0.88 and one
seed at fill 0.80). Aiming the rest of such a pass RAISED_AIM × higher lowered the metric the greedy
reaches at fill 0.88 from 1.159 to 1.123 × the bound (mean of the six seeds; median 1.171 to 1.146),
at 0.90 from 1.200 to 1.143 and at 0.85 from 1.177 to 1.148 (seeds 1-3); runs on track are not
touched. A higher aim from the start instead had cost the runs that reach the bound (fill 0.80:
1.005 to 1.066 ×); raising it by 1.05 or 1.15 × did less (1.138, 1.133 at 0.88).

With a larger budget (the compiled searches refitted: 1.57 × the steps at 1,000 hosts) runs that do
not finish clear the first checkpoint (49-52 % gone) and fall behind after it (66-70 % at half,
75-78 % at three quarters; finishing runs 74 % and more at half): judged on track, such a pass spent
its share taking hosts to the aim one by one and the step-by-step pass after it got little, so more
budget made fill 0.90 worse (1.138 → 1.171 ×). The second checkpoint, at half the budget, raises the
aim for those (greedy alone at the 10 s limit's budget, seeds 1-3: fill 0.90 532 / 536 / 519 ‰ →
508 / 516 / 512, fill 0.88 seed 1 548 → 524, the rest and every run at the 5 s and 20 s limits'
budgets unchanged; the same at a threshold of 0.70 or 0.75 at fill 0.90). With the exchange search
charged less (2026-12-06) a run that falls short cleared 72 % at half (fill 0.88 seed 1: 74 %, then
545 ‰); asking 76 % there lowered four of 24 runs at fills 0.80-0.90 (seeds 1-6: 0.88 seed 1 545 →
519, 0.90 seed 4 519 → 504, 0.85 seed 2 471 → 469) and raised one (0.88 seed 4 516 → 521), the rest,
fill 0.75 and 200x4000 unchanged; 80 % raised two more.

A pass judged behind that meets its raised aim with budget left goes back to the first aim for the
rest (`back_to_first`): the raise is for a budget too short to reach the first aim, not a new goal.
Stopping at the raised aim instead left a third of a 100 s budget unused on a 10,000-host cluster
(benchmarks.at_scale, fill 0.85, seed 3: 535 ‰ where the pass without the check reached 520).
"""

from __future__ import annotations

import numpy as np

from planner.instance.state import PlacementState
from planner.solver.caps import Caps
from planner.solver.greedy_budget import GreedyBudget

# (share of the aimed pass's budget spent, share of the load above the aim that must be gone by
# then): judged at each in turn, the aim raised at the first that is missed, and never again.
CHECKPOINTS = ((0.25, 0.42), (0.5, 0.76))
RAISED_AIM = 1.1  # the aim for the rest of a pass that is behind, as a multiple of the first


def load_above(state: PlacementState, ceiling: Caps) -> int:
    """Σ over the goal's hosts of the per-mille above `ceiling`, in every resource the goal weighs."""
    problem, mask = state.problem, state.metric_mask
    wc, wm = problem.spread_weights
    above = 0
    if wc:
        above += int(np.maximum(state.cpu_pm[mask] - ceiling.cpu, 0).sum())
    if wm:
        above += int(np.maximum(state.mem_pm[mask] - ceiling.memory, 0).sum())
    if ceiling.extra is not None and problem.resources:
        weighed = np.asarray(problem.extra_weights) > 0
        above += int(np.maximum(state.extra_pm[mask][:, weighed] - ceiling.extra[weighed], 0).sum())
    return above


def raised(state: PlacementState, ceiling: Caps) -> Caps:
    """`ceiling` with the aim of every resource the goal weighs RAISED_AIM × higher."""
    problem = state.problem
    wc, wm = problem.spread_weights
    extra = ceiling.extra
    if extra is not None and problem.resources:
        weighed = np.asarray(problem.extra_weights) > 0
        extra = np.where(weighed, (extra * RAISED_AIM).astype(np.int64), extra)
    return Caps(int(ceiling.cpu * RAISED_AIM) if wc else ceiling.cpu,
                int(ceiling.memory * RAISED_AIM) if wm else ceiling.memory, extra)


class AimCheck:
    """The aim of one aimed pass: `ceiling` until a checkpoint (CHECKPOINTS) finds less of the load
    above it gone than that checkpoint asks, then the raised aim for the rest of the pass. With
    `raise_when_stuck`, a pass whose hosts left above its aim are all ones nothing takes under it
    raises its aim then (once, if no checkpoint did), and goes on at the raised aim."""

    def __init__(self, state: PlacementState, ceiling: Caps, budget: GreedyBudget | None,
                 raise_when_stuck: bool = False) -> None:
        self.ceiling = ceiling
        self.first: Caps | None = None  # the aim before it was raised, until the pass goes back to it
        self.may_raise = raise_when_stuck  # until the aim is raised, by a checkpoint or when stuck
        self.budget = budget
        self.mark = budget.mark() if budget is not None else None
        self.start = load_above(state, ceiling)
        self.checkpoints = list(CHECKPOINTS) if self.mark is not None and self.start > 0 else []

    def aim(self, state: PlacementState) -> tuple[Caps, bool]:
        """The aim for the next step, and whether it was raised just now (the hosts passed over
        under the first aim may come down to the raised one)."""
        if not self.checkpoints:
            return self.ceiling, False
        spent = self.budget.fraction_since(self.mark)
        if spent is None or spent < self.checkpoints[0][0]:
            return self.ceiling, False
        gone = 1 - load_above(state, self.ceiling) / self.start
        while self.checkpoints and spent >= self.checkpoints[0][0]:
            _, needed = self.checkpoints.pop(0)
            if gone < needed:
                self.checkpoints.clear()
                self.may_raise = False
                self.first, self.ceiling = self.ceiling, raised(state, self.ceiling)
                return self.ceiling, True
        return self.ceiling, False

    def raised_when_stuck(self, state: PlacementState) -> Caps | None:
        """The raised aim, once, for a pass that may raise it and has only hosts nothing takes under
        its aim left above it; None otherwise. It does not go back to the first aim: the targets
        already reach it, and the stuck hosts need the room above it."""
        if not self.may_raise:
            return None
        self.may_raise = False
        self.checkpoints.clear()
        self.ceiling = raised(state, self.ceiling)
        return self.ceiling

    def back_to_first(self) -> Caps | None:
        """Once no host is above the raised aim: the first aim, for the rest of the budget (once);
        None when the aim was never raised or is back already."""
        first, self.first = self.first, None
        if first is not None:
            self.ceiling = first
        return first
