"""Units are built without the frozen dataclass's __init__ (planner/instance/unit_building.py,
unit.unit_from): every field must still hold what the VMs say, the unit must behave as a frozen
dataclass built the usual way, and its dict must stay the compact kind (no dict.update)."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from planner.domain.policy import Affinity, AntiAffinity, Goal, Pin, Selector
from planner.instance.problem import build_problem
from planner.instance.unit import UNIT_FIELDS, Unit, replaced, unit_from
from planner.rules.resolve import resolve_rules
from tests.builders import cluster, host, policy, vm


def _names(*vms: str) -> Selector:
    return Selector(names=frozenset(vms))


def _problem(goal: Goal = Goal.SPREAD):
    hosts = [host(f"h{i}", resources={"iops": 5000}) for i in range(4)]
    vms = [vm("app", "h0", vcpus=2, memory_mib=2048, load=700, resources={"iops": 300}),
           vm("cache", "h0", vcpus=3, memory_mib=4096, load=500, resources={"iops": 40}),
           vm("db1", "h1", vcpus=4, memory_mib=8192, load=1200, resources={"iops": 900}),
           vm("db2", "h2", vcpus=1, memory_mib=1024, load=100),
           vm("pinned", "h3", vcpus=2, memory_mib=512, load=50)]
    rules = policy(goal, affinity=(Affinity("pair", _names("app", "cache")),),
                   anti_affinity=(AntiAffinity("dbs", _names("db1", "db2")),),
                   pins=(Pin("keep", _names("pinned")),))
    clu = cluster(hosts, vms)
    return clu, build_problem(resolve_rules(clu, rules))


def test_every_field_holds_what_the_units_vms_say() -> None:
    clu, problem = _problem()
    by_name = {v.name: v for v in clu.vms}
    index_of = problem.index_of_host
    for unit in problem.units:
        members = [by_name[name] for name in unit.vms]
        assert unit.member_hosts == tuple(index_of[v.host] for v in members)
        assert unit.member_memory == tuple(v.memory_mib for v in members)
        assert unit.memory_mib == sum(v.memory_mib for v in members)
        assert unit.vcpus == sum(v.vcpus for v in members)
        assert unit.cpu_load == sum(v.cpu_load_millicores for v in members)
        assert unit.extra == (sum(v.resources.get("iops", 0) for v in members),)
        assert unit.fixed == (unit.vms == ("pinned",))
        assert bool(unit.anti_affinity) == (unit.vms[0] in ("db1", "db2"))
    assert sorted(len(u.vms) for u in problem.units) == [1, 1, 1, 2]


@pytest.mark.parametrize("goal", [Goal.SPREAD, Goal.CONSOLIDATE])
def test_units_equal_hash_and_freeze_like_dataclass_built_ones(goal: Goal) -> None:
    _, problem = _problem(goal)
    for unit in problem.units:
        usual = Unit(**{name: getattr(unit, name) for name in UNIT_FIELDS})
        assert unit == usual and hash(unit) == hash(usual)
        with pytest.raises(dataclasses.FrozenInstanceError):
            unit.fixed = not unit.fixed  # type: ignore[misc]


def test_replaced_changes_only_the_named_fields() -> None:
    _, problem = _problem()
    unit = problem.units[0]
    before = dataclasses.astuple(unit)
    twin = replaced(unit, allowed=frozenset({0}), fixed=True)
    assert twin == dataclasses.replace(unit, allowed=frozenset({0}), fixed=True)
    assert dataclasses.astuple(unit) == before
    assert sys.getsizeof(vars(twin)) <= sys.getsizeof(vars(Unit(*before))) * 1.5


def test_a_unit_from_values_keeps_the_compact_dict_of_one_built_by_init() -> None:
    _, problem = _problem()
    unit = problem.units[0]
    values = tuple(getattr(unit, name) for name in UNIT_FIELDS)
    usual = Unit(*values)
    assert unit_from(values) == usual
    assert sys.getsizeof(vars(unit_from(values))) <= sys.getsizeof(vars(usual)) * 1.5
