"""A peak at its lower bound is done: the LNS then neither counts the hosts sitting at it nor lets a
sub-solve take a neighbourhood below it, so what rounds it keeps can only lower the memory moved.

The case: `big` (5000 mc on an 8-core host) makes 625 ‰ the bound of any placement; nine more
hosts sit at 625 ‰ too, each with five small VMs, and thirty are nearly idle. Moving small VMs to
the idle hosts leaves fewer hosts at the peak: the goal is no better for it, and the memory
migrates for nothing.
"""

from __future__ import annotations

import pytest

from planner.bounds.lower_bounds import spread_bound, spread_peak_bounds
from planner.domain.policy import SolverSettings, SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import lns
from planner.solver.cpsat_model import Resource, build_model
from planner.solver.peak_floors import peak_floors
from tests.builders import cluster, host, policy, vm

CPU_ONLY = SpreadSettings(memory_weight=0)


def _at_bound_problem():
    hosts = [host(f"h{i}") for i in range(1, 41)]
    vms = [vm("big", "h1", load=5000)]
    vms += [vm(f"small-{h}-{k}", f"h{h}", load=1000) for h in range(2, 11) for k in range(5)]
    vms += [vm(f"idle-{h}", f"h{h}", load=100) for h in range(11, 41)]
    return build_problem(resolve_rules(cluster(hosts, vms), policy(spread=CPU_ONLY)))


def test_the_floor_is_the_bound_of_each_weighed_resource() -> None:
    problem = _at_bound_problem()
    assert peak_floors(problem) == {Resource.CPU_LOAD: 625}  # memory is not weighed


def test_under_a_threshold_the_floor_is_the_threshold() -> None:
    # Peaks under a threshold all count as it, so hosts there are done too.
    hosts = [host(f"h{i}") for i in range(1, 41)]
    vms = [vm("big", "h1", load=5000)] + [vm(f"idle-{h}", f"h{h}", load=100) for h in range(2, 41)]
    problem = build_problem(resolve_rules(cluster(hosts, vms), policy(
        spread=SpreadSettings(memory_weight=0, cpu_threshold_percent=70))))
    assert peak_floors(problem) == {Resource.CPU_LOAD: 700}
    assert lns.score(problem, PlacementState(problem), peak_floors(problem)) == (700, 0, 0)


def test_the_spread_bound_weighs_the_same_peak_bounds() -> None:
    hosts = [host(f"h{i}") for i in range(1, 5)]
    vms = [vm(f"v{i}", f"h{1 + i % 2}", load=1500 + 100 * i, memory_mib=1024 * (i + 1)) for i in range(8)]
    problem = build_problem(resolve_rules(cluster(hosts, vms), policy(
        spread=SpreadSettings(cpu_weight=3, memory_weight=2))))
    cpu, memory = spread_peak_bounds(problem)
    assert cpu > 0 and memory > 0
    assert spread_bound(problem) == 3 * cpu + 2 * memory
    assert peak_floors(problem) == {Resource.CPU_LOAD: cpu, Resource.MEMORY: memory}


def test_hosts_at_a_peak_already_at_its_floor_are_not_counted() -> None:
    problem = _at_bound_problem()
    state = PlacementState(problem)
    assert lns.score(problem, state) == (625, 10, 0)
    assert lns.score(problem, state, peak_floors(problem)) == (625, 0, 0)
    assert lns.score(problem, state, {Resource.CPU_LOAD: 600}) == (625, 10, 0)  # above its floor it counts


def test_the_sub_model_peak_starts_at_the_floor() -> None:
    problem = _at_bound_problem()
    state = PlacementState(problem)
    hosts = tuple(range(len(problem.hosts)))
    candidates = {u.index: hosts for u in problem.units if u.vms[0].startswith("small-2-")}
    plain = build_model(problem, candidates, state.assignment, state=state)
    floored = build_model(problem, candidates, state.assignment, state=state, peak_floors={Resource.CPU_LOAD: 625})
    lowest = [model.goal_vars[Resource.CPU_LOAD].proto.domain[0] for model in (plain, floored)]
    assert lowest == [625, 625]  # big stays on h1 and holds it there: the floor changes nothing here
    looser = build_model(problem, candidates, state.assignment, state=state, peak_floors={Resource.CPU_LOAD: 700})
    assert looser.goal_vars[Resource.CPU_LOAD].proto.domain[0] == 700


@pytest.mark.parametrize("seed", range(3))
def test_at_the_bound_the_lns_moves_nothing_for_fewer_hosts_at_the_peak(seed: int,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    problem = _at_bound_problem()
    settings = SolverSettings(time_limit_s=2.0, seed=seed)
    start = list(PlacementState(problem).assignment)
    outcome = lns.improve(problem, start, settings, 2.0)
    assert outcome.goal == 625 and list(outcome.assignment) == start
    # Without the floors the same rounds trade memory for a host off the peak: the case does test them.
    monkeypatch.setattr(lns, "peak_floors", lambda _: {})
    outcome = lns.improve(problem, start, settings, 2.0)
    assert outcome.goal == 625 and list(outcome.assignment) != start
