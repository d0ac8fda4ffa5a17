"""The disruption budget as the planner sees it: limits tightened, host-group surplus held back."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from operations.disruption_budget import Budget, plan_within_budget, quota, with_limits
from planner.domain.policy import Goal, HostGroup, Limits, Selector
from planner.rules.resolve import resolve_rules
from planner.solver.planning import make_plan
from tests.builders import cluster, host, policy, vm

pytestmark = pytest.mark.solver

# All on a; the four busy db VMs relieve a the most, so an unconstrained spread moves them first.
HOT = cluster([host("a"), host("b")],
              [vm(f"db{i}", "a", load=1500, labels={"tier": "db"}) for i in range(4)]
              + [vm(f"web{i}", "a", load=500) for i in range(4)])
DB = HostGroup("db", Selector(labels=MappingProxyType({"tier": "db"})), Selector(names=frozenset({"a", "b"})))


def make(clu):
    return lambda pol: make_plan(resolve_rules(clu, pol))


def test_shares_round_up_so_any_positive_share_allows_a_move() -> None:
    assert [quota(25, 8), quota(25, 3), quota(1, 3), quota(0, 3)] == [2, 1, 1, 0]


def test_the_smaller_limit_wins() -> None:
    pol = policy(Goal.SPREAD, limits=Limits(max_moves=5, max_moved_memory_mib=2048))
    tightened = with_limits(pol, Budget(max_moves=3, max_moved_mib=4096, max_share_percent=50), HOT)
    assert (tightened.limits.max_moves, tightened.limits.max_moved_memory_mib) == (3, 2048)
    assert with_limits(pol, Budget(max_share_percent=25), HOT).limits.max_moves == 2


def test_a_host_groups_surplus_is_held_back_and_the_plan_made_again() -> None:
    pol = policy(Goal.SPREAD, host_groups=(DB,))
    free, _ = plan_within_budget(pol, Budget(max_moves=2), HOT, make(HOT))
    assert len(free.moves) == 2 and all(m.vm.startswith("db") for m in free.moves)  # without the share

    plan, final = plan_within_budget(pol, Budget(max_share_percent=25), HOT, make(HOT))

    moved = [m.vm for m in plan.moves]
    assert len(moved) == 2 and sum(v.startswith("db") for v in moved) == 1
    held = {vm for vm, why in final.cooldown.items() if "disruption budget" in why}
    assert len(held) == 3 and not held & set(moved)


def test_without_a_share_nothing_is_held() -> None:
    plan, final = plan_within_budget(policy(Goal.SPREAD, host_groups=(DB,)), Budget(), HOT, make(HOT))
    assert final.cooldown == {} and len(plan.moves) == 4
