"""The exchange search's cheap checks (exchange.py) only pass over partners no exchange can work
with: on random small clusters, every partner an exchange succeeds with is still tried, and some
hopeless ones are not; and each of the two checks, on a case only it can tell, passes over a partner
it is tried without the blocker."""

from __future__ import annotations

import numpy as np

import pytest

from planner.domain.policy import Pin, Selector, SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import exchange
from planner.solver.caps import Caps
from planner.solver.landing import free_with_extras
from tests.builders import cluster, host, policy, vm

GIB = 1024


def _random_state(seed: int, iops: bool = False) -> PlacementState:
    """Six to eight hosts of mixed shapes, VMs first-fit onto them until memory is nearly full; with
    `iops`, disk IOPS too (2,000-4,000 a host, 0-900 a VM), weighed in spread beside CPU."""
    rng = np.random.default_rng(seed)
    shapes = [(4, 8), (8, 16), (16, 16), (16, 32), (32, 24)]  # cores, GiB
    hosts = [host(f"h{i}", cpus=c, memory_mib=g * GIB + 512,
                  **({"resources": {"iops": int(rng.integers(2000, 4001))}} if iops else {}))
             for i, (c, g) in enumerate(shapes[k] for k in rng.integers(0, len(shapes), int(rng.integers(6, 9))))]
    free = {h.name: (h.memory_mib - 512, h.cpus * 4, h.resources.get("iops", 0)) for h in hosts}
    vms = []
    for i in range(60):
        memory, vcpus = int(rng.choice([1, 2, 4, 6, 8])) * GIB, int(rng.integers(1, 5))
        load, disk = int(rng.integers(50, 3000)), int(rng.integers(0, 901)) if iops else 0
        for h in rng.permutation([h.name for h in hosts]).tolist():
            if free[h][0] >= memory and free[h][1] >= vcpus and free[h][2] >= disk:
                free[h] = (free[h][0] - memory, free[h][1] - vcpus, free[h][2] - disk)
                vms.append(vm(f"v{i}", h, vcpus=vcpus, memory_mib=memory, load=load,
                              **({"resources": {"iops": disk}} if iops else {})))
                break
    problem = build_problem(resolve_rules(cluster(hosts, vms), policy(spread=SpreadSettings(memory_weight=0))))
    return PlacementState(problem)


def _unchecked_partners(state: PlacementState, unit, source: int) -> list[int]:
    """Every partner the search could take before its checks: any allowed host but the source."""
    return [h for h in range(len(state.problem.hosts)) if h != source and h in unit.allowed]


@pytest.mark.parametrize("iops", [False, True])
def test_no_partner_an_exchange_works_with_is_passed_over_and_hopeless_ones_are(iops: bool) -> None:
    succeeded = passed_over = 0
    for seed in range(25):
        state = _random_state(seed, iops)
        problem = state.problem
        for source in range(len(problem.hosts)):
            caps = Caps(max(0, state.cpu_permille(source) - 1), 1000, state.extra_caps() if iops else None)
            everyone = list(range(len(problem.hosts)))
            for index in sorted(state.units_on[source]):
                unit = problem.units[index]
                checked = exchange._partners_for(state, unit, source, everyone, caps,
                                                 free_with_extras(state, caps))
                for partner in _unchecked_partners(state, unit, source):
                    mark = len(state.moves)
                    works = bool(exchange._exchange(state, unit, source, partner, caps))
                    state.undo_to(mark)
                    if works:
                        succeeded += 1
                        assert partner in checked, (seed, source, index, partner)
                    elif partner not in checked:
                        passed_over += 1
    assert succeeded > 20 and passed_over > 100


def _tried(keeper_gib: float, keeper_load: int, quiet_load: int) -> int:
    """m (4 cores, 9 GiB) holds hot (3000 m, 8 GiB) and a pinned keeper; c (16 cores, 16 GiB, memory
    full: q1, q2 of 6 GiB, f of 3.5 GiB) must shed 7.5 GiB once hot arrives. How many exchanges of
    hot with c the search tries to bring m under 750 ‰."""
    hosts = [host("m", cpus=4, memory_mib=9 * GIB + 512), host("c", cpus=16)]
    vms = [vm("hot", "m", load=3000, memory_mib=8 * GIB),
           vm("keeper", "m", load=keeper_load, memory_mib=int(keeper_gib * GIB)),
           vm("q1", "c", load=quiet_load, memory_mib=6 * GIB), vm("q2", "c", load=quiet_load, memory_mib=6 * GIB),
           vm("f", "c", load=1000, memory_mib=3584)]
    pol = policy(spread=SpreadSettings(memory_weight=0), pins=(Pin("keep", Selector(names=frozenset({"keeper"}))),))
    problem = build_problem(resolve_rules(cluster(hosts, vms), pol))
    state = PlacementState(problem)
    source = problem.index_of_host["m"]
    _, tried = exchange.exchange_relief(state, source, Caps(749, 1000), [problem.index_of_host["c"]], [problem.units[0]])
    return tried


@pytest.mark.parametrize("keeper_gib, passed_over", [(2, True), (0.5, False)])
def test_a_partner_shedding_more_memory_than_the_source_can_take_back_is_not_tried(
        keeper_gib: float, passed_over: bool) -> None:
    # With a 2 GiB keeper m has 7 GiB free once hot left, short of the 7.5 GiB c must shed.
    assert (_tried(keeper_gib, keeper_load=100, quiet_load=200) == 0) is passed_over


@pytest.mark.parametrize("keeper_load, passed_over", [(2500, True), (1000, False)])
def test_a_partner_whose_returns_carry_more_load_than_the_source_can_take_is_not_tried(
        keeper_load: int, passed_over: bool) -> None:
    # c's lightest VMs covering 7.5 GiB carry 750 m of load (600 + a quarter of 600); under 750 ‰
    # m has room for 496 m beside a 2500 m keeper.
    assert (_tried(0.5, keeper_load=keeper_load, quiet_load=600) == 0) is passed_over
