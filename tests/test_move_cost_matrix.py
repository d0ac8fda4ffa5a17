"""The one form both engines price moves in (planner/instance/move_cost_matrix.py): the vectorised
forms the local search uses agree with the scalar one, and each engine's costs come out as its own
definition says, computed here from the inputs without the matrix.

The ROADEF side is also checked move by move against the independent evaluator in
test_roadef_delta.py; the product side against whole plans in test_move_cost.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.roadef.builder import random_instance
from planner.domain.policy import Affinity, MoveCosts, MoveFactor, Selector
from planner.instance import move_cost_matrix
from planner.instance.move_cost_matrix import MoveCostMatrix
from planner.instance.problem import build_problem
from planner.rules.resolve import resolve_rules
from planner.solver.reassign.delta import SearchState
from tests.builders import cluster, host, policy, vm


def _random_matrix(rng: np.random.Generator, hosts: int, form: str) -> MoveCostMatrix:
    """Each form takes its own path through the vectorised costs: a general matrix, one factor with
    an added matrix (ROADEF's), factors with nothing added (the product's), plain memory, and one
    factor other than 1 with nothing added."""
    if form == "per_host":
        return MoveCostMatrix.per_host(rng.integers(0, 50, (hosts, hosts)))
    if form == "crossing":
        return MoveCostMatrix.crossing(rng.integers(0, 4, hosts).tolist(), int(rng.integers(2, 9)))
    if form == "plain":
        return MoveCostMatrix.crossing([0] * hosts, 1)
    if form == "uniform":
        return MoveCostMatrix(domain=rng.integers(0, 4, hosts), factor=np.full((4, 4), 3), added=np.zeros((4, 4)))
    return MoveCostMatrix(domain=rng.integers(0, 4, hosts), factor=rng.integers(0, 9, (4, 4)),
                          added=rng.integers(0, 50, (4, 4)))


@pytest.mark.parametrize("form", ["general", "per_host", "crossing", "plain", "uniform"])
@pytest.mark.parametrize("listed", [True, False], ids=["lists", "numpy"])
@pytest.mark.parametrize("seed", range(5))
def test_vectorised_costs_equal_the_scalar_cost(seed: int, listed: bool, form: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if not listed:  # the scalar cost's path for matrices too large to copy into lists
        monkeypatch.setattr(move_cost_matrix, "LISTED_DOMAINS", 0)
    rng = np.random.default_rng(seed)
    matrix = _random_matrix(rng, hosts=12, form=form)
    targets = np.arange(12)
    for source in range(12):
        weight = int(rng.integers(0, 1000))
        expected = [matrix.cost(weight, source, t) for t in range(12)]
        assert matrix.costs_to(weight, source, targets).tolist() == expected
        assert expected[source] == 0  # staying put costs nothing, whatever the matrices say
    weights, sources, ends = rng.integers(0, 1000, 40), rng.integers(0, 12, 40), rng.integers(0, 12, 40)
    assert matrix.each(weights, sources, ends).tolist() == [
        matrix.cost(int(w), int(s), int(t)) for w, s, t in zip(weights, sources, ends)]


def test_the_crossing_form_multiplies_only_between_domains() -> None:
    matrix = MoveCostMatrix.crossing([0, 0, 1, 2], cross_factor=7)
    assert [matrix.cost(10, 0, t) for t in range(4)] == [0, 10, 70, 70]
    assert matrix.cost(10, 2, 3) == 70 and matrix.cost(10, 3, 3) == 0


def test_the_per_host_form_adds_the_matrix_to_the_weight() -> None:
    added = np.array([[0, 5, 9], [4, 0, 2], [1, 3, 0]])
    matrix = MoveCostMatrix.per_host(added)
    assert [[matrix.cost(100, s, t) for t in range(3)] for s in range(3)] == [[0, 105, 109], [104, 0, 102], [101, 103, 0]]


def test_the_product_weighs_each_member_by_its_own_source() -> None:
    """An affinity group split over two racks: each member's memory × its factor, × the cross
    factor only for the members whose rack differs from the destination's."""
    hosts = [host("a1", labels={"rack": "r1"}), host("a2", labels={"rack": "r1"}), host("b1", labels={"rack": "r2"})]
    vms = [vm("db", "a1", memory_mib=2048, labels={"tier": "db"}), vm("app", "b1", memory_mib=1024)]
    costs = MoveCosts(cross_label="rack", cross_factor=3, vms=(MoveFactor(Selector(labels={"tier": "db"}), 5),))
    group = (Affinity("together", Selector(names=frozenset({"db", "app"}))),)
    problem = build_problem(resolve_rules(cluster(hosts, vms), policy(move_costs=costs, affinity=group)))
    (unit,) = problem.units
    a1, a2, b1 = (problem.index_of_host[h] for h in ("a1", "a2", "b1"))
    db, app = 2048 * 5, 1024
    assert unit.weighted_cost(a1) == 3 * app  # db stays; app crosses from r2
    assert unit.weighted_cost(a2) == db + 3 * app  # db within r1; app crosses
    assert unit.weighted_cost(b1) == 3 * db  # app stays; db crosses
    assert unit.weighted_memory == db + app


@pytest.mark.parametrize("seed", range(4))
def test_roadef_moves_cost_the_process_and_machine_move_costs_by_their_weights(seed: int) -> None:
    instance, original = random_instance(seed)
    state = SearchState(instance, original)
    w, rng = instance.weights, np.random.default_rng(seed)
    for p in rng.choice(instance.processes.count, size=min(10, instance.processes.count), replace=False).tolist():
        home = int(original[p])
        for m in range(instance.machines.count):
            expected = 0 if m == home else (
                w.process * int(instance.processes.move_cost[p]) + w.machine * int(instance.machines.move_cost[home, m]))
            assert state.move_costs.cost(int(state.move_weight[p]), home, m) == expected
