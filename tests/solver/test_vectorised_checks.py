"""The spread greedy's vectorised checks against plain per-VM arithmetic: the permille bound behind
every "amount at most" comparison, the units' arrays, the leavers' order and which swap pairs fit.
Each reference below is the straightforward Python a reader would write; the greedy must agree."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from benchmarks.at_scale import goal_policy
from benchmarks.extra_resources import with_extra_resources
from planner.bounds.lower_bounds import (LARGEST_UNITS, SPREAD_RESOURCES, ExtraSpreadResource, SpreadResource,
                                         peak_bound)
from planner.domain.policy import Goal
from planner.domain.metrics import FLOAT_EXACT, most_at, most_at_permille, permille, permilles
from planner.instance.problem import Problem, Unit, build_problem, hosts_allowed_to_any
from planner.instance.state import PlacementState
from planner.instance.unit_arrays import NO_HOME
from planner.rules.resolve import resolve_rules
from planner.solver import swaps
from planner.solver.caps import Caps
from planner.solver.compiled_swaps import cheapest_swap
from planner.solver.peak_relief import _leavers


@given(st.integers(0, 1 << 40), st.integers(-5, 1 << 22), st.integers(-3, 3000))
def test_most_at_permille_is_the_largest_amount_within_the_cap(amount: int, capacity: int, cap: int) -> None:
    assert (amount <= int(most_at_permille(cap, capacity))) == (permille(amount, capacity) <= cap)
    assert most_at(cap, capacity) == int(most_at_permille(cap, capacity))


amounts = st.one_of(st.integers(-(1 << 30), 1 << 44), st.integers(FLOAT_EXACT - 3, FLOAT_EXACT + 3),
                    st.integers(FLOAT_EXACT, (1 << 63) // 1000 - 1))  # up to where 1000 · amount fits int64


@given(st.lists(st.tuples(amounts, st.integers(-5, 1 << 50)), min_size=1, max_size=20))
def test_permilles_round_up_as_permille_does(pairs: list[tuple[int, int]]) -> None:
    """Floating point where it is exact, integers beyond: the same per-mille as the scalar one."""
    amount = np.array([a for a, _ in pairs], dtype=np.int64)
    capacity = np.array([c for _, c in pairs], dtype=np.int64)
    assert permilles(amount, capacity).tolist() == [permille(a, c) for a, c in pairs]


@given(st.integers(1, 1 << 40), st.integers(0, 5000))
def test_a_whole_per_mille_is_not_rounded_past(capacity: int, per_mille: int) -> None:
    """An amount exactly at k ‰ (where one exists) is k ‰, not k + 1: floating point must not round past it."""
    amount = capacity * per_mille // 1000
    assert int(permilles(np.array([amount]), np.array([capacity]))[0]) == permille(amount, capacity)


def _tight_problem(seed: int, hosts: int = 30, vms: int = 450) -> Problem:
    clu = generate_tight_cluster(hosts, vms, 0.85, seed)
    return build_problem(resolve_rules(clu, tight_policy(clu, seed, 5)))


def _peak_bound_walk(problem: Problem, resource: SpreadResource | ExtraSpreadResource, floor: int) -> int:
    """lower_bounds.peak_bound host by host and unit by unit."""
    size = resource.size
    holders = hosts_allowed_to_any(problem.units) & problem.metric_hosts
    total = sum(size(u) for u in problem.units if u.member_hosts[0] in problem.metric_hosts)
    fluid = permille(total, sum(resource.capacity(problem, h) for h in holders)) if holders else 0
    fixed = [0] * len(problem.hosts)
    for unit in problem.units:
        if unit.fixed and unit.current is not None:
            fixed[unit.current] += size(unit)
    fixed_peak = max([permille(fixed[h], resource.capacity(problem, h)) for h in problem.metric_hosts] + [0])
    biggest = sorted((u for u in problem.units if u.allowed and not u.fixed), key=size, reverse=True)[:LARGEST_UNITS]
    fitting = [(u, [h for h in u.allowed if _takes_alone(problem, u, h)]) for u in biggest]
    largest = max([min(permille(fixed[h] + size(u), resource.capacity(problem, h)) for h in hosts)
                   for u, hosts in fitting if hosts] + [0])
    return max(fluid, fixed_peak, largest, floor)


def _takes_alone(problem: Problem, unit: Unit, host: int) -> bool:
    """Does `host` hold `unit` within its hard limits beside what its fixed units hold?"""
    held = [0] * (3 + len(problem.resources))
    for other in problem.units:
        if other.fixed and other.current == host:
            for column, amount in enumerate((other.memory_mib, other.vcpus, other.cpu_load, *other.extra)):
                held[column] += amount
    limits = (problem.memory_limit[host], problem.vcpu_limit[host], problem.load_limit[host],
              *(limit[host] for limit in problem.extra_limit))
    demand = (unit.memory_mib, unit.vcpus, unit.cpu_load, *unit.extra)
    return all(h + d <= limit for h, d, limit in zip(held, demand, limits))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("goal", [Goal.SPREAD, Goal.DRAIN])
def test_the_peak_bound_is_the_host_by_host_walk(seed: int, goal: Goal) -> None:
    """Spread and drain (most units fixed: the fixed peak counts), with extra named resources and
    excluded hosts."""
    clu = with_extra_resources(generate_tight_cluster(30, 450, 0.85, seed), 2, seed)
    policy = goal_policy(clu, goal, seed, 5, 1)
    policy = replace(policy, excluded_hosts=frozenset({clu.hosts[seed].name}))
    problem = build_problem(resolve_rules(clu, policy))
    resources = SPREAD_RESOURCES + tuple(ExtraSpreadResource(k) for k in range(len(problem.resources)))
    assert len(resources) == 4 and problem.metric_hosts != frozenset(range(len(problem.hosts)))
    for resource in resources:
        assert peak_bound(problem, resource, 0) == _peak_bound_walk(problem, resource, 0)


def _shuffled(problem: Problem, seed: int) -> PlacementState:
    """A state mid-way through a greedy: some movable VMs moved to random hosts they may use."""
    state = PlacementState(problem)
    rng = random.Random(seed)
    for unit in problem.units:
        if not unit.fixed and rng.random() < 0.3:
            host = rng.choice(sorted(unit.allowed))
            if state.fits(unit, host):
                state.move(unit, host)
    return state


@pytest.mark.parametrize("seed", [1, 2])
def test_unit_arrays_hold_what_the_units_say(seed: int) -> None:
    problem = _tight_problem(seed)
    arrays = problem.unit_arrays
    state = PlacementState(problem)
    for unit in problem.units:
        assert arrays.sizes[unit.index].tolist() == [unit.memory_mib, unit.vcpus, unit.cpu_load, *unit.extra]
        assert arrays.fixed[unit.index] == unit.fixed
        assert arrays.home[unit.index] == (NO_HOME if unit.current is None else unit.current)
        assert arrays.weighted_memory[unit.index] == unit.weighted_memory
    indexes = np.arange(len(problem.units))
    for host in range(len(problem.hosts)):
        assert state.may_go_to(indexes, host).tolist() == [host in unit.allowed for unit in problem.units]


@pytest.mark.parametrize("seed", [1, 2])
def test_allowed_rows_hold_each_units_allowed_hosts_and_are_built_once(seed: int) -> None:
    problem = _tight_problem(seed)
    rows = PlacementState(problem).allowed_rows
    movable = np.array([u.index for u in problem.units if not u.fixed], dtype=np.int64)
    rows.cover(movable[: len(movable) // 2])
    rows.cover(movable)
    built = rows.matrix.copy()
    rows.cover(movable)
    assert np.array_equal(rows.matrix, built)
    assert len(built) == len({id(problem.units[i].allowed) for i in movable.tolist()})
    for index in movable.tolist():
        unit = problem.units[index]
        row = built[rows.row_of_set[problem.unit_arrays.allowed_set[index]]]
        assert set(np.flatnonzero(row).tolist()) == set(unit.allowed)


def _reference_leavers(state: PlacementState, source: int, on_cpu: bool, on_mem: bool) -> list[Unit]:
    problem = state.problem
    cpu_now, mem_now = state.cpu_permille(source), state.memory_permille(source)
    options = []
    for index in state.units_on[source]:
        unit = problem.units[index]
        if unit.fixed:
            continue
        cpu = permille(state.load[source] - unit.cpu_load, state.cpu_capacity[source])
        mem = permille(state.memory[source] - unit.memory_mib, state.memory_capacity[source])
        if (on_cpu and cpu >= cpu_now) or (on_mem and mem >= mem_now):
            continue
        home = unit.current is not None and unit.current != source
        cost = -unit.weighted_memory if home else unit.weighted_memory
        relief = unit.cpu_load if on_cpu else unit.memory_mib
        options.append((cost / max(1, relief), cpu + mem, index))
    return [problem.units[index] for _, _, index in sorted(options)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_leavers_come_cheapest_first_as_the_per_vm_sum_says(seed: int) -> None:
    problem = _tight_problem(seed)
    state = _shuffled(problem, seed)
    for source in range(len(problem.hosts)):
        for on_cpu, on_mem in ((True, False), (False, True), (True, True)):
            assert _leavers(state, source, on_cpu, on_mem) == _reference_leavers(state, source, on_cpu, on_mem)


def _reference_pair_fits(state: PlacementState, source: int, out: Unit, back: Unit, target: int, caps: Caps,
                         on_cpu: bool, on_mem: bool) -> bool:
    """Swap `out` (on the source) with `back` (on `target`) by hand and look at both hosts."""
    problem = state.problem
    if target not in out.allowed:
        return False
    gain = (out.memory_mib - back.memory_mib, out.vcpus - back.vcpus, out.cpu_load - back.cpu_load)
    t_mem, t_vcpus, t_load = state.memory[target] + gain[0], state.vcpus[target] + gain[1], state.load[target] + gain[2]
    s_mem, s_vcpus, s_load = state.memory[source] - gain[0], state.vcpus[source] - gain[1], state.load[source] - gain[2]
    target_ok = (t_mem <= problem.memory_limit[target] and t_vcpus <= problem.vcpu_limit[target]
                 and t_load <= problem.load_limit[target]
                 and permille(t_load, state.cpu_capacity[target]) <= caps[0]
                 and permille(t_mem, state.memory_capacity[target]) <= caps[1])
    cpu_now, mem_now = state.cpu_permille(source), state.memory_permille(source)
    s_cpu, s_pm = permille(s_load, state.cpu_capacity[source]), permille(s_mem, state.memory_capacity[source])
    source_ok = (s_mem <= problem.memory_limit[source] and s_vcpus <= problem.vcpu_limit[source]
                 and s_load <= problem.load_limit[source]
                 and s_cpu <= max(caps[0], cpu_now) and s_pm <= max(caps[1], mem_now)
                 and (not on_cpu or s_cpu < cpu_now) and (not on_mem or s_pm < mem_now))
    return target_ok and source_ok


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_swap_pairs_fit_exactly_when_swapping_by_hand_fits(seed: int) -> None:
    problem = _tight_problem(seed, hosts=12, vms=150)
    state = _shuffled(problem, seed)
    rng = random.Random(seed)
    hosts = list(range(len(problem.hosts)))
    for _ in range(40):
        source = rng.choice(hosts)
        targets = rng.sample(hosts, 5)
        caps = Caps(rng.randint(200, 1000), rng.randint(600, 1000))
        on_cpu, on_mem = rng.choice(((True, False), (False, True), (True, True), (False, False)))
        out = swaps._movable(state, [source])
        back, columns = swaps._partners(state, source, targets)
        if not len(out) or not len(back):
            continue
        got = swaps._fitting(state, source, caps, out, back, columns, on_cpu, on_mem)
        for i, j in np.ndindex(got.shape):
            expected = _reference_pair_fits(state, source, problem.units[out[i]], problem.units[back[j]],
                                            int(columns[j]), caps, on_cpu, on_mem)
            assert got[i, j] == expected, (i, j)


@pytest.mark.parametrize("seed", [1, 2])
def test_swap_partners_are_the_movable_vms_that_may_go_to_the_source(seed: int) -> None:
    problem = _tight_problem(seed, hosts=12, vms=150)
    state = _shuffled(problem, seed)
    source, targets = 0, list(range(len(problem.hosts)))
    back, columns = swaps._partners(state, source, targets)
    expected = [(i, t) for t in targets if t != source for i in sorted(state.units_on[t])
                if not problem.units[i].fixed and source in problem.units[i].allowed]
    assert list(zip(back.tolist(), columns.tolist())) == expected


@pytest.mark.parametrize("relief_column", [-1, 0, 2])
@pytest.mark.parametrize("seed", range(6))
def test_the_cheapest_swap_is_the_first_pair_by_cost_per_relief_then_column_then_row(seed: int,
                                                                                    relief_column: int) -> None:
    """Against np.lexsort((rows, columns, key)), with many ties (coarse costs and sizes); the full
    ranking swap_relief falls back on when a rule refuses the cheapest starts with it."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 4, size=(30, 3)).astype(np.int64)
    out = rng.choice(30, size=5, replace=False).astype(np.int64)
    back = rng.choice(30, size=7, replace=False).astype(np.int64)
    fits = rng.random((5, 7)) < 0.5
    cost = rng.integers(-3, 4, size=(5, 7)).astype(np.int64)
    rows, columns = np.nonzero(fits)
    if relief_column >= 0:
        relief = sizes[out][:, None, relief_column] - sizes[back][None, :, relief_column]
        key = cost[rows, columns] / np.maximum(1, relief[rows, columns])
    else:
        key = cost[rows, columns]
    order = np.lexsort((rows, columns, key))
    expected = [(int(rows[k]), int(columns[k])) for k in order]
    assert cheapest_swap(fits, cost, out, back, sizes, relief_column) == (expected[0] if expected else (-1, -1))
    assert swaps._ranked_pairs(fits, cost, out, back, sizes, relief_column) == expected
