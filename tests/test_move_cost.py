"""Move costs: among plans equally good for the goal, the planner picks the one cheapest under the
policy's weights (cross-rack moves, expensive VMs), while reports and limits stay in plain memory.

Each case is built so that exactly two one-move plans reach the best peak, and plain memory
prefers the other one than the weights do: the test fails if the weights are ignored. Every plan
goes through `plan_for`, which re-checks it with the independent validator.
"""

from __future__ import annotations

from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.domain.policy import Goal, Limits, MoveCosts, MoveFactor, Pin, Selector, SpreadSettings
from planner.rules.resolve import resolve_rules
from tests.builders import cluster, host, plan_for, policy, vm, where

CPU_ONLY = SpreadSettings(memory_weight=0)
DB = Selector(labels={"tier": "db"})


def pins(*names: str) -> tuple[Pin, ...]:
    return (Pin("fixed", Selector(names=frozenset(names))),)


def _rack_case():
    """a1 (rack r1) is hot: 5000 mc. Moving one of its 2000 mc VMs gives the best peak (375 ‰):
    small (1 GiB, 8 vCPUs) only fits on b1 in rack r2 (a2 is short of vCPUs); big (4 GiB,
    1 vCPU) only on a2 in rack r1 (b1 is short of memory). Plain memory prefers moving small
    across racks; at 5× per cross-rack move, big within the rack is cheaper."""
    hosts = [host("a1", labels={"rack": "r1"}), host("a2", labels={"rack": "r1"}), host("b1", labels={"rack": "r2"})]
    vms = [vm("base", "a1", load=1000), vm("small", "a1", vcpus=8, memory_mib=1024, load=2000),
           vm("big", "a1", vcpus=1, memory_mib=4096, load=2000),
           vm("f2", "a2", vcpus=26, memory_mib=1024, load=1000), vm("f3", "b1", vcpus=1, memory_mib=13312, load=1000)]
    return cluster(hosts, vms), pins("base", "f2", "f3")


def test_without_move_costs_the_cheaper_cross_rack_move_wins() -> None:
    clu, fixed = _rack_case()
    plan = plan_for(clu, policy(spread=CPU_ONLY, pins=fixed))
    assert [(m.vm, m.destination) for m in plan.moves] == [("small", "b1")]


def test_cross_factor_prefers_the_same_rack_destination() -> None:
    clu, fixed = _rack_case()
    costs = MoveCosts(cross_label="rack", cross_factor=5)
    plan = plan_for(clu, policy(spread=CPU_ONLY, pins=fixed, move_costs=costs))
    assert [(m.vm, m.destination) for m in plan.moves] == [("big", "a2")]
    assert plan.metric.after == 375  # the same goal as without the weights
    assert plan.moved_memory_mib == 4096  # reported in plain memory


def test_a_small_cross_factor_does_not_outweigh_the_memory() -> None:
    clu, fixed = _rack_case()
    plan = plan_for(clu, policy(spread=CPU_ONLY, pins=fixed, move_costs=MoveCosts("rack", 3)))
    assert [m.vm for m in plan.moves] == ["small"]  # 3 GiB weighed < 4 GiB


def _factor_case():
    """a1 is hot; moving either db (1 GiB) or app (2 GiB), both 2000 mc, to a2 reaches the best peak."""
    hosts = [host("a1"), host("a2")]
    vms = [vm("base", "a1", load=1000), vm("db", "a1", memory_mib=1024, load=2000, labels={"tier": "db"}),
           vm("app", "a1", memory_mib=2048, load=2000), vm("other", "a2", load=1000)]
    return cluster(hosts, vms), pins("base", "other")


def test_without_factors_the_smaller_vm_moves() -> None:
    clu, fixed = _factor_case()
    assert [m.vm for m in plan_for(clu, policy(spread=CPU_ONLY, pins=fixed)).moves] == ["db"]


def test_a_vm_factor_moves_a_cheaper_vm_instead() -> None:
    clu, fixed = _factor_case()
    costs = MoveCosts(vms=(MoveFactor(DB, 5),))
    plan = plan_for(clu, policy(spread=CPU_ONLY, pins=fixed, move_costs=costs))
    assert [m.vm for m in plan.moves] == ["app"]
    assert where(plan)["db"] == "a1"


def test_limits_stay_in_plain_memory() -> None:
    # db must move (app is pinned); weighed it costs 5 GiB, but the limit of 1 GiB is plain memory.
    clu, fixed = _factor_case()
    pol = policy(spread=CPU_ONLY, pins=fixed + pins("app"), move_costs=MoveCosts(vms=(MoveFactor(DB, 5),)),
                 limits=Limits(max_moved_memory_mib=1024))
    plan = plan_for(clu, pol)
    assert [m.vm for m in plan.moves] == ["db"] and plan.moved_memory_mib == 1024


def test_the_weighed_cost_of_a_move() -> None:
    clu, fixed = _rack_case()
    costs = MoveCosts(cross_label="rack", cross_factor=3, vms=(MoveFactor(Selector(names=frozenset({"big"})), 2),))
    problem = build_problem(resolve_rules(clu, policy(move_costs=costs)))
    small, big = problem.units[1], problem.units[2]
    a1, a2, b1 = (problem.index_of_host[h] for h in ("a1", "a2", "b1"))
    assert (small.weighted_cost(a1), small.weighted_cost(a2), small.weighted_cost(b1)) == (0, 1024, 3 * 1024)
    assert (big.weighted_cost(a2), big.weighted_cost(b1)) == (2 * 4096, 6 * 4096)
    assert (big.move_cost(a2), big.move_cost(b1)) == (4096, 4096)  # what the limits use
    state = PlacementState(problem)
    state.move(big, b1)
    assert (state.moved_mib, state.move_cost) == (4096, 6 * 4096)


def test_no_section_is_exactly_plain_memory() -> None:
    clu, _ = _rack_case()
    problem = build_problem(resolve_rules(clu, policy(Goal.SPREAD)))
    assert not problem.weighted_costs and all(u.weights is None for u in problem.units)
    # A cross label with factor 1 weighs nothing either: no extra work anywhere.
    problem = build_problem(resolve_rules(clu, policy(move_costs=MoveCosts("rack", 1))))
    assert not problem.weighted_costs
