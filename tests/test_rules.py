"""Each hard rule three ways: trivially feasible, infeasible when forced, feasible on the alternative.

Every plan goes through `plan_for`, which re-checks it with the independent validator.
"""

from __future__ import annotations

import pytest

from planner.domain.errors import InfeasibleError, InputError
from planner.domain.model import HostState
from planner.domain.policy import Affinity, AntiAffinity, Goal, HostGroup, Limits, Pin, Selector
from planner.rules.resolve import resolve_rules
from tests.builders import cluster, host, plan_for, policy, vm, where


def names(*vms: str) -> Selector:
    return Selector(names=frozenset(vms))


# -- memory capacity ------------------------------------------------------------------------------

def test_memory_capacity_trivially_feasible_drain_uses_free_host() -> None:
    clu = cluster([host("a"), host("b")], [vm("v1", "a", memory_mib=4096)])
    plan = plan_for(clu, policy(Goal.DRAIN, drain_hosts=frozenset({"a"})))
    assert where(plan)["v1"] == "b"


def test_memory_capacity_forced_infeasible_names_shortfall() -> None:
    clu = cluster([host("a"), host("b")], [vm("big", "a", memory_mib=12288), vm("other", "b", memory_mib=8192)])
    with pytest.raises(InfeasibleError, match=r"cannot drain a: their VMs need 12\.0 GiB .* 8\.0 GiB"):
        plan_for(clu, policy(Goal.DRAIN, drain_hosts=frozenset({"a"})))


def test_memory_capacity_alternative_host_with_room_is_chosen() -> None:
    clu = cluster(
        [host("a"), host("b"), host("c")],
        [vm("big", "a", memory_mib=12288), vm("fill-b", "b", memory_mib=8192)],
    )
    plan = plan_for(clu, policy(Goal.DRAIN, drain_hosts=frozenset({"a"})))
    assert where(plan)["big"] == "c"


# -- vCPU allocation ratio ------------------------------------------------------------------------

def test_vcpu_allocation_trivially_feasible() -> None:
    clu = cluster([host("a", cpus=2, cpu_allocation_ratio=2.0), host("b", cpus=2, cpu_allocation_ratio=2.0)],
                  [vm("v1", "a", vcpus=4)])
    assert where(plan_for(clu, policy(Goal.DRAIN, drain_hosts=frozenset({"a"}))))["v1"] == "b"


def test_vcpu_allocation_forced_infeasible() -> None:
    clu = cluster([host("a", cpus=2, cpu_allocation_ratio=2.0), host("b", cpus=2, cpu_allocation_ratio=1.0)],
                  [vm("v1", "a", vcpus=4)])
    with pytest.raises(InfeasibleError, match="4 vCPUs"):
        plan_for(clu, policy(Goal.DRAIN, drain_hosts=frozenset({"a"})))


def test_vcpu_allocation_alternative() -> None:
    clu = cluster([host("a", cpus=2, cpu_allocation_ratio=2.0), host("b", cpus=2, cpu_allocation_ratio=1.0),
                   host("c", cpus=2, cpu_allocation_ratio=2.0)],
                  [vm("v1", "a", vcpus=4)])
    assert where(plan_for(clu, policy(Goal.DRAIN, drain_hosts=frozenset({"a"}))))["v1"] == "c"


# -- anti-affinity ----------------------------------------------------------------------------------

def _web_tier(on: dict[str, str]) -> list:
    return [vm(name, host_name, load=2000) for name, host_name in on.items()]


def test_anti_affinity_trivially_feasible_keeps_members_apart() -> None:
    clu = cluster([host("a"), host("b"), host("c")], _web_tier({"w1": "a", "w2": "a", "w3": "b"}) + [vm("x", "a")])
    rule = AntiAffinity("web", names("w1", "w2", "w3"))
    plan = plan_for(clu, policy(anti_affinity=(rule,)))
    assert len({where(plan)[w] for w in ("w1", "w2", "w3")}) == 3


def test_anti_affinity_forced_infeasible_with_too_few_hosts() -> None:
    clu = cluster([host("a"), host("b")], _web_tier({"w1": "a", "w2": "a", "w3": "b"}))
    with pytest.raises(InputError, match="needs 3 distinct hosts but only 2"):
        resolve_rules(clu, policy(anti_affinity=(AntiAffinity("web", names("w1", "w2", "w3")),)))


