"""Incremental move evaluation against the independent evaluator: every priced move and swap on
small random instances with every constraint active, checked one by one from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.roadef.builder import build_instance, random_instance
from planner.solver.reassign.delta import INFEASIBLE, SearchState
from benchmarks.roadef.evaluator import Constraint, evaluate
from planner.solver.reassign.instance import Instance


def cost_and_valid(instance: Instance, original: np.ndarray, solution: np.ndarray) -> tuple[int, bool]:
    report = evaluate(instance, original, solution)
    return report.costs.total, report.valid


def walk(state: SearchState, rng: np.random.Generator, steps: int) -> None:
    """Random feasible moves, so later checks start from states away from the original."""
    for _ in range(steps):
        p = int(rng.integers(len(state.assignment)))
        allowed = np.flatnonzero(state.move_deltas(p) < INFEASIBLE)
        if allowed.size:
            state.apply_move(p, int(rng.choice(allowed)))


@pytest.mark.parametrize("seed", range(6))
def test_every_single_move_is_priced_and_filtered_exactly(seed: int) -> None:
    instance, original = random_instance(seed)
    state = SearchState(instance, original)
    walk(state, np.random.default_rng(seed), 15)
    base, valid = cost_and_valid(instance, original, state.assignment)
    assert valid and state.total() == base
    for p in range(instance.processes.count):
        deltas = state.move_deltas(p)
        for m in range(instance.machines.count):
            if m == state.assignment[p]:
                continue
            moved = state.assignment.copy()
            moved[p] = m
            cost, valid = cost_and_valid(instance, original, moved)
            assert (deltas[m] < INFEASIBLE) == valid, (p, m)
            if valid:
                assert deltas[m] == cost - base, (p, m)


@pytest.mark.parametrize("seed", range(6))
def test_swaps_are_kept_only_when_feasible_with_the_exact_delta(seed: int) -> None:
    instance, original = random_instance(seed)
    state = SearchState(instance, original)
    rng = np.random.default_rng(100 + seed)
    walk(state, rng, 15)
    for _ in range(80):
        p, q = (int(x) for x in rng.choice(instance.processes.count, size=2, replace=False))
        a, b = int(state.assignment[p]), int(state.assignment[q])
        if a == b:
            continue
        swapped = state.assignment.copy()
        swapped[p], swapped[q] = b, a
        base = state.total()
        before, after = evaluate(instance, original, state.assignment), evaluate(instance, original, swapped)
        priced = int(state.swap_deltas(p, np.array([q]))[0])
        kept = state.try_moves([(p, b), (q, a)], max_delta=10**18)
        assert (kept is not None) == after.valid
        if after.constraints_broken() & {Constraint.CAPACITY, Constraint.TRANSIENT}:
            assert priced == INFEASIBLE  # what the vectorised price filters itself
        if kept is None:
            assert state.assignment[p] == a and state.assignment[q] == b and state.total() == base  # reverted
            continue
        assert kept == after.costs.total - base and state.total() == after.costs.total
        # The vectorised price leaves out only the service move cost (and never rejects a feasible swap).
        assert priced == kept - (after.costs.service_move - before.costs.service_move)
        state.try_moves([(p, a), (q, b)], max_delta=10**18)  # back, to keep walking from feasible states


def test_transient_example_forbids_the_freed_machine() -> None:
    # §1.2.5: after p2 moves m2 -> m3 its 6 DISK stay held on m2, so p1 (8 DISK) cannot go there.
    instance = build_instance(
        capacity=[[3, 10], [3, 10], [3, 7]], requirement=[[1, 8], [1, 6]], service=[0, 1], transient=[False, True]
    )
    state = SearchState(instance, np.array([0, 1]))
    state.apply_move(1, 2)
    assert state.usage[1, 1] + 8 <= 10  # capacity alone would allow it
    assert state.move_deltas(0)[1] == INFEASIBLE
    assert state.move_deltas(1)[1] < INFEASIBLE  # going home releases the hold


def test_state_follows_a_long_walk() -> None:
    instance, original = random_instance(7, machines=12, processes=60)
    state = SearchState(instance, original)
    rng = np.random.default_rng(7)
    for _ in range(20):
        walk(state, rng, 10)
        cost, valid = cost_and_valid(instance, original, state.assignment)
        assert valid and state.total() == cost
