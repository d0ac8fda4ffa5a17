"""Late-acceptance local search over single moves and swaps, the fast half of the solver.

Starts from the original assignment (feasible by the rules), so every intermediate state is
feasible and the best one is always a valid answer. Each step picks a process, from one of the
currently most expensive machines half of the time (that is where load and balance cost live),
prices all its single moves at once and takes the cheapest; when no move is accepted it prices
swaps with 1,000 random partners at once (with repeats: about all of them on set A) and tries
the best few exactly.

Acceptance is late acceptance (Burke & Bykov): a step is kept if it is no worse than the cost
`history` steps ago, which lets the search walk out of the shallow local optima that swaps alone
leave behind, with one parameter and no temperature schedule. Deterministic for a seed when
bounded by `max_steps`; a time limit makes it stop wherever the clock says.

The cost it accepts by is the true cost plus the hold price of every process away from home
(hold.py), as the LNS's sub-problems charge it: a walk over equal-cost moves would otherwise send
processes away for nothing and spend the transient room they hold on their homes. The best
assignment kept is the one with the lowest true cost.
"""

from __future__ import annotations

import time

import numpy as np

from planner.solver.reassign.delta import INFEASIBLE, SearchState
from planner.solver.reassign.hold import hold_costs
from planner.solver.reassign.settings import SearchSettings

HOT_SHARE = 0.1  # the most expensive tenth of the machines is "hot"
HOT_REFRESH = 256  # steps between re-ranking the machines
SWAP_SAMPLE = 1000  # swap partners priced per attempt: a small sample misses the few swaps that fit tight machines
SWAP_TRIES = 3  # best-priced swaps checked exactly


class LateAcceptance:
    def __init__(self, state: SearchState, settings: SearchSettings) -> None:
        self.state = state
        self.settings = settings
        self.rng = np.random.default_rng(settings.seed)
        self.hold = hold_costs(state, settings.hold_price)
        self.cost = self._priced_cost()  # what acceptance compares: the true cost plus holds
        self.best = state.assignment.copy()
        self.best_cost = state.total()
        self.best_is_current = True
        self.history = np.full(max(settings.history, 1), self.cost, dtype=np.int64)
        self.hot: np.ndarray = np.arange(len(state.capacity))
        self.cool: np.ndarray = self.hot
        self.steps = 0
        self.accepted = 0

    def run(self, deadline: float, max_steps: int | None = None) -> None:
        """Steps until `deadline`, or until `max_steps` more steps when given (then the clock is
        ignored, which makes a run reproducible regardless of machine speed)."""
        stop = None if max_steps is None else self.steps + max_steps
        while (stop is None or self.steps < stop) and (stop is not None or time.monotonic() < deadline):
            if self.steps % HOT_REFRESH == 0:
                self._rank_machines()
            self._step()
            self.steps += 1

    def adopt_current(self) -> None:
        """Take up the state after something else (the LNS) improved it: it may be a new best,
        and the acceptance history restarts from it, or late acceptance would accept walking the
        gain straight back."""
        self.cost = self._priced_cost()
        true_cost = self.state.total()
        if true_cost < self.best_cost:
            self.best_cost = true_cost
            self.best_is_current = True
        self.history[:] = self.cost

    def _priced_cost(self) -> int:
        away = self.state.assignment != self.state.original
        return self.state.total() + int(self.hold[away].sum())

    def _hold_change(self, moves: list[tuple[int, int]]) -> int:
        """How the held processes' price changes with `moves` (distinct processes)."""
        state = self.state
        return sum(int(self.hold[p]) * (int(m != state.original[p]) - int(state.assignment[p] != state.original[p]))
                   for p, m in moves)

    def _rank_machines(self) -> None:
        order = np.argsort(-self.state.machine_cost, kind="stable")
        size = max(1, int(len(order) * HOT_SHARE))
        self.hot, self.cool = order[:size], order[size:] if len(order) > size else order

    def _step(self) -> None:
        p = self._pick_process()
        threshold = self._threshold()
        deltas = self._priced_move_deltas(p)
        m = int(np.argmin(deltas))
        if deltas[m] < INFEASIBLE and deltas[m] <= threshold:
            if self._try([(p, m)], threshold):
                return
        self._try_swap(p, threshold)

    def _priced_move_deltas(self, p: int) -> np.ndarray:
        deltas = self.state.move_deltas(p)
        hold, home = int(self.hold[p]), int(self.state.original[p])
        if hold:
            if int(self.state.assignment[p]) == home:
                deltas[deltas < INFEASIBLE] += hold
            elif deltas[home] < INFEASIBLE:
                deltas[home] -= hold
        return deltas

    def _try(self, moves: list[tuple[int, int]], threshold: int) -> bool:
        """Apply `moves` if feasible and their priced change is at most `threshold`."""
        before = [(p, int(self.state.assignment[p])) for p, _ in moves]
        hold_change = self._hold_change(moves)
        delta = self.state.try_moves(moves, max_delta=threshold - hold_change)
        if delta is None:
            return False
        self._accepted(delta + hold_change, before)
        return True

    def _pick_process(self) -> int:
        rng, on = self.rng, self.state.processes_on
        if rng.random() < 0.5:
            machine = int(self.hot[rng.integers(len(self.hot))])
            if on[machine]:
                return on[machine][rng.integers(len(on[machine]))]
        return int(rng.integers(len(self.state.assignment)))

    def _threshold(self) -> int:
        """Largest accepted cost change: back to the cost `history` steps ago, never above it."""
        if self.settings.history == 0:
            return -1
        late = int(self.history[self.steps % len(self.history)])
        return late - self.cost if late > self.cost else -1

    def _try_swap(self, p: int, threshold: int) -> None:
        state = self.state
        partners = self.rng.integers(len(state.assignment), size=SWAP_SAMPLE)
        deltas = self._priced_swap_deltas(p, partners)
        for k in np.argsort(deltas, kind="stable")[:SWAP_TRIES]:
            if deltas[k] >= INFEASIBLE or deltas[k] > threshold:
                break
            q = int(partners[k])
            a, b = int(state.assignment[p]), int(state.assignment[q])
            if self._try([(p, b), (q, a)], threshold):
                return
        self._record()

    def _priced_swap_deltas(self, p: int, partners: np.ndarray) -> np.ndarray:
        state = self.state
        deltas = state.swap_deltas(p, partners)
        a, b = int(state.assignment[p]), state.assignment[partners]
        home_p, home_q = int(state.original[p]), state.original[partners]
        change = int(self.hold[p]) * ((b != home_p).astype(np.int64) - int(a != home_p)) + \
            self.hold[partners] * ((home_q != a).astype(np.int64) - (home_q != b))
        return np.where(deltas < INFEASIBLE, deltas + change, deltas)

    def _accepted(self, priced_delta: int, before: list[tuple[int, int]]) -> None:
        true_cost = self.state.total()
        if true_cost > self.best_cost and self.best_is_current:
            # Leaving the best: keep it (the state already moved, so undo the move in the copy).
            self.best = self.state.assignment.copy()
            for p, m in before:
                self.best[p] = m
            self.best_is_current = False
        self.cost += priced_delta
        self.accepted += 1
        if true_cost < self.best_cost:
            self.best_cost = true_cost
            self.best_is_current = True
        self._record()

    def _record(self) -> None:
        self.history[self.steps % len(self.history)] = self.cost

    @property
    def best_assignment(self) -> np.ndarray:
        return self.state.assignment.copy() if self.best_is_current else self.best
