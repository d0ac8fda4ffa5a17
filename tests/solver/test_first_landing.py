"""The landing search of the spread greedy: ranked_landing checks leavers' rooms a few at a time and
finds the coolest host by argmin, and must pick what asking coolest_fit for each leaver in turn,
over the hosts sorted by coolness, picks; fits_under_caps and within_caps
refuse a host that would pass a cap."""

from __future__ import annotations

import random

import numpy as np
import pytest

from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.domain.policy import SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver.caps import Caps
from planner.solver.landing import coolest_fit, fits_under_caps, ranked_landing, within_caps
from tests.builders import cluster, host, policy, vm


def _one_by_one(state: PlacementState, units: list, avoid: tuple[int, ...], caps: Caps, targets: list[int]):
    for tried, unit in enumerate(units, start=1):
        host_index = coolest_fit(state, unit, avoid, caps, targets)
        if host_index is not None:
            return (unit, host_index), tried
    return None, len(units)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ranked_landing_picks_what_coolest_fit_picks_one_by_one(seed: int) -> None:
    clu = generate_tight_cluster(40, 600, 0.85, seed)
    problem = build_problem(resolve_rules(clu, tight_policy(clu, seed, 5)))
    state = PlacementState(problem)
    rng = random.Random(seed)
    hosts = list(range(len(problem.hosts)))
    ignored = np.iinfo(np.int64).max
    for _ in range(80):
        source = rng.choice(hosts)
        units = [problem.units[i] for i in sorted(state.units_on[source]) if not problem.units[i].fixed]
        rng.shuffle(units)
        caps = Caps(rng.randint(300, 1000), rng.randint(700, 1000))
        # Coolness with many ties (coarse values) and some hosts the metric ignores.
        score = np.array([ignored if rng.random() < 0.1 else rng.randint(0, 5) for _ in hosts], dtype=np.int64)
        targets = [h for h in np.argsort(score, kind="stable").tolist() if score[h] < ignored]
        expected = _one_by_one(state, units, (source,), caps, targets)
        assert ranked_landing(state, units, (source,), caps, score) == expected


def test_fits_under_caps_and_within_caps_hold_the_cpu_cap() -> None:
    clu = cluster([host("a"), host("b")], [vm("x", "a", load=3000), vm("y", "b", load=1000)])
    problem = build_problem(resolve_rules(clu, policy(spread=SpreadSettings(memory_weight=0))))
    state = PlacementState(problem)
    x, b = problem.units[0], problem.index_of_host["b"]
    assert fits_under_caps(state, x, b, Caps(500, 1000))  # b at 4000 mc of 8000: 500 ‰
    assert not fits_under_caps(state, x, b, Caps(499, 1000))
    assert within_caps(state, b, Caps(125, 1000)) and not within_caps(state, b, Caps(124, 1000))
