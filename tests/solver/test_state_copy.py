"""PlacementState.copy(): the same state PlacementState(problem, assignment) builds, sharing nothing
that either side writes, so moves on the copy leave the original as it was; .under(problem): the
same under a variant of the problem (its kept units freed, other limits)."""

from __future__ import annotations

import random

import numpy as np

from benchmarks.at_scale import goal_policy
from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.domain.policy import Goal
from planner.instance.problem import Problem, build_problem, with_drain_lifted
from planner.instance.state import PlacementState
from planner.instance.state_copy import SHARED, bound_to
from planner.rules.resolve import resolve_rules
from dataclasses import replace

# Caches that may differ (a copy starts them empty) and attributes that are the problem's own.
# The problem, and caches of what it or the placement fixes (allowed_rows: rows of the problem's
# allowed sets, built as units are asked about).
NOT_COMPARED = {"problem", "_allowed_masks", "_sets_allowing", "_most_at", "_dirty", "_peaks", "allowed_rows"}


def _problem() -> Problem:
    """Anti-affinity groups, host groups and pinned VMs: every kind of bookkeeping the state keeps."""
    clu = generate_tight_cluster(30, 400, 0.80, 2)
    return build_problem(resolve_rules(clu, replace(tight_policy(clu, 2, 1.0, 1), goal=Goal.SPREAD)))


def _shuffled(state: PlacementState, moves: int, seed: int) -> None:
    rng = random.Random(seed)
    units = list(state.problem.movable)
    done = 0
    while done < moves:
        unit = rng.choice(units)
        host = rng.choice(sorted(unit.allowed))
        if state.fits(unit, host):
            state.move(unit, host)
            done += 1


def _bookkeeping(state: PlacementState) -> dict[str, object]:
    state.sizes  # brings the numpy rows up to date  # noqa: B018
    kept = {name: value for name, value in vars(state).items() if name not in NOT_COMPARED}
    # A domain a group left keeps a 0 count after moves; a state built afresh never lists it.
    kept["occupancy"] = [{domain: n for domain, n in counts.items() if n} for counts in state.occupancy]
    return kept


def _same(left: dict[str, object], right: dict[str, object]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        a, b = left[name], right[name]
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b), name
        else:
            assert a == b, name


def test_a_copy_is_what_building_the_state_from_its_assignment_gives() -> None:
    problem = _problem()
    state = PlacementState(problem)
    _shuffled(state, 60, seed=1)

    _same(_bookkeeping(state.copy()), _bookkeeping(PlacementState(problem, state.assignment)))


def test_moves_on_a_copy_leave_the_original_unchanged_and_the_other_way_round() -> None:
    problem = _problem()
    original = PlacementState(problem)
    _shuffled(original, 30, seed=2)
    frozen = _bookkeeping(PlacementState(problem, original.assignment))
    twin = original.copy()

    _shuffled(twin, 40, seed=3)

    _same(_bookkeeping(PlacementState(problem, original.assignment)), frozen)
    assert original.assignment != twin.assignment
    # Nothing the state writes is shared: every list, set, dict or array is its own object.
    shared_fixed = {"cpu_capacity", "memory_capacity", "cpu_capacity_array", "memory_capacity_array", "limits",
                    "extra_capacity", "score_divisors", "extra_limit_rows", "metric_mask"}
    for name, value in vars(original).items():
        if isinstance(value, (list, set, dict, np.ndarray)) and name not in shared_fixed:
            assert vars(twin)[name] is not value, name
    _shuffled(original, 10, seed=4)
    _same(_bookkeeping(twin.copy()), _bookkeeping(PlacementState(problem, twin.assignment)))


def test_what_a_state_reads_off_its_problem_is_what_copies_share() -> None:
    assert set(bound_to(_problem())) == SHARED


def _drain_problem() -> Problem:
    clu = generate_tight_cluster(30, 400, 0.80, 2)
    return build_problem(resolve_rules(clu, goal_policy(clu, Goal.DRAIN, 2, 1.0, 1)))


def test_a_state_under_a_problem_with_its_kept_units_freed_is_the_one_built_for_it() -> None:
    drain = _drain_problem()
    state = PlacementState(drain)
    _shuffled(state, 5, seed=5)
    lifted = with_drain_lifted(drain)

    twin = state.under(lifted)

    assert twin.problem is lifted
    _same(_bookkeeping(twin), _bookkeeping(PlacementState(lifted, state.assignment)))
    assert state.problem is drain  # the original keeps its own


def test_a_state_under_a_problem_with_other_limits_takes_its_limits() -> None:
    problem = _problem()
    state = PlacementState(problem)
    _shuffled(state, 20, seed=6)
    tighter = replace(problem, memory_limit=tuple(m * 9 // 10 for m in problem.memory_limit),
                      vcpu_limit=tuple(v - 1 for v in problem.vcpu_limit))

    twin = state.under(tighter)

    assert not np.array_equal(twin.limits, state.limits)
    _same(_bookkeeping(twin), _bookkeeping(PlacementState(tighter, state.assignment)))