def test_anti_affinity_by_rack_uses_the_other_rack() -> None:
    racks = [host("a1", labels={"rack": "r1"}), host("a2", labels={"rack": "r1"}), host("b1", labels={"rack": "r2"})]
    clu = cluster(racks, [vm("db1", "a1"), vm("db2", "a2")])
    plan = plan_for(clu, policy(anti_affinity=(AntiAffinity("db", names("db1", "db2"), scope="rack"),)))
    assert {where(plan)["db1"], where(plan)["db2"]} & {"b1"}


def test_anti_affinity_by_rack_infeasible_with_one_rack() -> None:
    racks = [host("a1", labels={"rack": "r1"}), host("a2", labels={"rack": "r1"})]
    clu = cluster(racks, [vm("db1", "a1"), vm("db2", "a2")])
    with pytest.raises(InputError, match="distinct racks"):
        resolve_rules(clu, policy(anti_affinity=(AntiAffinity("db", names("db1", "db2"), scope="rack"),)))


# -- affinity ------------------------------------------------------------------------------------

def test_affinity_trivially_feasible_group_stays_together() -> None:
    clu = cluster([host("a"), host("b")], [vm("app", "a", load=3000), vm("cache", "a", load=3000), vm("x", "a", load=3000)])
    plan = plan_for(clu, policy(affinity=(Affinity("pair", names("app", "cache")),)))
    assert where(plan)["app"] == where(plan)["cache"]


def test_affinity_forced_infeasible_when_pinned_apart() -> None:
    clu = cluster([host("a"), host("b")], [vm("app", "a"), vm("cache", "b")])
    pol = policy(affinity=(Affinity("pair", names("app", "cache")),), pins=(Pin("both", names("app", "cache")),))
    with pytest.raises(InputError, match="must share a host but are pinned"):
        resolve_rules(clu, pol)


def test_affinity_alternative_split_group_is_joined() -> None:
    clu = cluster([host("a"), host("b")], [vm("app", "a"), vm("cache", "b")])
    plan = plan_for(clu, policy(affinity=(Affinity("pair", names("app", "cache")),)))
    assert where(plan)["app"] == where(plan)["cache"]
    assert len(plan.moves) == 1


# -- pin ------------------------------------------------------------------------------------------

def test_pin_trivially_feasible_pinned_vm_stays_on_hot_host() -> None:
    clu = cluster([host("a"), host("b")], [vm("p", "a", load=6000), vm("q", "a", load=1000)])
    plan = plan_for(clu, policy(pins=(Pin("keep", names("p")),)))
    assert where(plan)["p"] == "a"


def test_pin_forced_infeasible_on_drained_host() -> None:
    clu = cluster([host("a"), host("b")], [vm("p", "a")])
    with pytest.raises(InputError, match="cannot be drained: VM 'p' is pinned"):
        resolve_rules(clu, policy(Goal.DRAIN, drain_hosts=frozenset({"a"}), pins=(Pin("keep", names("p")),)))


def test_pin_alternative_other_vm_moves_instead() -> None:
    clu = cluster([host("a"), host("b")], [vm("p", "a", load=4000), vm("q", "a", load=4000)])
    plan = plan_for(clu, policy(pins=(Pin("keep", names("p")),)))
    assert [m.vm for m in plan.moves] == ["q"]


def test_unmigratable_vm_is_never_moved() -> None:
    clu = cluster([host("a"), host("b")], [vm("p", "a", load=4000, migratable=False, unmigratable_reason="local disk"),
                                           vm("q", "a", load=4000)])
    assert [m.vm for m in plan_for(clu, policy()).moves] == ["q"]


# -- host groups ------------------------------------------------------------------------------------

def _oracle_hosts() -> list:
    return [host("a", labels={"oracle": "yes"}), host("b"), host("c", labels={"oracle": "yes"})]


def _oracle_rule() -> HostGroup:
    return HostGroup("oracle", Selector(labels={"license": "oracle"}), Selector(labels={"oracle": "yes"}))


def test_host_group_trivially_feasible_stays_in_group() -> None:
    clu = cluster(_oracle_hosts(), [vm("db", "a", load=5000, labels={"license": "oracle"}), vm("x", "a", load=5000)])
    plan = plan_for(clu, policy(host_groups=(_oracle_rule(),)))
    assert where(plan)["db"] in {"a", "c"}


def test_host_group_forced_infeasible_when_no_host_matches() -> None:
    clu = cluster([host("a"), host("b")], [vm("db", "a", labels={"license": "oracle"})])
    with pytest.raises(InputError, match="selects no host"):
        resolve_rules(clu, policy(host_groups=(_oracle_rule(),)))


