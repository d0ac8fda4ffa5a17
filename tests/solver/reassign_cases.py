"""Cases for every family of a reassignment sub-problem's model (planner/solver/reassign/
sub_families.py): each a small instance where that family decides the answer. A case solves one
sub-problem, applies its proposal with no checks at all and asserts what the family implies: the
independent evaluator (benchmarks/roadef/evaluator.py) finds the result valid, or the proposal is
the one the objective term calls for.

CASES maps each family to its cases; test_reassign_mutations.py runs them with the whole model and
again with one family switched off at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.roadef.builder import build_instance, toy
from benchmarks.roadef.evaluator import evaluate
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.instance import Balance, Instance, ObjectiveWeights
from planner.solver.reassign.subproblem import solve_subproblem

# Costs only where a case says so: no move is charged unless the case is about move costs.
NO_MOVE_COSTS = ObjectiveWeights(process=0, service=0, machine=0)


def _proposal(instance: Instance, original: list[int], machines: list[int], freed: list[int],
              start: list[int] | None = None, hold_price: float = 0.0) -> tuple[tuple[tuple[int, int], ...], SearchState]:
    """The sub-problem's moves, applied unchecked to the state they came from."""
    state = SearchState(instance, np.array(original), start=None if start is None else np.array(start))
    result = solve_subproblem(state, machines, freed, seconds=2.0, deterministic=True, hold_price=hold_price)
    assert result is not None, "the sub-problem found nothing"
    for p, m in result.moves:
        state.apply_move(p, m)
    return result.moves, state


def _valid(instance: Instance, original: list[int], state: SearchState) -> None:
    report = evaluate(instance, np.array(original), state.assignment)
    assert report.valid, report.violations[:3]


def capacity_holds_where_no_cost_asks() -> None:
    """Both processes would leave the CPU-loaded machine 0 for machine 1, but machine 1's memory
    (no load cost, so only the capacity row guards it) takes one of them."""
    instance = build_instance(capacity=[[20, 20], [20, 10]], safety=[[0, 20], [20, 10]], requirement=[[1, 6], [1, 6]],
                              service=[0, 1], load_weight=[10, 0], weights=NO_MOVE_COSTS)
    moves, state = _proposal(instance, [0, 0], [0, 1], [0, 1])
    _valid(instance, [0, 0], state)
    assert len(moves) == 1


def transient_room_stays_held() -> None:
    """Swapping the two processes takes machine 0 under its safety capacity and fits by plain
    capacity, but each would still hold its room at home: 5 + 6 > 10 on both."""
    instance = build_instance(capacity=[[10], [10]], safety=[[5], [10]], requirement=[[6], [5]], service=[0, 1],
                              transient=[True], load_weight=[100], weights=NO_MOVE_COSTS)
    moves, state = _proposal(instance, [0, 1], [0, 1], [0, 1])
    _valid(instance, [0, 1], state)
    assert moves == ()


def conflict_keeps_a_service_apart() -> None:
    """Machine 2 costs nothing and both processes of service 0 would go there."""
    instance = build_instance(capacity=[[100]] * 3, safety=[[0], [0], [100]], requirement=[[5], [5]], service=[0, 0],
                              weights=NO_MOVE_COSTS)
    _, state = _proposal(instance, [0, 1], [0, 1, 2], [0, 1])
    _valid(instance, [0, 1], state)
    assert state.assignment.tolist().count(2) == 1


def spread_keeps_two_locations() -> None:
    """Service 0 must stay on two locations; the free machines 2 and 3 are both in location 0."""
    instance = build_instance(capacity=[[100]] * 4, safety=[[0], [0], [100], [100]], requirement=[[5], [5]],
                              service=[0, 0], location=[0, 1, 0, 0], spread_min=[2], weights=NO_MOVE_COSTS)
    _, state = _proposal(instance, [0, 1], [0, 1, 2, 3], [0, 1])
    _valid(instance, [0, 1], state)
    assert state.assignment.tolist().count(1) == 1  # location 1 keeps one; the other is free
    assert 0 not in state.assignment.tolist()


