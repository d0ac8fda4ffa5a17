"""Late-acceptance local search over single moves and swaps, the fast half of the solver.

Starts from the original assignment (feasible by the rules), so every intermediate state is
feasible and the best one is always a valid answer. Each step picks a process, from one of the
currently most expensive machines half of the time (that is where load and balance cost live),
prices all its single moves and takes the cheapest; when no move is accepted it prices swaps with
1,000 random partners and tries the best few exactly. The steps are compiled with numba
(compiled_steps.py; compiled_moves.py says what that gained); the first use compiles them (about 8 s) into
__pycache__, later runs load them from there.

Acceptance is late acceptance (Burke & Bykov): a step is kept if it is no worse than the cost
`history` steps ago, which lets the search walk out of the shallow local optima that swaps alone
leave behind, with one parameter and no temperature schedule. Deterministic for a seed when
bounded by `max_steps`; a time limit makes it stop wherever the clock says (it steps in chunks
sized to take about CHUNK_SECONDS between looks at the clock: a step costs tens of microseconds on
a hundred machines and more on thousands).

The cost it accepts by is the true cost plus the hold price of every process away from home
(hold.py), as the LNS's sub-problems charge it: a walk over equal-cost moves would otherwise send
processes away for nothing and spend the transient room they hold on their homes. The best
assignment kept is the one with the lowest true cost.

It shares the SearchState with the LNS: before its steps it takes up the state as the LNS left it
(compiled_arrays.py lays the state out as the steps' arrays), after them it walks the state to
where its steps ended, so the two halves keep taking turns on one assignment.
"""

from __future__ import annotations

import time

import numpy as np

from planner.solver.reassign.compiled_arrays import Scalars, dynamic_arrays, static_arrays
from planner.solver.reassign.compiled_moves import ACCEPTED, BEST, BEST_IS_CURRENT, STEPS
from planner.solver.reassign.compiled_steps import run_steps
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.instance import (
    Instance,
    Machines,
    ObjectiveWeights,
    Processes,
    Resources,
    Services,
    frozen_array,
)
from planner.solver.reassign.settings import SearchSettings

CHUNK_SECONDS = 0.02
FIRST_CHUNK = 64  # steps before the first measure of a step's time
# Late-acceptance list lengths (SearchSettings.history None). Where the local search leads to the
# end (hundreds of processes per machine: b_3, b_5, b_6, b_8) the short list converges within the
# challenge's minutes; a list of 300 left b_5 0.053 -> 0.584 and b_3 0.110 -> 0.172 at 60 s on one
# core. Where the LNS may take over, the local search's walk decides which basin the LNS then
# re-packs, and the longer list reaches better ones: at 60 s on one core A's mean over the medians of
# seeds 0-2 went 2.854 -> 1.891 (a2_2 12.8 -> 7.7, a2_5 6.1 -> 3.4; a1_4 0.5 -> 1.2) and b_1's median
# 4.10 -> 2.19; at 300 s on two cores b_1 scored 0.846 / 0.309 / 1.465 (2.331 / 1.765 / 2.319 with 30).
# Lists of 1000 and 3000 did worse than 300 on b_1 at 60 s in ad hoc runs (docs/experiments.md, roadef-history).
SHORT_HISTORY = 30
LONG_HISTORY = 300


def history_length(settings: SearchSettings, lns_may_lead: bool) -> int:
    """The late-acceptance list length a search uses: the settings' own, else by instance."""
    if settings.history is not None:
        return max(settings.history, 0)
    return LONG_HISTORY if lns_may_lead else SHORT_HISTORY


