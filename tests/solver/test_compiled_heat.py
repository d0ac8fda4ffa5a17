"""The start of a greedy step compiled (compiled_heat.hottest_and_coolness) gives exactly what the
numpy versions it replaced give (kept here as the oracle): on tight clusters with
0-2 extra named resources, CPU alone or CPU and memory weighed, hosts the metric ignores, the
peaks now or random ceilings, and random hosts passed over."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from benchmarks.extra_resources import with_extra_resources
from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.domain.policy import ResourceBalance, SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver.caps import Caps
from planner.solver.compiled_heat import NO_HOST
from planner.solver.peak_relief import PeakView, _hottest_and_coolness, coolness, peak_view


def hottest_on_peak(state: PlacementState, view: PeakView, passed_over: np.ndarray | None = None) -> int | None:
    """The numpy oracle: the hottest host on a peak of `view` (by the weighed resources), or None."""
    problem = state.problem
    on_peak = np.zeros(len(problem.hosts), dtype=bool)
    if view.hot_cpu:
        on_peak |= state.cpu_pm > view.over[0]
    if view.hot_mem:
        on_peak |= state.mem_pm > view.over[1]
    if view.hot_extra.any():
        on_peak |= (state.extra_pm[:, view.hot_extra] > view.over_extra[view.hot_extra]).any(axis=1)
    on_peak &= state.metric_mask
    if passed_over is not None:
        on_peak &= ~passed_over
    if not on_peak.any():
        return None
    wc, wm = problem.spread_weights
    extra_weights = np.asarray(problem.extra_weights, dtype=np.int64)
    heat = np.where(on_peak, wc * state.cpu_pm + wm * state.mem_pm + state.extra_pm @ extra_weights, -1)
    return int(np.argmax(heat))


def numpy_coolness(state: PlacementState) -> np.ndarray:
    """The numpy oracle of peak_relief.coolness."""
    problem = state.problem
    wc, wm = problem.spread_weights
    weighed = np.asarray(problem.extra_weights, dtype=np.int64) > 0
    busy = (wc > 0) * state.cpu_pm + (wm > 0) * state.mem_pm + state.extra_pm @ weighed
    return np.where(state.metric_mask, busy, np.iinfo(np.int64).max)


def _state(seed: int, extras: int, memory_weight: int) -> PlacementState:
    clu = with_extra_resources(generate_tight_cluster(40, 600, 0.85, seed), extras)
    pol = tight_policy(clu, seed, 5)
    names = sorted({name for h in clu.hosts for name in h.resources})
    spread = SpreadSettings(memory_weight=memory_weight,
                            resources=tuple(ResourceBalance(name, weight=i % 2 + 1) for i, name in enumerate(names)))
    excluded = frozenset(h.name for h in clu.hosts[:3])
    problem = build_problem(resolve_rules(clu, replace(pol, spread=spread, excluded_hosts=excluded)))
    state = PlacementState(problem)
    rng = random.Random(seed)
    movable = [u for u in problem.units if not u.fixed]
    for _ in range(60):  # some moves, so that the peaks are not the start's
        unit, host = rng.choice(movable), rng.randrange(len(problem.hosts))
        if state.fits(unit, host):
            state.move(unit, host)
    return state


@pytest.mark.parametrize("memory_weight", [0, 1])
@pytest.mark.parametrize("extras", [0, 1, 2])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_compiled_pass_gives_what_numpy_gives(seed: int, extras: int, memory_weight: int) -> None:
    state = _state(seed, extras, memory_weight)
    rng = random.Random(seed * 10 + extras)
    hosts = len(state.problem.hosts)
    found = 0
    for trial in range(40):
        ceiling = None if trial % 4 == 0 else Caps(
            rng.randint(200, 900), rng.randint(200, 900),
            np.array([rng.randint(100, 900) for _ in range(extras)], dtype=np.int64) if extras else None)
        view = peak_view(state, ceiling)
        passed_over = None if trial % 3 == 0 else np.array([rng.random() < 0.3 for _ in range(hosts)])
        source, score = _hottest_and_coolness(state, view, passed_over)
        expected = hottest_on_peak(state, view, passed_over)
        assert source == (NO_HOST if expected is None else expected)
        assert np.array_equal(score, numpy_coolness(state))
        assert np.array_equal(coolness(state), numpy_coolness(state))
        found += expected is not None
    assert found > 0  # some trials had a host on a peak
