"""The CP-SAT sub-problem of the reassignment LNS is exact: whatever it proposes, applied with no
checks at all, is a valid assignment by the independent evaluator and, without a hold price,
never costs more; over every machine it finds the specification's optimum of the toy; a hold
price brings home a process that the true cost is indifferent about."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.roadef.builder import build_instance, random_instance, toy
from benchmarks.roadef.evaluator import evaluate
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.instance import Instance, ObjectiveWeights
from planner.solver.reassign.subproblem import solve_subproblem


def test_over_every_machine_it_finds_the_toys_optimum() -> None:
    state = SearchState(toy(), np.array([0, 3, 0]))
    result = solve_subproblem(state, [0, 1, 2, 3], [0, 1, 2], seconds=5.0, deterministic=True)
    assert result is not None and result.optimal
    for p, m in result.moves:
        state.apply_move(p, m)
    assert state.total() == evaluate(toy(), np.array([0, 3, 0]), state.assignment).costs.total == 2411


@pytest.mark.parametrize("hold_price", [0.0, 1.0])
@pytest.mark.parametrize("seed", range(20))
def test_proposals_applied_unchecked_are_valid_and_never_worse(seed: int, hold_price: float) -> None:
    """Random instances have every feature on (transient resources, balance, spread,
    dependencies, move costs) and tight capacity, so a missing constraint shows up as a violation.
    A hold price changes what the sub-problem prefers, never what it allows; only without one is
    every proposal also no worse by the true objective."""
    instance, original = random_instance(seed, machines=8, processes=30)
    state = SearchState(instance, original)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        machines = sorted(rng.choice(8, size=int(rng.integers(2, 6)), replace=False).tolist())
        freed = [p for p in range(30) if int(state.assignment[p]) in machines]
        before = state.total()
        result = solve_subproblem(state, machines, freed, seconds=2.0, seed=seed, deterministic=True, hold_price=hold_price)
        assert result is not None
        for p, m in result.moves:
            state.apply_move(p, m)
        report = evaluate(instance, original, state.assignment)
        assert report.valid, report.violations[:3]
        assert report.costs.total == state.total()
        if not hold_price:
            assert state.total() <= before


def test_a_dependency_keeps_the_process_it_relies_on_in_the_neighbourhood() -> None:
    """Service 1 depends on service 0 in neighbourhood 0. Moving service 0's only process to the
    empty machine in neighbourhood 1 would remove all load cost, but breaks the dependency: the
    sub-problem must settle for the next best, machine 1 in the same neighbourhood."""
    instance = build_instance(
        capacity=[[10], [10], [10]],
        safety=[[2], [5], [10]],
        requirement=[[5], [1]],
        service=[0, 1],
        load_weight=[100],
        neighborhood=[0, 0, 1],
        dependencies=[[], [0]],
        process_move_cost=[0, 1000],
    )
    original = np.array([0, 1])
    state = SearchState(instance, original)
    result = solve_subproblem(state, [0, 1, 2], [0], seconds=2.0, deterministic=True)
    assert result is not None
    for p, m in result.moves:
        state.apply_move(p, m)
    assert evaluate(instance, original, state.assignment).valid
    assert int(state.assignment[0]) == 1  # within neighbourhood 0, off the overloaded machine


def test_transient_room_stays_held_on_the_original_machine() -> None:
    """Machine 1 is full in the transient resource; a process that left it still holds its room,
    so the swap that would fit by plain capacity must be refused."""
    instance = build_instance(
        capacity=[[10], [10]],
        safety=[[4], [10]],
        requirement=[[6], [6]],
        service=[0, 1],
        transient=[True],
    )
    original = np.array([0, 1])
    state = SearchState(instance, original)
    result = solve_subproblem(state, [0, 1], [0, 1], seconds=2.0, deterministic=True)
    assert result is not None and result.moves == ()


def held_room_instance() -> tuple[Instance, np.ndarray]:
    """Process 0 (service 0) has left machine 0 for machine 1; putting it back home or leaving it
    costs the same by the true objective (no load, no move cost), but away it holds transient
    room on machine 0."""
    instance = build_instance(
        capacity=[[10, 10], [10, 10]],
        requirement=[[4, 1], [3, 1]],
        service=[0, 1],
        transient=[True, False],
        weights=ObjectiveWeights(process=0, service=0, machine=0),
    )
    return instance, np.array([0, 1])


def test_a_hold_price_brings_a_process_home_when_the_true_cost_is_the_same() -> None:
    instance, original = held_room_instance()
    state = SearchState(instance, original, start=np.array([1, 1]))
    plain = solve_subproblem(state, [0, 1], [0, 1], seconds=2.0, deterministic=True)
    priced = solve_subproblem(state, [0, 1], [0, 1], seconds=2.0, deterministic=True, hold_price=0.5)
    assert plain is not None and plain.moves == ()  # nothing to gain by the true objective
    assert priced is not None and priced.moves == ((0, 0),)
