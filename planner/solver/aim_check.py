"""Whether the spread greedy's aimed pass will reach its aim, judged a quarter of the way in.

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

CHECK_AT = 0.25  # share of the aimed pass's budget after which its progress is judged
ON_TRACK = 0.42  # share of the load above the aim that must be gone by then
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
    """The aim of one aimed pass: `ceiling` until CHECK_AT of `budget` is spent, then, if less than
    ON_TRACK of the load above it is gone, the raised aim for the rest of the pass."""

    def __init__(self, state: PlacementState, ceiling: Caps, budget: GreedyBudget | None) -> None:
        self.ceiling = ceiling
        self.first: Caps | None = None  # the aim before it was raised, until the pass goes back to it
        self.budget = budget
        self.mark = budget.mark() if budget is not None else None
        self.start = load_above(state, ceiling)
        self.checked = self.mark is None or self.start == 0

    def aim(self, state: PlacementState) -> tuple[Caps, bool]:
        """The aim for the next step, and whether it was raised just now (the hosts passed over
        under the first aim may come down to the raised one)."""
        if self.checked:
            return self.ceiling, False
        spent = self.budget.fraction_since(self.mark)
        if spent is None or spent < CHECK_AT:
            return self.ceiling, False
        self.checked = True
        if 1 - load_above(state, self.ceiling) / self.start >= ON_TRACK:
            return self.ceiling, False
        self.first, self.ceiling = self.ceiling, raised(state, self.ceiling)
        return self.ceiling, True

    def back_to_first(self) -> Caps | None:
        """Once no host is above the raised aim: the first aim, for the rest of the budget (once);
        None when the aim was never raised or is back already."""
        first, self.first = self.first, None
        if first is not None:
            self.ceiling = first
        return first
