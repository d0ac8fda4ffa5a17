"""A plan without moves says why: the cluster is at the goal's lower bound, or the search found
nothing better, which an operator must not read as "already meets the goal"."""

from __future__ import annotations

from planner.domain.policy import SpreadSettings
from tests.builders import cluster, hosts, plan_for, policy, vm

GIB = 1024


def test_at_the_lower_bound_the_plan_says_so() -> None:
    # One hot VM alone on its host: the largest VM's load is the bound, and the peak is at it.
    clu = cluster(hosts("a", "b"), [vm("hot", "a", memory_mib=10 * GIB, load=3000),
                                    vm("cool", "b", memory_mib=6 * GIB, load=100)])
    plan = plan_for(clu, policy(spread=SpreadSettings(memory_weight=0)))
    assert plan.moves == ()
    assert "no moves: the cluster is already at the goal's lower bound" in plan.notes


def test_above_the_bound_with_nothing_better_the_plan_does_not_claim_the_goal_is_met() -> None:
    # Both hosts full of memory, 10 + 6 GiB each: the hot VM always shares its host with a 6 GiB VM
    # (3100 millicores, 387 ‰), above the bound its own load sets (375 ‰), and nothing lowers it.
    clu = cluster(hosts("a", "b"), [vm("hot", "a", memory_mib=10 * GIB, load=3000),
                                    vm("small-a", "a", memory_mib=6 * GIB, load=100),
                                    vm("big-b", "b", memory_mib=10 * GIB, load=100),
                                    vm("small-b", "b", memory_mib=6 * GIB, load=100)])
    plan = plan_for(clu, policy(spread=SpreadSettings(memory_weight=0)))
    assert plan.moves == ()
    note = next(n for n in plan.notes if n.startswith("no moves:"))
    assert "found no plan better than the cluster as it is" in note
    assert "lower bound" in note and "already" not in note
