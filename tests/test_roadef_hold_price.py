"""The local search prices processes away from home as the LNS does (reassign/hold.py): a move
whose gain is below the room it holds is not taken, acceptance follows the priced cost exactly,
and the best answer kept is judged by the true cost."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.roadef.builder import build_instance, random_instance
from benchmarks.roadef.evaluator import evaluate
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.hold import hold_costs
from planner.solver.reassign.instance import ObjectiveWeights
from planner.solver.reassign.local_search import LateAcceptance
from planner.solver.reassign.settings import SearchSettings


def _over_safety_by_three():
    """One process 3 CPU over its machine's safety capacity (gain 3 by moving), 50 transient disk."""
    instance = build_instance(capacity=[[10, 100], [10, 100]], safety=[[2, 100], [10, 100]],
                              requirement=[[5, 50]], service=[0], transient=[False, True],
                              weights=ObjectiveWeights(process=1, service=0, machine=0))
    return instance, np.array([0])


@pytest.mark.parametrize(("hold_price", "moves"), [(0.0, True), (0.05, True), (0.1, False)])
def test_a_move_is_taken_only_when_it_gains_more_than_its_hold(hold_price: float, moves: bool) -> None:
    # Holding 50 transient disk on the home machine is priced 0, 2 and 5 against a gain of 3.
    instance, original = _over_safety_by_three()
    state = SearchState(instance, original)
    search = LateAcceptance(state, SearchSettings(seed=0, history=0, hold_price=hold_price))
    search.run(0.0, max_steps=20)
    assert (int(search.best_assignment[0]) == 1) is moves
    assert search.best_cost == evaluate(instance, original, search.best_assignment).costs.total


@pytest.mark.parametrize("seed", range(4))
def test_acceptance_follows_the_priced_cost_and_the_best_is_the_true_best(seed: int) -> None:
    instance, original = random_instance(300 + seed, machines=10, processes=60)
    state = SearchState(instance, original)
    settings = SearchSettings(seed=seed, hold_price=0.5)
    search = LateAcceptance(state, settings)
    hold = hold_costs(state, settings.hold_price)
    assert hold.any()  # the instance has a transient resource: the price is not zero everywhere
    for _ in range(10):
        search.run(0.0, max_steps=200)
        away = state.assignment != state.original
        assert search.cost == state.total() + int(hold[away].sum())
        assert search.best_cost <= state.total()
        report = evaluate(instance, original, search.best_assignment)
        assert report.valid and report.costs.total == search.best_cost


def test_sub_problems_and_the_local_search_charge_the_same_price() -> None:
    instance, original = random_instance(310, machines=8, processes=40)
    state = SearchState(instance, original)
    every = hold_costs(state, 0.3)
    some = [3, 17, 29]
    assert hold_costs(state, 0.3, some).tolist() == every[some].tolist()
    assert not hold_costs(state, 0.0).any()
