"""The solve benchmark at its smallest size, as CI's smoke test: every plan (ours and the
baselines') validates, ours is never worse than a baseline on the goal, and never below a bound.
Times are not asserted here: they belong to `python -m benchmarks.solve`."""

from __future__ import annotations

import pytest

from benchmarks.solve import run_one
from planner.domain.policy import Goal


@pytest.mark.parametrize("goal", list(Goal))
def test_smallest_benchmark_plans_validate_and_beat_or_tie_the_baselines(goal: Goal) -> None:
    ours, *others = run_one("20x200", goal, seed=1)
    assert ours.method == "rebalance" and others
    assert all(row.valid for row in [ours, *others])
    assert ours.goal_value >= ours.bound
    assert ours.moves >= ours.moves_bound and ours.moved_gib >= ours.moved_gib_bound
    for baseline in others:
        assert ours.goal_value <= baseline.goal_value, baseline.method


@pytest.mark.parametrize("goal", list(Goal))
def test_with_an_extra_resource_our_plans_validate_and_stay_above_their_bounds(goal: Goal) -> None:
    ours, *_ = run_one("20x200", goal, seed=1, extra=1)
    assert ours.size == "20x200+1" and ours.valid
    assert ours.goal_value >= ours.bound
    assert ours.moves >= ours.moves_bound and ours.moved_gib >= ours.moved_gib_bound
