"""The spread greedy's swaps: when no VM on the peak host fits below the peak anywhere, exchanging it
for a cooler host's smaller VM can; anti-affinity and capacity still hold (validator)."""

from __future__ import annotations

from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.solver.greedy import improve_spread
from planner.solver.swaps import swap_relief
from planner.domain.policy import AntiAffinity, Selector, SpreadSettings
from planner.rules.resolve import resolve_rules
from tests.builders import cluster, host, plan_for, policy, vm


def _swap_case(extra_rules: tuple = ()):
    """a (8 cores) is the CPU peak at 500 ‰; b is nearly full of memory (15.5 of 16 GiB), so neither
    of a's VMs fits on b — no single move helps. Swapping one of them with b's big, quiet VM does:
    a then runs 1500 or 3500 mc, b 3000 or 1000 mc, both under 500 ‰."""
    hosts = [host("a", cpus=8), host("b", cpus=8)]
    vms = [vm("big", "a", load=3000, memory_mib=1024), vm("s1", "a", load=1000, memory_mib=1024),
           vm("m", "b", load=500, memory_mib=14848), vm("fill", "b", load=0, memory_mib=1024)]
    return cluster(hosts, vms), policy(spread=SpreadSettings(memory_weight=0), anti_affinity=extra_rules)


def test_a_swap_lowers_a_peak_no_single_move_can() -> None:
    clu, pol = _swap_case()
    problem = build_problem(resolve_rules(clu, pol))
    state = PlacementState(problem)
    improve_spread(state)
    assert state.peaks()[0] < 500
    assert state.moved_vms == 2


def test_swaps_respect_anti_affinity() -> None:
    # big may not join fill: whatever mix of swaps and moves the planner uses, the rule holds (plan_for
    # validates) and the peak still drops; the greedy alone must keep the rule too.
    clu, pol = _swap_case((AntiAffinity("apart", Selector(names=frozenset({"big", "fill"}))),))
    plan = plan_for(clu, pol)
    assert plan.target_placement["big"] != plan.target_placement["fill"]
    assert plan.metric.after < 500
    state = PlacementState(build_problem(resolve_rules(clu, pol)))
    improve_spread(state)
    assert state.peaks()[0] < 500
    assert state.assignment[0] == 0  # big (unit 0) stayed on a: joining fill is refused


def test_the_swap_taken_migrates_least_memory_per_unit_of_relief() -> None:
    """a is the CPU peak (5200 of 8000 mc). Swapping y for p migrates 2 GiB and takes 1200 mc off a;
    swapping x for q migrates 4 GiB and takes 4000 mc off: less memory per unit of relief, and a
    single such swap does what three of the other kind would."""
    hosts = [host("a", cpus=8), host("b", cpus=8)]
    vms = [vm("x", "a", load=4000, memory_mib=2048), vm("y", "a", load=1200, memory_mib=1024),
           vm("p", "b", load=0, memory_mib=1024), vm("q", "b", load=0, memory_mib=2048),
           vm("fill", "b", load=0, memory_mib=13312)]
    problem = build_problem(resolve_rules(cluster(hosts, vms), policy(spread=SpreadSettings(memory_weight=0))))
    state = PlacementState(problem)
    a, b = problem.index_of_host["a"], problem.index_of_host["b"]
    moves = swap_relief(state, a, (state.cpu_permille(a) - 1, 1000), [b], on_cpu_peak=True, on_mem_peak=False)
    assert {(unit.vms[0], host_index) for unit, host_index in moves} == {("x", b), ("q", a)}
