"""Building a problem's units and counting a whole placement take bulk paths (one-VM units built
by a path of their own, per-host sums by one scatter): each must give exactly what the general,
one-by-one path gives, on clusters with every kind of rule (affinity groups whole and split,
anti-affinity, min_spread, pins, host groups, weighted move costs, extra resources, a drain)."""

from __future__ import annotations

import random

import pytest

from planner.domain.model import Cluster
from planner.domain.policy import (Affinity, AntiAffinity, Goal, HostGroup, MinSpread, MoveCosts, MoveFactor, Pin,
                                   Policy, Selector)
from planner.instance.drain_only import DrainOnly
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.instance.unit_building import UnitBuilder
from planner.rules.resolve import resolve_rules
from tests.builders import cluster, host, policy, vm

BOOKKEEPING = ("memory", "vcpus", "load", "extra_used", "units_on", "occupancy", "spread_occupancy",
               "spread_distinct", "assignment", "moved_vms", "moved_mib", "weighted_mib")


def _names(*names: str) -> Selector:
    return Selector(names=frozenset(names))


def _case(seed: int, goal: Goal = Goal.SPREAD) -> tuple[Cluster, Policy]:
    rng = random.Random(seed)
    hosts = [host(f"h{i}", cpus=16, memory_mib=65536, labels={"rack": f"r{i % 3}"},
                  resources={"disk_iops": 20000}) for i in range(9)]
    vms = [vm(f"v{i}", f"h{rng.randrange(9)}", vcpus=rng.randint(1, 2), memory_mib=rng.choice([512, 1024, 2048]),
              load=rng.randint(0, 900), labels={"app": "web"} if i % 5 == 0 else {},
              resources={"disk_iops": rng.randint(0, 500)}) for i in range(40)]
    rules = dict(
        affinity=(Affinity("pair", _names("v1", "v2")), Affinity("trio", _names("v3", "v4", "v6"))),
        anti_affinity=(AntiAffinity("apart", _names("v7", "v8", "v9"), scope="rack"),
                       AntiAffinity("hosts", _names("v11", "v12", "v1"))),
        min_spread=(MinSpread("web", Selector(labels={"app": "web"}), "rack", 2),),
        pins=(Pin("db", _names("v13", "v14")),),
        host_groups=(HostGroup("left", _names("v16", "v17", "v3"), _names("h0", "h1", "h2", "h3", "h4", "h5")),),
        move_costs=MoveCosts("rack", 3, (MoveFactor(_names("v18", "v1"), 4),)))
    if goal is Goal.DRAIN:
        pinned_on = {v.host for v in vms if v.name in ("v13", "v14")}
        rules["drain_hosts"] = frozenset({next(h.name for h in hosts if h.name not in pinned_on)})
    return cluster(hosts, vms), policy(goal, **rules)


@pytest.mark.parametrize("goal", [Goal.SPREAD, Goal.DRAIN, Goal.CONSOLIDATE])
@pytest.mark.parametrize("seed", range(4))
def test_one_vm_units_are_built_as_the_general_path_builds_them(goal: Goal, seed: int) -> None:
    clu, pol = _case(seed, goal)
    rules = resolve_rules(clu, pol)
    problem = build_problem(rules)
    in_place = DrainOnly(rules, problem.index_of_host) if goal.traits.moves_only_drained else None
    general = UnitBuilder(rules, problem.index_of_host, problem.move_cost_matrix, in_place)
    assert any(len(unit.vms) == 1 for unit in problem.units) and any(len(unit.vms) > 1 for unit in problem.units)
    for unit in problem.units:
        assert unit == general._unit(unit.index, unit.vms), unit.vms


@pytest.mark.parametrize("seed", range(6))
def test_a_counted_placement_is_what_moving_there_one_unit_at_a_time_gives(seed: int) -> None:
    clu, pol = _case(seed)
    problem = build_problem(resolve_rules(clu, pol))
    assert problem.weighted_costs and problem.resources
    assert any(unit.current is None for unit in problem.units), "a split affinity group starts the case"
    rng = random.Random(seed)
    moved = PlacementState(problem)
    for _ in range(60):
        moved.move(rng.choice(problem.units), rng.randrange(len(problem.hosts)))
    counted = PlacementState(problem, moved.assignment)
    for name in BOOKKEEPING:
        assert _held(getattr(counted, name)) == _held(getattr(moved, name)), name


def _held(value: object) -> object:
    """Anti-affinity occupancy keeps a domain a group left at 0: the same as no entry."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [{domain: count for domain, count in by_domain.items() if count} for by_domain in value]
    return value


@pytest.mark.parametrize("seed", range(4))
def test_the_home_placement_sums_every_unit_on_the_host_it_runs_on(seed: int) -> None:
    clu, pol = _case(seed)
    problem = build_problem(resolve_rules(clu, pol))
    state = PlacementState(problem)
    memory = {h.name: 0 for h in clu.hosts}
    for v in clu.vms:
        memory[v.host] += v.memory_mib
    for unit in problem.units:  # a split affinity group starts whole, where its first member runs
        if unit.current is None:
            for member, member_host in enumerate(unit.member_hosts):
                memory[problem.hosts[member_host].name] -= unit.member_memory[member]
            memory[problem.hosts[unit.member_hosts[0]].name] += unit.memory_mib
    assert state.memory == [memory[h.name] for h in problem.hosts]
    assert state.units_on == [{u.index for u, at in zip(problem.units, state.assignment) if at == h}
                              for h in range(len(problem.hosts))]
    assert state.moved_vms == sum(unit.moved_vms(host) for unit, host in zip(problem.units, state.assignment)) > 0
