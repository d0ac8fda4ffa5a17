"""The local search's compiled pricing against the independent evaluator, on small random instances
with every rule and cost switched on: each process's cheapest move, each swap, and the arrays the
steps keep after thousands of moves and reverted swaps."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.roadef.builder import build_instance, random_instance
from benchmarks.roadef.evaluator import Constraint, evaluate
from planner.solver.reassign.compiled_arrays import Scalars, dynamic_arrays, static_arrays
from planner.solver.reassign.compiled_moves import HOLD, LOAD, MAX_MOVED, MOVE, NONE, SERVICE, fits, may_leave_for
from planner.solver.reassign.compiled_steps import best_move, best_swaps, run_steps
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.hold import hold_costs
from planner.solver.reassign.local_search import LateAcceptance, compile_steps
from planner.solver.reassign.settings import SearchSettings
from planner.solver.reassign.solver import solve
from tests.roadef_data import random_swaps, random_walk

NOT_PRICED = {Constraint.CAPACITY, Constraint.TRANSIENT, Constraint.CONFLICT, Constraint.SPREAD}


def _laid_out(seed: int, hold_price: float, steps: int = 15):
    instance, original = random_instance(seed)
    walked = random_walk(instance, original, original, np.random.default_rng(seed), steps)
    state = SearchState(instance, original, walked)
    static = static_arrays(state, hold_price)
    return instance, original, state, static, dynamic_arrays(state), Scalars.of(state, static, seed).values


def _held_change(hold: np.ndarray, original: np.ndarray, before: np.ndarray, after: np.ndarray) -> int:
    return int(hold[after != original].sum() - hold[before != original].sum())


@pytest.mark.parametrize("seed", range(12))
def test_a_move_is_allowed_exactly_where_the_evaluator_finds_it_valid(seed: int) -> None:
    instance, original, state, static, dynamic, _ = _laid_out(seed, 0.0, steps=30)
    cap, _, req, _, trans, _, proc, mach, _, _, spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx = static
    assign, usage, held, _, svc_on, loc_count, hood_count, serv = dynamic[:8]
    broken: set[Constraint] = set()
    for p in range(instance.processes.count):
        for m in range(instance.machines.count):
            if m == assign[p]:
                continue
            moved = state.assignment.copy()
            moved[p] = m
            report = evaluate(instance, original, moved)
            broken |= report.constraints_broken()
            allowed = (svc_on[proc[p, SERVICE], m] == 0 and fits(p, m, cap, req, trans, proc, usage, held)
                       and may_leave_for(p, m, proc, mach, spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx, assign,
                                         loc_count, hood_count, serv))
            assert allowed == report.valid, (p, m, report.violations[:2])
    assert broken  # the instance is tight enough that some moves are refused


@pytest.mark.parametrize("hold_price", [0.0, 0.5])
@pytest.mark.parametrize("seed", range(6))
def test_each_process_gets_its_cheapest_allowed_move_at_its_exact_price(seed: int, hold_price: float) -> None:
    instance, original, state, static, dynamic, sc = _laid_out(seed, hold_price)
    hold = hold_costs(state, hold_price)
    base = evaluate(instance, original, state.assignment).costs.total
    use = np.empty(instance.resources.count, dtype=np.int64)
    for p in range(instance.processes.count):
        prices = {}
        for m in range(instance.machines.count):
            moved = state.assignment.copy()
            moved[p] = m
            report = evaluate(instance, original, moved)
            if m != state.assignment[p] and report.valid:
                prices[m] = report.costs.total - base + _held_change(hold, original, state.assignment, moved)
        delta, m = best_move(p, *static, *dynamic[:9], sc, use)
        if not prices:
            assert (delta, m) == (NONE, -1), p
            continue
        cheapest = min(prices.values())
        assert delta == cheapest and m == min(k for k, v in prices.items() if v == cheapest), p


@pytest.mark.parametrize("seed", range(6))
def test_a_swap_is_priced_exactly_and_refused_where_capacity_conflict_or_spread_forbid_it(seed: int) -> None:
    instance, original, state, static, dynamic, _ = _laid_out(seed, 0.5)
    hold = hold_costs(state, 0.5)
    rng = np.random.default_rng(200 + seed)
    rows = instance.resources.count
    ua, ub, top_delta, top_partner = (np.empty(rows, dtype=np.int64), np.empty(rows, dtype=np.int64),
                                      np.empty(1, dtype=np.int64), np.empty(1, dtype=np.int64))
    priced = 0
    for p, q, a, b, swapped in random_swaps(state.assignment, rng, 200):
        before, after = evaluate(instance, original, state.assignment), evaluate(instance, original, swapped)
        best_swaps(p, np.array([q]), *static, *dynamic[:8], ua, ub, top_delta, top_partner)
        if after.constraints_broken() & NOT_PRICED or instance.processes.service[p] == instance.processes.service[q]:
            assert top_partner[0] == -1, (p, q)
            continue
        if top_partner[0] == -1:
            # Only a dependency, checked as for two single moves, may refuse a swap allowed otherwise.
            alone = state.assignment.copy()
            alone[p] = b
            other = state.assignment.copy()
            other[q] = a
            assert Constraint.DEPENDENCY in (evaluate(instance, original, alone).constraints_broken()
                                             | evaluate(instance, original, other).constraints_broken()), (p, q)
            continue
        priced += 1
        service_change = after.costs.service_move - before.costs.service_move
        expected = after.costs.total - before.costs.total - service_change
        assert top_delta[0] == expected + _held_change(hold, original, state.assignment, swapped), (p, q)
    assert priced > 0  # the instances leave room for swaps: the check above is not empty


# Instances where the search takes dozens of steps (on others the original is already a local optimum).
@pytest.mark.parametrize("seed", [401, 402, 404, 405])
def test_the_steps_keep_every_count_and_sum_as_a_fresh_layout_would(seed: int) -> None:
    instance, original = random_instance(seed, machines=10, processes=60)
    state = SearchState(instance, original)
    search = LateAcceptance(state, SearchSettings(seed=seed, history=30, hold_price=0.3))
    for _ in range(5):
        search.run(0.0, max_steps=400)
        report = evaluate(instance, original, state.assignment)
        assert report.valid and state.total() == report.costs.total
        fresh = SearchState(instance, original, state.assignment.copy())
        for kept, laid in zip(search.dynamic[:9], dynamic_arrays(fresh)[:9]):
            assert np.array_equal(kept, laid)
        expected = Scalars.of(fresh, search.static, 0).values
        assert [search.scalars.values[k] for k in (LOAD, MOVE, MAX_MOVED, HOLD)] == \
               [expected[k] for k in (LOAD, MOVE, MAX_MOVED, HOLD)]
        best = evaluate(instance, original, search.best_assignment)
        assert best.valid and best.costs.total == search.best_cost <= state.total()
    assert search.accepted > 0


def test_transient_room_held_on_a_source_is_not_free() -> None:
    # Specification §1.2.5: after p1 moves m1 -> m2 its 6 DISK stay held on m1, so p0 (8 DISK)
    # cannot go there, though capacity alone would allow it; p1 itself may go home.
    instance = build_instance(
        capacity=[[3, 10], [3, 10], [3, 7]], requirement=[[1, 8], [1, 6]], service=[0, 1], transient=[False, True]
    )
    state = SearchState(instance, np.array([0, 1]), np.array([0, 2]))
    cap, _, req, _, trans, _, proc = static_arrays(state, 0.0)[:7]
    usage, held = dynamic_arrays(state)[1:3]
    assert usage[1, 1] + 8 <= 10
    assert not fits(0, 1, cap, req, trans, proc, usage, held)
    assert fits(1, 1, cap, req, trans, proc, usage, held)


def test_compiling_before_the_clock_covers_the_array_kinds_every_search_hands_the_steps() -> None:
    # numba compiles once per combination of argument types: a search whose arrays differed in
    # kind from compile_steps' would compile again inside its time limit.
    compile_steps()
    kinds = len(run_steps.signatures)
    for seed in range(3):
        instance, original = random_instance(500 + seed, machines=6, processes=20)
        solve(instance, original, SearchSettings(max_steps=50, max_rounds=0, seed=seed))
    assert len(run_steps.signatures) == kinds == 1
