"""The homecoming pass: a moved VM goes home when its home can shed cheaper VMs instead, at the same
peak; a trial that saves nothing or breaks a cap or rule is undone, and a spent budget tries nothing.
On generated memory-tight clusters it never raises a peak, never adds migrated memory, and leaves a
plan the independent validator accepts."""

from __future__ import annotations

import time

import pytest

from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.check.validate import validate_placement
from planner.domain.policy import AntiAffinity, Pin, ResourceBalance, Selector, SpreadSettings
from planner.instance.problem import Problem, build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver.greedy import greedy_placement
from planner.solver.greedy_budget import GreedyBudget
from planner.solver.homecoming import send_home
from planner.solver.planning import to_placement
from tests.builders import cluster, host, policy, vm

GIB = 1024


def _hot_host_case(small_gib: int = 1, **rules):
    """a (8 cores) runs `big` (2 cores' load, 8 GiB) and s1, s2 (1 core's load, `small_gib` each):
    500 ‰. b and c are empty. Moving big to b brings the peak to 250 ‰ for 8 GiB; moving s1 and s2
    off instead reaches the same peak for 2 × `small_gib`."""
    hosts = [host(name, cpus=8, memory_mib=32 * GIB + 512) for name in "abc"]
    vms = [vm("big", "a", load=2000, memory_mib=8 * GIB), vm("s1", "a", load=1000, memory_mib=small_gib * GIB),
           vm("s2", "a", load=1000, memory_mib=small_gib * GIB)]
    return cluster(hosts, vms), policy(spread=SpreadSettings(memory_weight=0), **rules)


def _state_with(clu, pol, placed: dict[str, str]) -> tuple[Problem, PlacementState]:
    """The state with the VMs named in `placed` moved there (a plan someone made)."""
    problem = build_problem(resolve_rules(clu, pol))
    state = PlacementState(problem)
    names = [h.name for h in problem.hosts]
    for unit in problem.units:
        if unit.vms[0] in placed:
            state.move(unit, names.index(placed[unit.vms[0]]))
    return problem, state


def test_a_big_vm_goes_home_and_its_home_sheds_the_cheaper_vms() -> None:
    clu, pol = _hot_host_case()
    problem, state = _state_with(clu, pol, {"big": "b"})
    assert state.peaks()[0] == 250 and state.moved_mib == 8 * GIB

    assert send_home(state) == 1

    placement = to_placement(problem, state.assignment)
    assert placement["big"] == "a" and placement["s1"] != "a" and placement["s2"] != "a"
    assert state.peaks()[0] == 250
    assert state.moved_mib == 2 * GIB
    assert validate_placement(clu, pol, placement) == []


def test_a_trial_that_would_migrate_more_is_undone() -> None:
    # s1 and s2 are 6 GiB each: shedding them costs 12 GiB where big's move costs 8.
    clu, pol = _hot_host_case(small_gib=6)
    problem, state = _state_with(clu, pol, {"big": "b"})
    before = list(state.assignment)

    assert send_home(state) == 0

    assert state.assignment == before
    assert state.moved_mib == 8 * GIB


def test_vms_a_rule_keeps_home_are_not_shed() -> None:
    clu, pol = _hot_host_case(pins=(Pin("stay", Selector(names=frozenset({"s1", "s2"}))),))
    problem, state = _state_with(clu, pol, {"big": "b"})
    before = list(state.assignment)

    assert send_home(state) == 0

    assert state.assignment == before
    assert state.peaks()[0] == 250


def test_shed_vms_keep_anti_affinity() -> None:
    # s1 and s2 may not share a host: with b and c free they go one to each.
    rule = AntiAffinity("apart", Selector(names=frozenset({"s1", "s2"})))
    clu, pol = _hot_host_case(anti_affinity=(rule,))
    problem, state = _state_with(clu, pol, {"big": "b"})

    assert send_home(state) == 1

    placement = to_placement(problem, state.assignment)
    assert {placement["s1"], placement["s2"]} == {"b", "c"}
    assert validate_placement(clu, pol, placement) == []


def test_a_trial_that_would_raise_an_extra_resources_peak_is_undone() -> None:
    # Disk IOPS are weighed beside CPU. big (600 IOPS) went from a to b; a keeps 500 IOPS of a
    # pinned VM (and c a pinned 16 GiB one, so memory is no bar). Home again, big brings a to 550 ‰
    # of its IOPS, above the 300 ‰ peak the plan has, and shedding s1 and s2 (no IOPS, half big's
    # memory together) does not bring it down: the trial is undone.
    iops = {"disk_iops": 2000}
    hosts = [host(name, cpus=8, memory_mib=32 * GIB + 512, resources=iops) for name in "abc"]
    vms = [vm("big", "a", load=2000, memory_mib=GIB, resources={"disk_iops": 600}),
           vm("s1", "a", load=1000, memory_mib=256), vm("s2", "a", load=1000, memory_mib=256),
           vm("db", "a", load=0, resources={"disk_iops": 500}), vm("bulk", "c", load=0, memory_mib=16 * GIB)]
    spread = SpreadSettings(memory_weight=0, resources=(ResourceBalance("disk_iops"),))
    clu, pol = cluster(hosts, vms), policy(spread=spread, pins=(Pin("stay", Selector(names=frozenset({"db", "bulk"}))),))
    _, state = _state_with(clu, pol, {"big": "b"})
    before, goal = list(state.assignment), state.goal_value()

    assert send_home(state) == 0

    assert state.assignment == before
    assert state.goal_value() == goal


def test_a_spent_budget_tries_nothing() -> None:
    clu, pol = _hot_host_case()
    _, state = _state_with(clu, pol, {"big": "b"})
    before = list(state.assignment)

    assert send_home(state, GreedyBudget(deadline=time.monotonic())) == 0

    assert state.assignment == before


def test_each_trial_is_charged_to_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.solver import greedy_budget

    monkeypatch.setattr(greedy_budget, "HOME_TRIAL_MS", 1.0)
    monkeypatch.setattr(greedy_budget, "HOME_TRIED_MS_PER_1000_HOSTS", 0.0)
    clu, pol = _hot_host_case()
    _, state = _state_with(clu, pol, {"big": "b", "s1": "c"})
    budget = GreedyBudget(work_ms=100.0)

    send_home(state, budget)

    assert budget.used_ms == pytest.approx(2.0)  # big and s1 were each tried once


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("fill", [0.80, 0.88])
def test_on_tight_clusters_peaks_hold_memory_falls_and_the_plan_is_valid(seed: int, fill: float) -> None:
    clu = generate_tight_cluster(30, 500, fill, seed)
    pol = tight_policy(clu, seed, time_limit_s=10)
    problem = build_problem(resolve_rules(clu, pol))
    import planner.solver.greedy as greedy

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(greedy, "send_home", lambda state, budget=None: 0)
        state = greedy_placement(problem)
    peaks, cost = state.peaks(), state.move_cost

    send_home(state)

    assert state.peaks()[0] <= peaks[0] and state.peaks()[1] <= peaks[1]
    assert state.move_cost <= cost
    assert validate_placement(clu, pol, to_placement(problem, state.assignment)) == []
