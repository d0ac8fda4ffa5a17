"""The landing search of the spread greedy: ranked_landing (compiled_relief.first_landing, the rules
checked on what it proposes) must pick what asking coolest_fit for each leaver in turn, over the
hosts sorted by coolness, picks, with and without extra resources, also where a rule refuses the
coolest host; fits_under_caps and within_caps refuse a host that would pass a cap."""

from __future__ import annotations

import random

import numpy as np
import pytest

from benchmarks.extra_resources import with_extra_resources
from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.domain.policy import SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver.caps import Caps
from planner.solver.landing import coolest_fit, fits_under_caps, ranked_landing, within_caps
from tests.builders import cluster, host, policy, vm
from tests.solver.model_cases import apart


def _one_by_one(state: PlacementState, units: list, avoid: tuple[int, ...], caps: Caps, targets: list[int]):
    for tried, unit in enumerate(units, start=1):
        host_index = coolest_fit(state, unit, avoid, caps, targets)
        if host_index is not None:
            return (unit, host_index), tried
    return None, len(units)


@pytest.mark.parametrize("extras", [0, 1, 2])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ranked_landing_picks_what_coolest_fit_picks_one_by_one(seed: int, extras: int) -> None:
    clu = with_extra_resources(generate_tight_cluster(40, 600, 0.85, seed), extras)
    problem = build_problem(resolve_rules(clu, tight_policy(clu, seed, 5)))
    state = PlacementState(problem)
    rng = random.Random(seed)
    hosts = list(range(len(problem.hosts)))
    ignored = np.iinfo(np.int64).max
    for _ in range(80):
        source = rng.choice(hosts)
        units = [problem.units[i] for i in sorted(state.units_on[source]) if not problem.units[i].fixed]
        rng.shuffle(units)
        caps = Caps(rng.randint(300, 1000), rng.randint(700, 1000),
                    np.array([rng.randint(100, 1200) for _ in range(extras)]) if extras else None)
        # Coolness with many ties (coarse values) and some hosts the metric ignores.
        score = np.array([ignored if rng.random() < 0.1 else rng.randint(0, 5) for _ in hosts], dtype=np.int64)
        targets = [h for h in np.argsort(score, kind="stable").tolist() if score[h] < ignored]
        expected = _one_by_one(state, units, (source,), caps, targets)
        assert ranked_landing(state, units, source, caps, score) == expected


@pytest.mark.parametrize("extra", [False, True])
def test_a_host_a_rule_refuses_is_passed_over_for_the_next_coolest_then_the_next_leaver(extra: bool) -> None:
    """x may not join its anti-affinity partner px on b, the coolest host: it goes to c, the next.
    Under a CPU cap c cannot take x either, so x lands nowhere and y, the next leaver, takes b."""
    sizes = {"resources": {"iops": 10}} if extra else {}
    hosts = [host(name, **({"resources": {"iops": 1000}} if extra else {})) for name in "abcd"]
    vms = [vm("x", "a", load=2000, **sizes), vm("px", "b", load=10, **sizes), vm("y", "a", load=1000, **sizes),
           vm("filler", "c", load=1500, **sizes), vm("busy", "d", load=3000, **sizes)]
    clu = cluster(hosts, vms)
    problem = build_problem(resolve_rules(clu, policy(anti_affinity=(apart("x", "px"),))))
    state = PlacementState(problem)
    by_name = {unit.vms[0]: unit for unit in problem.units}
    a, b, c, d = (problem.index_of_host[n] for n in "abcd")
    score = np.array([9, 0, 1, 2], dtype=np.int64)
    caps = Caps(1000, 1000, np.array([1000]) if extra else None)
    assert ranked_landing(state, [by_name["x"], by_name["y"]], a, caps, score) == ((by_name["x"], c), 1)
    # Under a CPU cap c cannot take x (1500 + 2000 mc of 8000 is 438 ‰): no host for x, y goes to b.
    tight = Caps(400, 1000, caps.extra)
    assert ranked_landing(state, [by_name["x"], by_name["y"]], a, tight, score) == ((by_name["y"], b), 2)
    assert ranked_landing(state, [by_name["x"]], a, tight, score) == (None, 1)


@pytest.mark.parametrize("short", ["none", "memory", "vcpus", "load"])
def test_a_host_left_exactly_full_takes_the_vm_and_one_unit_less_room_does_not(short: str) -> None:
    """b ends at the cap in load (4000 of 8000 mc under 500 ‰), at its vCPU limit and at its memory
    limit with x: the landing; one unit more of any of them on b, and x lands nowhere."""
    probe = build_problem(resolve_rules(cluster([host("b", cpus=8)], []), policy()))
    memory_limit, vcpu_limit = probe.memory_limit[0], probe.vcpu_limit[0]
    more = {resource: int(short == resource) for resource in ("memory", "vcpus", "load")}
    x = vm("x", "a", vcpus=4, memory_mib=4096, load=2000)
    there = vm("there", "b", vcpus=vcpu_limit - 4 + more["vcpus"], memory_mib=memory_limit - 4096 + more["memory"],
               load=2000 + more["load"])
    clu = cluster([host("a", cpus=8), host("b", cpus=8)], [x, there, vm("hot", "a", vcpus=1, load=6000)])
    problem = build_problem(resolve_rules(clu, policy(spread=SpreadSettings(memory_weight=0))))
    problem_b = problem.index_of_host["b"]
    state = PlacementState(problem)
    unit = next(u for u in problem.units if u.vms == ("x",))
    a = problem.index_of_host["a"]
    found = ranked_landing(state, [unit], a, Caps(500, 1000), np.array([5, 0], dtype=np.int64))
    assert found == (((unit, problem_b), 1) if short == "none" else (None, 1))


def test_fits_under_caps_and_within_caps_hold_the_cpu_cap() -> None:
    clu = cluster([host("a"), host("b")], [vm("x", "a", load=3000), vm("y", "b", load=1000)])
    problem = build_problem(resolve_rules(clu, policy(spread=SpreadSettings(memory_weight=0))))
    state = PlacementState(problem)
    x, b = problem.units[0], problem.index_of_host["b"]
    assert fits_under_caps(state, x, b, Caps(500, 1000))  # b at 4000 mc of 8000: 500 ‰
    assert not fits_under_caps(state, x, b, Caps(499, 1000))
    assert within_caps(state, b, Caps(125, 1000)) and not within_caps(state, b, Caps(124, 1000))


def test_planning_compiles_the_searches_before_its_clock_and_never_again() -> None:
    """compile_relief, compile_swaps and compile_cover lay their arrays out as planning does: a
    spread plan uses that one version of each search."""
    from planner.solver import compiled_cover, compiled_relief, compiled_swaps
    from planner.solver.planning import make_plan

    clu = generate_tight_cluster(40, 600, 0.85, 2)
    plan = make_plan(resolve_rules(clu, tight_policy(clu, 2, 2.0)))
    assert plan.moves
    assert len(compiled_relief.first_landing.signatures) == 1
    assert len(compiled_relief.leaver_order.signatures) == 1
    assert len(compiled_swaps.fitting_swaps.signatures) == len(compiled_swaps.cheapest_swap.signatures) == 1
    assert len(compiled_cover.light_returns.signatures) == 1
