"""The spread greedy's aimed rounds (planner/solver/greedy.py, _aimed_rounds): a second round runs
when the first leaves work unused, is kept only when it lowers the metric, and the first round is
what one aimed pass and one step by step pass give."""

from __future__ import annotations

import pytest

from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import greedy
from planner.solver.greedy_budget import GreedyBudget


# (hosts, VMs, seed, work): the last is a cluster whose second round moves VMs and lowers nothing.
@pytest.mark.parametrize("hosts,vms,seed,work_ms", [(40, 800, 1, 5.0), (40, 800, 2, 20.0), (200, 4000, 3, 200.0)])
def test_rounds_keep_the_first_and_only_add_what_lowers_the_metric(hosts: int, vms: int, seed: int,
                                                                   work_ms: float) -> None:
    clu = generate_tight_cluster(hosts, vms, 0.8, seed)
    problem = build_problem(resolve_rules(clu, tight_policy(clu, seed, 5)))
    repaired = PlacementState(problem)
    greedy.repair(repaired)
    ceiling = greedy._aim(repaired)

    one = PlacementState(problem, repaired.assignment)
    budget = GreedyBudget(None, work_ms)
    greedy.improve_spread(one, ceiling=ceiling, budget=budget.share(greedy.AIMED_SHARE))
    greedy.improve_spread(one, budget=budget)

    rounds = PlacementState(problem, repaired.assignment)
    greedy._aimed_rounds(rounds, ceiling, GreedyBudget(None, work_ms))

    assert rounds.moves[: len(one.moves)] == one.moves
    assert rounds.spread_metric() <= one.spread_metric()
    if rounds.spread_metric() == one.spread_metric():
        assert rounds.moves == one.moves  # a round that lowered nothing left no move behind
    assert rounds.path[-1][1] == rounds.goal_value()
