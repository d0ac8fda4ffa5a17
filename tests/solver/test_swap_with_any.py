"""The spread greedy's last resort: when no move, swap with the first SWAP_TARGETS hosts, exchange
or chain relieves the hottest host, a swap with a VM of any host may (peak_relief._swap_with_any):
the step by step pass no longer stops there."""

from __future__ import annotations

import pytest

from planner.check.validate import validate_placement
from planner.domain.policy import Limits, Pin, Selector, SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import peak_relief, swaps
from planner.solver.greedy import improve_spread
from planner.solver.planning import to_placement
from tests.builders import cluster, host, policy, vm
from tests.solver.model_cases import apart

GIB = 1024


def _case():
    """m (4 cores) runs hot (3000 m) and m2, memory full; a (16 cores, the most CPU room) is full of
    a pinned VM; b (8 cores) is full of two quiet 8 GiB VMs. Only hot for pb relieves m."""
    hosts = [host("m", cpus=4), host("a", cpus=16), host("b", cpus=8)]
    vms = [vm("hot", "m", load=3000, memory_mib=8 * GIB), vm("m2", "m", load=100, memory_mib=8 * GIB),
           vm("pa", "a", load=100, memory_mib=16 * GIB),
           vm("pb", "b", load=100, memory_mib=8 * GIB), vm("pb2", "b", load=100, memory_mib=8 * GIB)]
    pol = policy(spread=SpreadSettings(memory_weight=0), pins=(Pin("keep", Selector(names=frozenset({"pa"}))),))
    return cluster(hosts, vms), pol


@pytest.fixture
def only_the_first_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """Swaps with the first host by CPU room only (a), and no exchanges or chains."""
    monkeypatch.setattr(peak_relief, "SWAP_TARGETS", 1)
    monkeypatch.setattr(peak_relief, "exchange_relief", lambda *args: ([], 0))
    monkeypatch.setattr(peak_relief, "chain_relief", lambda *args: ([], 0))


def _greedy(clu, pol) -> tuple[dict[str, str], PlacementState]:
    problem = build_problem(resolve_rules(clu, pol))
    state = PlacementState(problem)
    improve_spread(state)
    return to_placement(problem, state.assignment), state


@pytest.mark.usefixtures("only_the_first_target")
def test_a_swap_with_a_host_past_the_first_targets_relieves_the_peak() -> None:
    clu, pol = _case()
    placement, state = _greedy(clu, pol)
    assert placement["hot"] == "b" and "m" in {placement["pb"], placement["pb2"]}
    assert state.peaks()[0] < 775
    assert validate_placement(clu, pol, placement) == []


@pytest.mark.usefixtures("only_the_first_target")
def test_without_it_the_greedy_stops_at_the_same_peak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peak_relief, "_swap_with_any", lambda *args: [])
    _, state = _greedy(*_case())
    assert state.peaks()[0] == 775 and state.moved_vms == 0


@pytest.mark.usefixtures("only_the_first_target")
def test_it_checks_no_more_pairs_than_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    # m's two VMs against a's one make 2 pairs, against b's two 4 more: a cap of 5 leaves b out.
    monkeypatch.setattr(peak_relief, "WIDE_SWAP_PAIRS", 5)
    _, state = _greedy(*_case())
    assert state.peaks()[0] == 775
    monkeypatch.setattr(peak_relief, "WIDE_SWAP_PAIRS", 6)
    _, state = _greedy(*_case())
    assert state.peaks()[0] < 775


def test_hosts_outside_the_metric_come_last_among_the_cpu_roomiest_partners() -> None:
    """x is excluded (left alone) and has the most CPU room: it must not take a partner's place."""
    hosts = [host("m", cpus=4), host("x", cpus=32), host("a", cpus=16), host("b", cpus=8)]
    vms = [vm("hot", "m", load=3000), vm("vx", "x", load=100), vm("va", "a", load=100), vm("vb", "b", load=100)]
    pol = policy(spread=SpreadSettings(memory_weight=0), excluded_hosts=frozenset({"x"}))
    problem = build_problem(resolve_rules(cluster(hosts, vms), pol))
    state = PlacementState(problem)
    index = problem.index_of_host
    ranking = peak_relief._cpu_roomiest(state, peak_relief.Caps(600, 1000))
    assert ranking.first(1) == [index["a"]]
    assert ranking.all() == [index["a"], index["b"], index["m"]]


def _refusal_case(limits: Limits = Limits()):
    """m is hot; a and b are full with two 8 GiB VMs each, b just as roomy as a. hot may not join
    pa2 on a (anti-affinity): the cheapest swaps (with a's VMs) are refused, b's is next."""
    hosts = [host("m", cpus=4), host("a", cpus=8), host("b", cpus=8)]
    vms = [vm("hot", "m", load=3000, memory_mib=8 * GIB), vm("m2", "m", load=100, memory_mib=8 * GIB),
           vm("pa", "a", load=100, memory_mib=8 * GIB), vm("pa2", "a", load=100, memory_mib=8 * GIB),
           vm("pb", "b", load=100, memory_mib=8 * GIB), vm("pb2", "b", load=100, memory_mib=8 * GIB)]
    pol = policy(spread=SpreadSettings(memory_weight=0), anti_affinity=(apart("hot", "pa2"),), limits=limits)
    problem = build_problem(resolve_rules(cluster(hosts, vms), pol))
    return problem, PlacementState(problem)


def test_a_swap_a_rule_refuses_gives_way_to_the_next_cheapest() -> None:
    problem, state = _refusal_case()
    m, a, b = (problem.index_of_host[n] for n in "mab")
    moves = swaps.swap_relief(state, m, peak_relief.Caps(999, 1000), [a, b], True, False)
    assert [(unit.vms[0], host) for unit, host in moves] == [("hot", b), ("pb", m)]


def test_when_the_move_budget_refuses_every_swap_there_is_none() -> None:
    problem, state = _refusal_case(Limits(max_moves=1))  # a swap moves two VMs
    m, a, b = (problem.index_of_host[n] for n in "mab")
    assert swaps.swap_relief(state, m, peak_relief.Caps(999, 1000), [a, b], True, False) == []