class LateAcceptance:
    def __init__(self, state: SearchState, settings: SearchSettings, lns_may_lead: bool = False) -> None:
        self.state = state
        self.static = static_arrays(state, settings.hold_price)
        self.service_weight = int(state.service_weight)
        self.dynamic = dynamic_arrays(state)
        self.scalars = Scalars.of(state, self.static, settings.seed)
        self.history = np.full(history_length(settings, lns_may_lead), self.scalars.priced(self.service_weight),
                               dtype=np.int64)
        self.best = state.assignment.copy()
        self.best_cost = state.total()
        self.kernel_best = self.best.copy()

    @property
    def steps(self) -> int:
        return int(self.scalars.values[STEPS])

    @property
    def accepted(self) -> int:
        return int(self.scalars.values[ACCEPTED])

    @property
    def cost(self) -> int:
        """What acceptance compares: the true cost of where the steps stand plus every hold price."""
        return self.scalars.priced(self.service_weight)

    @property
    def best_assignment(self) -> np.ndarray:
        return self.best.copy()

    def run(self, deadline: float, max_steps: int | None = None) -> None:
        """Steps until `deadline`, or exactly `max_steps` more steps when given (the clock is then
        ignored, so a run repeats on any machine)."""
        self._take_up_state()
        if max_steps is not None:
            self._steps(max_steps)
        else:
            self._steps_until(deadline)
        self._hand_back_state()

    def adopt_current(self) -> None:
        """Take up the state after the LNS improved it: a new best perhaps, and the acceptance
        history restarts from it, or late acceptance would walk the gain straight back."""
        if self.state.total() < self.best_cost:
            self.best_cost = self.state.total()
            self.best = self.state.assignment.copy()
        self._take_up_state()
        self.history[:] = self.scalars.priced(self.service_weight)

    def _steps_until(self, deadline: float) -> None:
        chunk = FIRST_CHUNK
        while (now := time.monotonic()) < deadline:
            self._steps(chunk)
            seconds_per_step = max(time.monotonic() - now, 1e-6) / chunk
            left = max(deadline - time.monotonic(), 0.0)
            chunk = max(1, int(min(CHUNK_SECONDS, left) / seconds_per_step))

    def _steps(self, count: int) -> None:
        run_steps(count, self.static, self.dynamic, self.scalars.values, self.history, self.kernel_best)

    def _take_up_state(self) -> None:
        """Lay the kernel's arrays out from the state if anything else (the LNS) moved it."""
        if not np.array_equal(self.dynamic[0], self.state.assignment):
            self.dynamic = dynamic_arrays(self.state)
        self.scalars.take_up(self.state, self.static)
        values = self.scalars.values
        if self.state.total() > self.best_cost:
            values[BEST], values[BEST_IS_CURRENT] = self.best_cost, 0
            self.kernel_best[:] = self.best

    def _hand_back_state(self) -> None:
        """Walk the state to where the steps ended and keep the best they found."""
        assignment = self.dynamic[0]
        for p in np.flatnonzero(assignment != self.state.assignment).tolist():
            self.state.apply_move(p, int(assignment[p]))
        values = self.scalars.values
        if int(values[BEST]) < self.best_cost:
            self.best_cost = int(values[BEST])
            self.best = assignment.copy() if values[BEST_IS_CURRENT] else self.kernel_best.copy()


def compile_steps() -> None:
    """Compile the steps, or load them from numba's cache, on a one-process instance: the solver
    calls this before its clock starts, so no search's time limit pays for it (about 8 s the first
    time after installing, a fraction of a second once cached)."""
    one = frozen_array(np.ones((1, 1)), np.int64)
    instance = Instance(
        name="compile",
        resources=Resources(transient=frozen_array([True], bool), load_weight=frozen_array([1], np.int64)),
        machines=Machines(neighborhood=frozen_array([0, 0], np.int32), location=frozen_array([0, 1], np.int32),
                          capacity=frozen_array([[2], [2]], np.int64), safety=frozen_array([[1], [1]], np.int64),
                          move_cost=frozen_array(np.zeros((2, 2)), np.int32)),
        services=Services(spread_min=frozen_array([1], np.int32), dependencies=((),)),
        processes=Processes(service=frozen_array([0], np.int32), requirement=one, move_cost=frozen_array([1], np.int64)),
        balances=(),
        weights=ObjectiveWeights(process=1, service=1, machine=1),
    )
    LateAcceptance(SearchState(instance, np.zeros(1, dtype=np.int64)), SearchSettings()).run(0.0, max_steps=1)
