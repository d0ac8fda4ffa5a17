"""The moves bound counts the VMs that must move aside where the room of one shape is short
(planner/bounds/room_bound.py): never more than the fewest moves any placement needs (checked
against every placement of small random drains), and exact where the room is short by a known count.
"""

from __future__ import annotations

import itertools
import random

import pytest

from planner.bounds.room_bound import must_leave, room_shortfall
from planner.domain.policy import Goal
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver.greedy import units_needing_repair
from rebalance.render import render_plan
from tests.builders import cluster, hosts, plan_for, policy, vm

GIB = 1024
DRAIN_D = policy(Goal.DRAIN, drain_hosts=frozenset({"d"}))



def _shortfall(clu):
    problem = build_problem(resolve_rules(clu, DRAIN_D))
    start = PlacementState(problem)
    return room_shortfall(problem, start, units_needing_repair(start))


def _two_eights_and_no_eight_free():
    # 16 GiB hosts: a and b have 6 GiB free, c 4 GiB; the two drained 8 GiB VMs fit only once two
    # VMs move aside (a-4 to c and a-6 to b leave a empty for both): 12+4, 6+6+4 and 8+8.
    vms = [vm("big-1", "d", memory_mib=8 * GIB), vm("big-2", "d", memory_mib=8 * GIB),
           vm("a-4", "a", memory_mib=4 * GIB), vm("a-6", "a", memory_mib=6 * GIB),
           vm("b-4", "b", memory_mib=4 * GIB), vm("b-6", "b", memory_mib=6 * GIB),
           vm("c-12", "c", memory_mib=12 * GIB)]
    return cluster(hosts("d", "a", "b", "c"), vms)


def test_two_places_of_8_gib_short_mean_two_vms_moved_aside() -> None:
    short = _shortfall(_two_eights_and_no_eight_free())
    assert (short.aside, short.needing, short.offered) == (2, 2, 0)
    assert short.shape[0] == 8 * GIB


def test_the_plan_reaches_the_bound_and_says_why_it_counts_them() -> None:
    plan = plan_for(_two_eights_and_no_eight_free(), DRAIN_D)
    assert plan.bounds.moves == 4
    assert len(plan.moves) == 4
    assert any("at least 2 other VM(s) must move aside" in note and "8 GiB" in note for note in plan.bounds.notes)
    # Each VM moved aside moves at least the smallest VM that need not move (4 GiB).
    assert plan.bounds.moved_memory_mib >= 16 * GIB + 2 * 4 * GIB
    assert "(at least 2 other VM(s) must move aside" in render_plan(plan)


def test_room_that_is_there_counts_nothing_aside() -> None:
    vms = [vm("big-1", "d", memory_mib=8 * GIB), vm("a-4", "a", memory_mib=4 * GIB), vm("b-4", "b", memory_mib=4 * GIB)]
    clu = cluster(hosts("d", "a", "b"), vms)
    assert _shortfall(clu).aside == 0
    plan = plan_for(clu, DRAIN_D)
    assert plan.bounds.moves == 1 and plan.bounds.notes == ()


def test_only_units_that_may_not_stay_where_they_are_must_leave() -> None:
    # Both VMs sit on a host over its memory limit: one of them must go, either may stay.
    vms = [vm("x", "a", memory_mib=10 * GIB), vm("y", "a", memory_mib=10 * GIB), vm("z", "b", memory_mib=1 * GIB)]
    problem = build_problem(resolve_rules(cluster(hosts("a", "b"), vms), policy(Goal.SPREAD)))
    start = PlacementState(problem)
    assert units_needing_repair(start)
    assert must_leave(units_needing_repair(start)) == []


def _fewest_moves(problem, start) -> int | None:
    """Every placement of every unit on the hosts it may use, ignoring which may move (the bound is
    about any plan): the fewest units moved of those within every host's hard limits."""
    units = problem.units
    options = [sorted(h for h in range(len(problem.hosts)) if problem.hosts[h].name != "d") for _ in units]
    best = None
    for placement in itertools.product(*options):
        used = {}
        for unit, where in zip(units, placement):
            memory, vcpus, load = used.get(where, (0, 0, 0))
            used[where] = (memory + unit.memory_mib, vcpus + unit.vcpus, load + unit.cpu_load)
        if any(memory > problem.memory_limit[h] or vcpus > problem.vcpu_limit[h] or load > problem.load_limit[h]
               for h, (memory, vcpus, load) in used.items()):
            continue
        moves = sum(where != start.assignment[unit.index] for unit, where in zip(units, placement))
        best = moves if best is None else min(best, moves)
    return best


def _random_drain(rng: random.Random):
    machines = hosts("d", "a", "b", "c", gib=rng.choice([12, 16]), cpus=rng.choice([1, 2]))
    vms = [vm(f"d{i}", "d", vcpus=rng.choice([1, 2, 4]), memory_mib=rng.choice([2, 4, 6, 8]) * GIB)
           for i in range(rng.randint(1, 3))]
    for name in "abc":
        vms += [vm(f"{name}{i}", name, vcpus=rng.choice([1, 2]), memory_mib=rng.choice([2, 3, 4, 6]) * GIB)
                for i in range(rng.randint(0, 2))]
    return cluster(machines, vms)


def test_the_bound_never_exceeds_the_fewest_moves_of_any_placement() -> None:
    rng = random.Random(7)
    checked = counted_aside = 0
    for _ in range(300):
        clu = _random_drain(rng)
        problem = build_problem(resolve_rules(clu, DRAIN_D))
        start = PlacementState(problem)
        fewest = _fewest_moves(problem, start)
        if fewest is None:
            continue
        leaving = len(must_leave(units_needing_repair(start)))
        aside = room_shortfall(problem, start, units_needing_repair(start)).aside
        assert leaving + aside <= fewest, (clu, leaving, aside, fewest)
        checked += 1
        counted_aside += aside > 0
    # The draws must exercise the counting, not only the cases where the room is there.
    assert checked >= 150 and counted_aside >= 10


@pytest.mark.parametrize("cpus", [1, 2])
def test_a_shape_short_in_vcpus_alone_counts_too(cpus: int) -> None:
    # Memory enough everywhere, but the drained VM's vCPUs fit no host as it is.
    limit = build_problem(resolve_rules(cluster(hosts("d", cpus=cpus), []), DRAIN_D)).vcpu_limit[0]
    vms = [vm("wide", "d", vcpus=limit, memory_mib=1 * GIB),
           vm("a-1", "a", vcpus=1, memory_mib=1 * GIB), vm("b-1", "b", vcpus=1, memory_mib=1 * GIB)]
    short = _shortfall(cluster(hosts("d", "a", "b", cpus=cpus), vms))
    assert short.aside == 1 and short.shape[1] == limit and short.shape[0] == 0
