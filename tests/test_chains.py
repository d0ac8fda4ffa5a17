"""Ejection chains in the spread greedy: a peak host whose VM fits nowhere as things stand is
relieved after a cool host ejects one of its own VMs to make room. Chains keep every rule: each
link is checked on the live state, and the plan is re-checked by the independent validator."""

from __future__ import annotations

import pytest

from planner.check.validate import validate_placement
from planner.domain.policy import AntiAffinity, Selector, SpreadSettings
from planner.instance.problem import Problem, build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import peak_relief
from planner.solver.greedy import improve_spread
from planner.solver.planning import to_placement
from tests.builders import cluster, host, policy, vm


def _chain_case(extra_rules: tuple = ()):
    """a (8 cores) is the CPU peak at 500 ‰ with `hot` (4 cores' load, 7 GiB) beside a quiet 7.5 GiB
    `anchor`. b (16 cores) has CPU to spare but its memory is full (9.1 + 6.7 of 16 GiB); c (8
    cores) has memory but runs at 350 ‰. hot fits on b by CPU only, on c by memory only; a swap with
    b's quiet VM overfills a, a swap with its filler overfills b. Ejecting `quiet` to c (400 ‰)
    makes room on b for hot (275 ‰): the peak drops to 400 ‰ or less."""
    hosts = [host("a", cpus=8), host("b", cpus=16), host("c", cpus=8)]
    vms = [vm("hot", "a", load=4000, memory_mib=7168), vm("anchor", "a", load=0, memory_mib=7680),
           vm("quiet", "b", load=400, memory_mib=9300), vm("filler", "b", load=400, memory_mib=6900),
           vm("busy", "c", load=2800, memory_mib=1024)]
    return cluster(hosts, vms), policy(spread=SpreadSettings(memory_weight=0), anti_affinity=extra_rules)


def _greedy_peak(problem: Problem) -> PlacementState:
    state = PlacementState(problem)
    improve_spread(state)
    return state


def test_a_chain_relieves_a_peak_that_no_move_or_swap_can() -> None:
    clu, pol = _chain_case()
    problem = build_problem(resolve_rules(clu, pol))
    state = _greedy_peak(problem)
    assert state.peaks()[0] <= 400  # the greedy may go on lowering it after the chain
    placement = to_placement(problem, state.assignment)
    assert placement["hot"] == "b" and placement["quiet"] != "b"
    assert validate_placement(clu, pol, placement) == []


def test_without_chains_the_same_peak_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    # The case needs the chain: with chains switched off the greedy is stuck at 500 ‰.
    monkeypatch.setattr(peak_relief, "chain_relief", lambda *args: ([], 0))
    clu, pol = _chain_case()
    assert _greedy_peak(build_problem(resolve_rules(clu, pol))).peaks()[0] == 500


def test_a_chain_never_sends_an_ejected_vm_where_a_rule_forbids_it() -> None:
    # quiet may not share a host with busy: the only place it could make room from is closed.
    apart = AntiAffinity("apart", Selector(names=frozenset({"quiet", "busy"})))
    clu, pol = _chain_case((apart,))
    problem = build_problem(resolve_rules(clu, pol))
    state = _greedy_peak(problem)
    placement = to_placement(problem, state.assignment)
    assert placement["quiet"] != placement["busy"]
    assert validate_placement(clu, pol, placement) == []


def test_a_chain_that_would_overfill_the_landing_host_is_not_made() -> None:
    # c's memory is full too: quiet has nowhere to go, so hot stays and nothing is over a limit.
    clu, pol = _chain_case()
    clu = cluster(list(clu.hosts), list(clu.vms) + [vm("c-fill", "c", load=0, memory_mib=14000)])
    problem = build_problem(resolve_rules(clu, pol))
    state = _greedy_peak(problem)
    placement = to_placement(problem, state.assignment)
    assert placement["hot"] == "a"
    assert validate_placement(clu, pol, placement) == []
