"""min_spread: a service's VMs stay on at least N distinct racks, whatever the goal would prefer.

Each behaviour is shown twice: without the rule the planner does collapse the group (so the test
can fail), with it the group stays spread. Every plan goes through `plan_for`, which re-checks it
with the independent validator.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.domain.errors import InputError
from planner.solver.greedy import improve_spread, repair
from planner.solver.lns import improve
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.domain.policy import Goal, MinSpread, Pin, Selector, SpreadSettings
from planner.rules.resolve import resolve_rules
from planner.check.validate import validate_placement
from tests.builders import FAST, cluster, host, plan_for, policy, vm, where

RACK = {"a1": "r1", "a2": "r1", "b1": "r2", "b2": "r2", "c1": "r2"}


def rack_host(name: str, **extra: object) -> object:
    return host(name, labels={"rack": RACK[name]}, **extra)


def web(at_least: int = 2, label: str = "rack") -> MinSpread:
    return MinSpread("web-over-racks", Selector(labels={"app": "web"}), label, at_least)


def web_vm(name: str, on: str, **extra: object) -> object:
    return vm(name, on, labels={"app": "web"}, **extra)


def racks(placement: dict[str, str], names: list[str]) -> set[str]:
    return {RACK[placement[n]] for n in names}


# -- the rule holds where the goal would collapse the group ---------------------------------------

def _consolidate_case():
    """Four light hosts in two racks: everything fits on one host, so consolidation wants one."""
    hosts = [rack_host(n) for n in ("a1", "a2", "b1", "b2")]
    vms = [web_vm("w1", "a1"), web_vm("w2", "b1"), vm("x1", "a2"), vm("x2", "b2")]
    return cluster(hosts, vms)


def test_consolidate_without_the_rule_collapses_the_group_onto_one_rack() -> None:
    plan = plan_for(_consolidate_case(), policy(Goal.CONSOLIDATE))
    assert plan.metric.after == 1
    assert len(racks(where(plan), ["w1", "w2"])) == 1


def test_consolidate_keeps_the_group_on_two_racks() -> None:
    clu = _consolidate_case()
    plan = plan_for(clu, policy(Goal.CONSOLIDATE, min_spread=(web(),)))
    assert racks(where(plan), ["w1", "w2"]) == {"r1", "r2"}
    assert plan.metric.after == 2  # the rule costs one host, no more


def _spread_case():
    """c1 (rack r2, the only r2 host) runs a pinned hog plus web w1 and x: 1000 ‰ CPU. Spread
    would move both w1 and x to rack r1, leaving the web tier on r1 alone."""
    hosts = [rack_host("a1"), rack_host("a2"), rack_host("c1")]
    vms = [vm("hog", "c1", load=6000, memory_mib=8192), web_vm("w1", "c1", load=1000),
           vm("x", "c1", load=1000), web_vm("w2", "a1", load=1000)]
    return cluster(hosts, vms), (Pin("hog", Selector(names=frozenset({"hog"}))),)


def test_spread_without_the_rule_collapses_the_group_onto_one_rack() -> None:
    clu, pins = _spread_case()
    plan = plan_for(clu, policy(pins=pins))
    assert racks(where(plan), ["w1", "w2"]) == {"r1"}


def test_spread_keeps_the_group_on_two_racks_and_moves_something_else() -> None:
    clu, pins = _spread_case()
    plan = plan_for(clu, policy(pins=pins, min_spread=(web(),)))
    assert where(plan)["w1"] == "c1" and where(plan)["x"] != "c1"
    assert racks(where(plan), ["w1", "w2"]) == {"r1", "r2"}


def test_lns_sub_solves_keep_the_group_on_two_racks() -> None:
    problem = build_problem(resolve_rules(_consolidate_case(), policy(Goal.CONSOLIDATE, min_spread=(web(),))))
    start = PlacementState(problem)
    outcome = improve(problem, list(start.assignment), FAST, 1.0)
    final = PlacementState(problem, outcome.assignment)
    assert final.hosts_in_use() == 2 and final.spread_short(0) == 0


# -- a broken start is repaired ---------------------------------------------------------------

def test_a_group_on_one_rack_is_moved_onto_a_second() -> None:
    hosts = [rack_host("a1"), rack_host("a2"), rack_host("b1"), rack_host("b2", cpus=4)]
    vms = [web_vm("w1", "a1"), web_vm("w2", "a1"), web_vm("w3", "a2")]
    clu = cluster(hosts, vms)
    pol = policy(min_spread=(web(),))
    assert validate_placement(clu, pol, {v.name: v.host for v in vms}) != []  # broken at the start
    plan = plan_for(clu, pol)
    assert racks(where(plan), ["w1", "w2", "w3"]) == {"r1", "r2"}
    assert len(plan.moves) >= 1
    # The greedy repair on its own: one member to the least loaded host of the unused rack.
    problem = build_problem(resolve_rules(clu, pol))
    state = PlacementState(problem)
    assert state.spread_short(0) == 1
    repair(state)
    assert state.spread_short(0) == 0 and state.moved_vms == 1
    (moved,) = [u for u in problem.units if state.assignment[u.index] != u.current]
    assert problem.hosts[state.assignment[moved.index]].name == "b1"  # b2 has fewer cores: more loaded


def test_a_broken_start_is_repaired_even_when_the_gate_would_skip_the_plan() -> None:
    # Nothing to gain for the goal (a huge benefit gate), but the rule is broken: the plan moves.
    hosts = [rack_host("a1"), rack_host("b1")]
    clu = cluster(hosts, [web_vm("w1", "a1"), web_vm("w2", "a1")])
    pol = policy(min_spread=(web(),), limits=replace(policy().limits, min_improvement_percent=100))
    plan = plan_for(clu, pol)
    assert racks(where(plan), ["w1", "w2"]) == {"r1", "r2"}


def test_cooldown_does_not_hold_a_group_spread_too_thin() -> None:
    hosts = [rack_host("a1"), rack_host("b1")]
    clu = cluster(hosts, [web_vm("w1", "a1"), web_vm("w2", "a1")])
    cooldown = {"w1": "in cooldown: moved 1 h ago", "w2": "in cooldown: moved 1 h ago"}
    plan = plan_for(clu, policy(min_spread=(web(),), cooldown=cooldown))
    assert racks(where(plan), ["w1", "w2"]) == {"r1", "r2"}


# -- drain ----------------------------------------------------------------------------------------

def _drain_case():
    """Drain b1: its web VM's least loaded destination is a2 (rack r1, empty), which would put the
    whole web tier on r1; b2 (rack r2) is busier but has room."""
    hosts = [rack_host(n) for n in ("a1", "a2", "b1", "b2")]
    vms = [web_vm("w1", "a1"), web_vm("w2", "b1"), vm("busy", "b2", load=4000, memory_mib=8192)]
    return cluster(hosts, vms)


def test_drain_without_the_rule_sends_the_vm_to_the_other_rack() -> None:
    plan = plan_for(_drain_case(), policy(Goal.DRAIN, drain_hosts=frozenset({"b1"})))
    assert where(plan)["w2"] == "a2"


def test_drain_keeps_the_group_on_two_racks() -> None:
    plan = plan_for(_drain_case(), policy(Goal.DRAIN, drain_hosts=frozenset({"b1"}), min_spread=(web(),)))
    assert where(plan)["w2"] == "b2"


def test_draining_the_last_host_of_a_rack_the_group_needs_says_which_rule() -> None:
    hosts = [rack_host("a1"), rack_host("a2"), rack_host("c1")]
    clu = cluster(hosts, [web_vm("w1", "a1"), web_vm("w2", "c1")])
    with pytest.raises(InputError, match=r"rules.min_spread\[0\]: rule 'web-over-racks' needs 2 distinct racks "
                                         r"but the hosts its VMs may use are in only 1"):
        resolve_rules(clu, policy(Goal.DRAIN, drain_hosts=frozenset({"c1"}), min_spread=(web(),)))


# -- impossible rules -----------------------------------------------------------------------------

def test_more_racks_than_the_cluster_has_is_a_one_line_error() -> None:
    clu = cluster([rack_host(n) for n in ("a1", "a2", "b1")], [web_vm(f"w{i}", "a1") for i in range(3)])
    with pytest.raises(InputError) as error:
        resolve_rules(clu, policy(min_spread=(web(at_least=3),)))
    assert str(error.value) == ("rules.min_spread[0]: rule 'web-over-racks' needs 3 distinct racks "
                                "but the hosts its VMs may use are in only 2")


def test_more_racks_than_vms_is_a_one_line_error() -> None:
    hosts = [host(f"h{i}", labels={"rack": f"r{i}"}) for i in range(4)]
    clu = cluster(hosts, [web_vm("w1", "h0"), web_vm("w2", "h1")])
    with pytest.raises(InputError, match=r"needs 3 distinct racks but selects only 2 VMs that can be apart"):
        resolve_rules(clu, policy(min_spread=(web(at_least=3),)))


def test_a_label_no_host_has_is_refused() -> None:
    with pytest.raises(InputError, match=r"rules.min_spread\[0\].label: no host has a label 'rak'"):
        resolve_rules(_consolidate_case(), policy(min_spread=(web(label="rak"),)))


# -- the pieces: fits, swaps, unlabeled hosts, validator ------------------------------------------------

def test_fits_refuses_only_moves_that_lose_a_rack_the_group_cannot_spare() -> None:
    clu = cluster([rack_host(n) for n in ("a1", "a2", "b1", "b2")],
                  [web_vm("w1", "a1"), web_vm("w2", "b1"), web_vm("w3", "b1")])
    problem = build_problem(resolve_rules(clu, policy(min_spread=(web(),))))
    state = PlacementState(problem)
    w1, w2 = problem.units[0], problem.units[1]
    a2, b2 = problem.index_of_host["a2"], problem.index_of_host["b2"]
    assert state.fits(w1, a2)  # same rack
    assert not state.fits(w1, b2)  # r1 would lose its only web VM
    assert state.fits(w2, a2)  # r2 keeps w3
    relaxed = PlacementState(build_problem(resolve_rules(clu, policy(min_spread=(web(at_least=1),)))))
    assert relaxed.fits(w1, b2)  # one rack is enough: nothing to keep


def test_swaps_keep_the_group_spread() -> None:
    """The spread greedy's swap of s1 for fill puts big and fill on one rack; with the rule it
    takes a swap that keeps them apart (big for fill) and still lowers the peak."""
    hosts = [host("a", cpus=8, labels={"rack": "ra"}), host("b", cpus=8, labels={"rack": "rb"})]
    vms = [vm("big", "a", load=3000, memory_mib=1024, labels={"app": "web"}), vm("s1", "a", load=1000, memory_mib=1024),
           vm("m", "b", load=500, memory_mib=14848), vm("fill", "b", load=0, memory_mib=1024, labels={"app": "web"})]
    clu = cluster(hosts, vms)
    for rules, apart in (((), False), ((web(),), True)):
        pol = policy(spread=SpreadSettings(memory_weight=0), min_spread=rules)
        state = PlacementState(build_problem(resolve_rules(clu, pol)))
        improve_spread(state)
        assert state.peaks()[0] < 500
        assert (state.assignment[0] != state.assignment[3]) is apart
    plan = plan_for(clu, policy(spread=SpreadSettings(memory_weight=0), min_spread=(web(),)))
    assert plan.target_placement["big"] != plan.target_placement["fill"]


def test_a_host_without_the_label_counts_as_its_own_value() -> None:
    hosts = [host("a1", labels={"rack": "r1"}), host("loose")]
    clu = cluster(hosts, [web_vm("w1", "a1"), web_vm("w2", "loose")])
    pol = policy(min_spread=(web(),))
    assert validate_placement(clu, pol, {"w1": "a1", "w2": "loose"}) == []
    broken = validate_placement(clu, pol, {"w1": "a1", "w2": "a1"})
    assert [str(v) for v in broken] == ["min-spread: web-over-racks: on 1 distinct racks (r1), needs 2"]
    plan = plan_for(clu, replace(pol, goal=Goal.CONSOLIDATE))
    assert where(plan)["w1"] != where(plan)["w2"]


def test_label_host_counts_hosts() -> None:
    clu = _consolidate_case()
    plan = plan_for(clu, policy(Goal.CONSOLIDATE, min_spread=(web(at_least=2, label="host"),)))
    assert where(plan)["w1"] != where(plan)["w2"]
