"""The search state against the independent evaluator: compound moves are kept only when
feasible, with the exact cost change, and reverted otherwise; the state follows a long walk.
(The local search's own pricing is checked in test_roadef_compiled_moves.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.roadef.builder import random_instance
from benchmarks.roadef.evaluator import evaluate
from planner.solver.reassign.delta import SearchState
from tests.roadef_data import random_swaps, random_walk


@pytest.mark.parametrize("seed", range(6))
def test_swaps_are_kept_only_when_feasible_with_the_exact_delta(seed: int) -> None:
    instance, original = random_instance(seed)
    rng = np.random.default_rng(100 + seed)
    state = SearchState(instance, original, random_walk(instance, original, original, rng, 15))
    for p, q, a, b, swapped in random_swaps(state.assignment, rng, 80):
        base = state.total()
        after = evaluate(instance, original, swapped)
        kept = state.try_moves([(p, b), (q, a)], max_delta=10**18)
        assert (kept is not None) == after.valid
        if kept is None:
            assert state.assignment[p] == a and state.assignment[q] == b and state.total() == base  # reverted
            continue
        assert kept == after.costs.total - base and state.total() == after.costs.total
        state.try_moves([(p, a), (q, b)], max_delta=10**18)  # back, to keep walking from feasible states


def test_state_follows_a_long_walk() -> None:
    instance, original = random_instance(7, machines=12, processes=60)
    state = SearchState(instance, original)
    rng = np.random.default_rng(7)
    for _ in range(20):
        walked = random_walk(instance, original, state.assignment, rng, 10)
        for p in np.flatnonzero(walked != state.assignment).tolist():
            state.apply_move(p, int(walked[p]))
        report = evaluate(instance, original, state.assignment)
        assert report.valid and state.total() == report.costs.total