def test_host_group_alternative_violating_vm_moves_into_group() -> None:
    clu = cluster(_oracle_hosts(), [vm("db", "b", labels={"license": "oracle"})])
    plan = plan_for(clu, policy(host_groups=(_oracle_rule(),)))
    assert where(plan)["db"] in {"a", "c"}
    assert plan.moves[0].reason.startswith("because host group 'oracle' runs db only on hosts with oracle=yes, not on b")


# -- excluded hosts, host states -------------------------------------------------------------------

def test_excluded_host_is_neither_source_nor_destination() -> None:
    clu = cluster([host("a"), host("b"), host("c")], [vm("v1", "a", load=6000), vm("v2", "a", load=6000),
                                                      vm("e1", "c", load=7000)])
    plan = plan_for(clu, policy(excluded_hosts=frozenset({"b", "c"})))
    assert plan.moves == ()


def test_maintenance_host_is_emptied_and_disabled_host_takes_nothing() -> None:
    clu = cluster([host("a", state=HostState.MAINTENANCE), host("b", state=HostState.DISABLED), host("c")],
                  [vm("v1", "a"), vm("v2", "b")])
    plan = plan_for(clu, policy())
    assert where(plan) == {"v1": "c", "v2": "b"}


def test_drain_goal_with_only_a_maintenance_host_drains_it() -> None:
    clu = cluster([host("a", state=HostState.MAINTENANCE), host("b"), host("c")],
                  [vm("v1", "a"), vm("v2", "a"), vm("v3", "b")])
    plan = plan_for(clu, policy(Goal.DRAIN))
    assert {m.vm for m in plan.moves} == {"v1", "v2"}
    assert "a" not in where(plan).values()


def test_drain_goal_with_nothing_to_drain_names_both_ways_to_give_one() -> None:
    clu = cluster([host("a"), host("b")], [vm("v1", "a")])
    with pytest.raises(InputError, match="--drain HOST, or a host in state: maintenance"):
        plan_for(clu, policy(Goal.DRAIN))


# -- limits and goals ---------------------------------------------------------------------------------

def test_max_moves_limits_a_spread_plan() -> None:
    clu = cluster([host("a"), host("b"), host("c")], [vm(f"v{i}", "a", load=2000) for i in range(6)])
    plan = plan_for(clu, policy(limits=Limits(max_moves=1)))
    assert len(plan.moves) == 1


def test_max_moves_below_a_required_drain_is_infeasible() -> None:
    clu = cluster([host("a"), host("b")], [vm("v1", "a"), vm("v2", "a")])
    with pytest.raises(InfeasibleError, match="max_moves"):
        plan_for(clu, policy(Goal.DRAIN, drain_hosts=frozenset({"a"}), limits=Limits(max_moves=1)))


def test_consolidate_respects_headroom() -> None:
    # Two hosts at 45 % CPU each: merging them would reach 90 % > the 80 % headroom.
    clu = cluster([host("a"), host("b")], [vm("v1", "a", load=3600), vm("v2", "b", load=3600)])
    assert plan_for(clu, policy(Goal.CONSOLIDATE)).moves == ()


def test_consolidate_empties_hosts_within_headroom_and_lists_them() -> None:
    clu = cluster([host("a"), host("b"), host("c")], [vm("v1", "a", load=1000), vm("v2", "b", load=1000),
                                                      vm("v3", "c", load=1000, memory_mib=4096)])
    plan = plan_for(clu, policy(Goal.CONSOLIDATE))
    assert plan.metric.after == 1
    assert len(plan.freed_hosts) == 2
    # The heaviest VM stays put: the plan moves the 2 GiB that must move, not more.
    assert plan.moved_memory_mib == 2048


def test_benefit_gate_refuses_a_small_improvement() -> None:
    clu = cluster([host("a"), host("b")], [vm("v1", "a", load=2000, memory_mib=512), vm("v2", "b", load=1950, memory_mib=512),
                                           vm("v3", "a", load=50, memory_mib=512)])
    pol = policy(limits=Limits(min_improvement_percent=50))
    plan = plan_for(clu, pol)
    assert plan.moves == ()
    assert "benefit gate" in plan.notes[0]


def test_spread_threshold_leaves_a_cluster_under_it_alone() -> None:
    from planner.domain.policy import SpreadSettings
    clu = cluster([host("a"), host("b")], [vm("v1", "a", load=3000), vm("v2", "a", load=1000)])
    plan = plan_for(clu, policy(spread=SpreadSettings(cpu_threshold_percent=60, memory_threshold_percent=60)))
    assert plan.moves == ()
