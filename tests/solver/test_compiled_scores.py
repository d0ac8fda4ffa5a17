"""The repair's scoring pass compiled (compiled_scores.candidate_scores) gives exactly what the
numpy expression it replaced gives (kept here as the oracle): on tight clusters with CPU alone or
CPU and memory weighed, load limited (consolidating with headroom) or not, hosts the unit may not
use, the host excluded, and states part-way through moves so that some hosts are full."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.domain.policy import ConsolidateSettings, Goal, HostGroup, Selector, SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.instance.unit import Unit
from planner.rules.resolve import resolve_rules
from planner.solver.compiled_scores import candidate_scores
from planner.solver.greedy import balance_scores


def numpy_scores(state: PlacementState, unit: Unit, exclude: int) -> np.ndarray:
    """The oracle: balance_scores where the unit is allowed and has room, infinity elsewhere."""
    candidates = state.allowed_mask(unit) & state.room_for(unit)
    candidates[exclude] = False
    return np.where(candidates, balance_scores(state, unit), np.inf)


def _state(seed: int, memory_weight: int, goal: Goal) -> PlacementState:
    clu = generate_tight_cluster(40, 600, 0.88, seed)
    pol = tight_policy(clu, seed, 5)
    # A few hosts a quarter of the VMs may not use, so that allowed masks differ between units.
    kept_off = frozenset(h.name for h in clu.hosts[::5])
    group = HostGroup("kept-off", Selector(names=frozenset(vm.name for vm in clu.vms[::4] if vm.host not in kept_off)),
                      Selector(names=frozenset(h.name for h in clu.hosts if h.name not in kept_off)))
    # Consolidating with CPU headroom gives hosts a load limit (spreading leaves load unlimited).
    pol = replace(pol, goal=goal, spread=SpreadSettings(memory_weight=memory_weight),
                  consolidate=ConsolidateSettings(max_cpu_percent=45, max_memory_percent=100),
                  host_groups=pol.host_groups + (group,))
    state = PlacementState(build_problem(resolve_rules(clu, pol)))
    rng = random.Random(seed)
    movable = [u for u in state.problem.units if not u.fixed]
    for _ in range(80):  # moves until some hosts are full for some VMs
        unit, host = rng.choice(movable), rng.randrange(len(state.problem.hosts))
        if state.fits(unit, host):
            state.move(unit, host)
    return state


@pytest.mark.parametrize("goal", [Goal.SPREAD, Goal.CONSOLIDATE])
@pytest.mark.parametrize("memory_weight", [0, 1])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_compiled_pass_gives_what_numpy_gives(seed: int, memory_weight: int, goal: Goal) -> None:
    state = _state(seed, memory_weight, goal)
    wc, wm = state.problem.spread_weights
    rng = random.Random(seed)
    struck = 0
    for unit in rng.sample(state.problem.units, 120):
        exclude = rng.choice([state.assignment[unit.index], rng.randrange(len(state.problem.hosts))])
        expected = numpy_scores(state, unit, exclude)
        found = candidate_scores(state.sizes, state.limits, state.allowed_mask(unit), state.score_divisors,
                                 np.array((unit.memory_mib, unit.vcpus, unit.cpu_load), dtype=np.int64), wc, wm,
                                 exclude)
        assert np.array_equal(found, expected)
        struck += int(np.isinf(expected).sum())
    assert struck > 0  # some hosts were full, refused or excluded
