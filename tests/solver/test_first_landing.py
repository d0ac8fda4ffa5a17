"""The landing search of the spread greedy: first_landing checks every leaver's room at once and
must pick what asking coolest_fit for each leaver in turn picks; fits_under_caps and within_caps
refuse a host that would pass a cap."""

from __future__ import annotations

import random

import pytest

from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.domain.policy import SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver.caps import Caps
from planner.solver.landing import coolest_fit, first_landing, fits_under_caps, within_caps
from tests.builders import cluster, host, policy, vm


def _one_by_one(state: PlacementState, units: list, avoid: tuple[int, ...], caps: Caps, targets: list[int]):
    for tried, unit in enumerate(units, start=1):
        host_index = coolest_fit(state, unit, avoid, caps, targets)
        if host_index is not None:
            return (unit, host_index), tried
    return None, len(units)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_first_landing_picks_what_coolest_fit_picks_one_by_one(seed: int) -> None:
    clu = generate_tight_cluster(40, 600, 0.85, seed)
    problem = build_problem(resolve_rules(clu, tight_policy(clu, seed, 5)))
    state = PlacementState(problem)
    rng = random.Random(seed)
    hosts = list(range(len(problem.hosts)))
    for _ in range(60):
        source = rng.choice(hosts)
        units = [problem.units[i] for i in sorted(state.units_on[source]) if not problem.units[i].fixed]
        rng.shuffle(units)
        caps = Caps(rng.randint(300, 1000), rng.randint(700, 1000))
        targets = rng.sample(hosts, len(hosts))
        expected = _one_by_one(state, units, (source,), caps, targets)
        assert first_landing(state, units, (source,), caps, targets) == expected


def test_fits_under_caps_and_within_caps_hold_the_cpu_cap() -> None:
    clu = cluster([host("a"), host("b")], [vm("x", "a", load=3000), vm("y", "b", load=1000)])
    problem = build_problem(resolve_rules(clu, policy(spread=SpreadSettings(memory_weight=0))))
    state = PlacementState(problem)
    x, b = problem.units[0], problem.index_of_host["b"]
    assert fits_under_caps(state, x, b, Caps(500, 1000))  # b at 4000 mc of 8000: 500 ‰
    assert not fits_under_caps(state, x, b, Caps(499, 1000))
    assert within_caps(state, b, Caps(125, 1000)) and not within_caps(state, b, Caps(124, 1000))