def dependency_keeps_the_process_relied_on() -> None:
    """Service 1, staying put in neighbourhood 0, depends on service 0: its only process may not
    leave for the free machine in neighbourhood 1, and settles for machine 1."""
    instance = build_instance(capacity=[[10], [10], [10]], safety=[[2], [5], [10]], requirement=[[5], [1]],
                              service=[0, 1], load_weight=[100], neighborhood=[0, 0, 1], dependencies=[[], [0]],
                              weights=NO_MOVE_COSTS)
    moves, state = _proposal(instance, [0, 1], [0, 1, 2], [0])
    _valid(instance, [0, 1], state)
    assert moves == ((0, 1),)


def load_cost_finds_the_toys_optimum() -> None:
    """Over every machine of the specification's example, its optimum (2411)."""
    instance = toy()
    _, state = _proposal(instance, [0, 3, 0], [0, 1, 2, 3], [0, 1, 2])
    assert state.total() == evaluate(instance, np.array([0, 3, 0]), state.assignment).costs.total == 2411


def load_cost_moves_off_the_overloaded_machine() -> None:
    instance = build_instance(capacity=[[10], [10]], safety=[[2], [10]], requirement=[[5]], service=[0],
                              weights=NO_MOVE_COSTS)
    moves, _ = _proposal(instance, [0], [0, 1], [0])
    assert moves == ((0, 1),)


def balance_cost_moves_to_the_balanced_machine() -> None:
    """No load cost: only the balance (available CPU no more than available memory) is worth the move."""
    instance = build_instance(capacity=[[10, 10], [10, 20]], requirement=[[1, 8]], service=[0], load_weight=[0, 0],
                              balances=[Balance(first=0, second=1, target=1, weight=10)], weights=NO_MOVE_COSTS)
    moves, _ = _proposal(instance, [0], [0, 1], [0])
    assert moves == ((0, 1),)


def move_cost_outweighs_a_small_gain() -> None:
    """Leaving saves 1 in load and costs 5 in process move cost: stay."""
    instance = build_instance(capacity=[[10], [10]], safety=[[4], [10]], requirement=[[5]], service=[0],
                              process_move_cost=[5], weights=ObjectiveWeights(process=1, service=0, machine=0))
    moves, _ = _proposal(instance, [0], [0, 1], [0])
    assert moves == ()


def machine_move_cost_picks_the_nearer_machine() -> None:
    """Machines 1 and 2 are equally free; moving to machine 2 costs less."""
    instance = build_instance(capacity=[[10]] * 3, safety=[[0], [10], [10]], requirement=[[5]], service=[0],
                              machine_move_cost=[[0, 3, 1], [3, 0, 1], [1, 1, 0]],
                              weights=ObjectiveWeights(process=0, service=0, machine=1))
    moves, _ = _proposal(instance, [0], [0, 1, 2], [0])
    assert moves == ((0, 2),)


def hold_cost_brings_a_process_home() -> None:
    """Process 0 has left machine 0; home or away costs the same by the true objective, but away it
    holds transient room at home, which a hold price charges."""
    instance = build_instance(capacity=[[10, 10], [10, 10]], requirement=[[4, 1], [3, 1]], service=[0, 1],
                              transient=[True, False], weights=NO_MOVE_COSTS)
    moves, _ = _proposal(instance, [0, 1], [0, 1], [0, 1], start=[1, 1], hold_price=0.5)
    assert moves == ((0, 0),)


def service_move_cost_outweighs_a_small_gain() -> None:
    """Moving the process saves 5 in load; the service move cost (10 per moved process of the most
    moved service) makes it not worth it."""
    instance = build_instance(capacity=[[10], [10]], safety=[[0], [10]], requirement=[[5]], service=[0],
                              weights=ObjectiveWeights(process=0, service=10, machine=0))
    moves, _ = _proposal(instance, [0], [0, 1], [0])
    assert moves == ()


CASES: dict[str, list[Callable[[], None]]] = {
    "capacity": [capacity_holds_where_no_cost_asks],
    "transient": [transient_room_stays_held],
    "conflict": [conflict_keeps_a_service_apart],
    "spread": [spread_keeps_two_locations],
    "dependencies": [dependency_keeps_the_process_relied_on],
    "load_cost": [load_cost_finds_the_toys_optimum, load_cost_moves_off_the_overloaded_machine],
    "balance_cost": [balance_cost_moves_to_the_balanced_machine],
    "move_cost": [move_cost_outweighs_a_small_gain, machine_move_cost_picks_the_nearer_machine],
    "hold_cost": [hold_cost_brings_a_process_home],
    "service_move_cost": [service_move_cost_outweighs_a_small_gain],
}
