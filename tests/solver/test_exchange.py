"""Exchanges in the spread greedy: a hot VM goes to a CPU-rich host whose memory is full, and that
host sends as many quiet VMs back as it takes to fit; every rule still holds (validator), and an
exchange that cannot finish leaves the state as it was.

And the pass aimed at the bound: a host nothing relieves is passed over, the others still come down."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from planner.check.validate import validate_placement
from planner.domain.policy import AntiAffinity, Pin, ResourceBalance, Selector, SpreadSettings
from planner.instance.problem import Problem, build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import exchange, peak_relief
from planner.solver.caps import Caps
from planner.solver.greedy import improve_spread
from planner.solver.planning import to_placement
from tests.builders import cluster, host, policy, vm

GIB = 1024


def _exchange_case(source_gib: int = 64, extra_rules: tuple = ()):
    """m (4 cores, `source_gib` of memory) peaks at 750 ‰ with `hot` (3 cores' load, 8 GiB); c (16
    cores) runs at 88 ‰ but its memory is full (6 + 6 + 3.5 of 16 GiB). hot fits on c only once c
    sheds 7.5 GiB, which no single VM of c is, and there is no third host: no move, swap or chain
    helps. Sending hot to c and q1, q2 back to m does: m at 100 ‰, c at 250 ‰."""
    hosts = [host("m", cpus=4, memory_mib=source_gib * GIB + 512), host("c", cpus=16)]
    vms = [vm("hot", "m", load=3000, memory_mib=8 * GIB), vm("q1", "c", load=200, memory_mib=6 * GIB),
           vm("q2", "c", load=200, memory_mib=6 * GIB), vm("f", "c", load=1000, memory_mib=3584)]
    return cluster(hosts, vms), policy(spread=SpreadSettings(memory_weight=0), anti_affinity=extra_rules)


def _greedy(clu, pol) -> tuple[Problem, PlacementState]:
    problem = build_problem(resolve_rules(clu, pol))
    state = PlacementState(problem)
    improve_spread(state)
    return problem, state


def test_an_exchange_relieves_a_peak_no_move_swap_or_chain_can() -> None:
    clu, pol = _exchange_case()
    problem, state = _greedy(clu, pol)
    placement = to_placement(problem, state.assignment)
    assert state.peaks()[0] <= 250
    assert placement["hot"] == "c" and {placement["q1"], placement["q2"]} == {"m"}
    assert validate_placement(clu, pol, placement) == []


def test_without_exchanges_the_same_peak_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    # The case needs the exchange: without it the greedy is stuck at 750 ‰.
    monkeypatch.setattr(peak_relief, "exchange_relief", lambda *args: ([], 0))
    _, state = _greedy(*_exchange_case())
    assert state.peaks()[0] == 750
    assert state.moved_vms == 0


def test_an_exchange_keeps_anti_affinity() -> None:
    # q1 may not join hot's neighbour on m: q2 and f go back instead, and the rule holds.
    hosts_vms, pol = _exchange_case(extra_rules=(AntiAffinity("apart", Selector(names=frozenset({"q1", "keeper"}))),))
    clu = cluster(list(hosts_vms.hosts), [*hosts_vms.vms, vm("keeper", "m", load=0, memory_mib=GIB)])
    pol = replace(pol, pins=(Pin("keep", Selector(names=frozenset({"keeper"}))),))
    problem, state = _greedy(clu, pol)
    placement = to_placement(problem, state.assignment)
    assert placement["q1"] == "c" and placement["hot"] == "c"
    assert state.peaks()[0] < 750
    assert validate_placement(clu, pol, placement) == []


def test_an_exchange_that_cannot_finish_leaves_the_state_as_it_was() -> None:
    # m has 8 GiB: after hot leaves it takes back q1 (6 GiB) and nothing more, short of the 7.5 GiB
    # c must shed for hot.
    problem = build_problem(resolve_rules(*_exchange_case(source_gib=8)))
    state = PlacementState(problem)
    before = list(state.assignment)
    source, hot = problem.index_of_host["m"], problem.units[0]
    moves, tried = exchange.exchange_relief(state, source, Caps(749, 1000), [problem.index_of_host["c"]], [hot])
    assert moves == [] and tried == 1
    assert state.assignment == before and state.moves == []


def test_the_aimed_pass_passes_over_a_host_nothing_relieves() -> None:
    # p's load is pinned (875 ‰); q (750 ‰) can send a VM to r. Aiming at 400 ‰, p is passed over
    # and q still comes down.
    hosts = [host("p"), host("q"), host("r")]
    vms = [vm("hog", "p", load=7000), vm("q1", "q", load=3000), vm("q2", "q", load=3000), vm("r1", "r", load=100)]
    pol = policy(spread=SpreadSettings(memory_weight=0), pins=(Pin("hog", Selector(names=frozenset({"hog"}))),))
    problem = build_problem(resolve_rules(cluster(hosts, vms), pol))
    state = PlacementState(problem)
    improve_spread(state, ceiling=Caps(400, 1000))
    assert state.cpu_permille(problem.index_of_host["q"]) <= 400
    assert state.cpu_permille(problem.index_of_host["p"]) == 875


@pytest.mark.parametrize("iops_weight, iops_cap", [(0, None), (1, 950)])
def test_an_exchange_sends_back_what_frees_an_extra_resource(iops_weight: int, iops_cap: int | None) -> None:
    # c has CPU to spare but 950 of its 1,000 disk IOPS in use: hot (100 IOPS) fits there only once
    # c sends back a VM heavy in IOPS, however light in memory and load. Weighed 0 the IOPS are a
    # hard limit (1,000); weighed 1 and not on a peak, c may not pass the IOPS peak (950 ‰) either.
    hosts = [host("m", cpus=4, resources={"iops": 1000}), host("c", cpus=16, resources={"iops": 1000})]
    vms = [vm("hot", "m", load=3000, resources={"iops": 100}), vm("q1", "c", load=200, resources={"iops": 500}),
           vm("q2", "c", load=200, resources={"iops": 450})]
    pol = policy(spread=SpreadSettings(memory_weight=0, resources=(ResourceBalance("iops", weight=iops_weight),)))
    clu = cluster(hosts, vms)
    problem = build_problem(resolve_rules(clu, pol))
    state = PlacementState(problem)
    m, c = problem.index_of_host["m"], problem.index_of_host["c"]
    caps = Caps(749, 1000, None if iops_cap is None else np.array([iops_cap]))
    moves, tried = exchange.exchange_relief(state, m, caps, [c], [problem.units[0]])
    placement = to_placement(problem, state.assignment)
    assert tried == 1 and len(moves) == 2
    assert (placement["hot"], placement["q1"], placement["q2"]) == ("c", "m", "c")
    assert validate_placement(clu, pol, placement) == []
    assert state.cpu_permille(m) <= 749 and state.extra_pm[c, 0] <= (iops_cap or 1000)
