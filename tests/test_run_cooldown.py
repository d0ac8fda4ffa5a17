"""Cooldown (Policy.cooldown): a VM moved recently stays put, unless a drain or a hard rule needs it.

Three ways, as for every rule: it stays; on a drained host it still moves (no input error);
outside its host group it still moves.
"""

from __future__ import annotations

from types import MappingProxyType

from planner.domain.policy import Goal, HostGroup, Selector
from planner.rules.resolve import resolve_rules
from tests.builders import cluster, host, plan_for, policy, vm, where

HOT = cluster([host("a"), host("b")], [vm("v1", "a", load=3000), vm("v2", "a", load=3000)])


def cooling(**reasons: str) -> MappingProxyType:
    return MappingProxyType(reasons)


def test_a_cooldown_vm_stays_and_the_plan_moves_the_other_one() -> None:
    free = plan_for(HOT, policy(Goal.SPREAD))
    assert len(free.moves) == 1

    held = plan_for(HOT, policy(Goal.SPREAD, cooldown=cooling(v1="moved 2 h ago")))
    assert [m.vm for m in held.moves] == ["v2"]

    both = plan_for(HOT, policy(Goal.SPREAD, cooldown=cooling(v1="moved 2 h ago", v2="moved 1 h ago")))
    assert both.moves == ()
    rules = resolve_rules(HOT, policy(Goal.SPREAD, cooldown=cooling(v1="moved 2 h ago")))
    assert rules.pin_reason["v1"] == "moved 2 h ago"


def test_a_cooldown_vm_on_a_drained_host_still_moves() -> None:
    clu = cluster([host("a"), host("b")], [vm("v1", "a"), vm("v2", "b")])
    pol = policy(Goal.DRAIN, drain_hosts=frozenset({"a"}), cooldown=cooling(v1="moved 1 h ago", v2="moved 1 h ago"))
    plan = plan_for(clu, pol)  # no "cannot be drained: VM is pinned" input error
    assert where(plan) == {"v1": "b", "v2": "b"}
    assert "v1" not in resolve_rules(clu, pol).pinned


def test_a_cooldown_vm_outside_its_host_group_still_moves() -> None:
    clu = cluster([host("a"), host("b", labels={"oracle": "yes"})], [vm("db", "a"), vm("web", "a")])
    group = HostGroup("oracle", Selector(names=frozenset({"db"})), Selector(labels=MappingProxyType({"oracle": "yes"})))
    pol = policy(Goal.SPREAD, host_groups=(group,), cooldown=cooling(db="moved 1 h ago", web="moved 1 h ago"),
                 limits=policy().limits)
    plan = plan_for(clu, pol)
    assert where(plan)["db"] == "b"
    assert where(plan)["web"] == "a"
