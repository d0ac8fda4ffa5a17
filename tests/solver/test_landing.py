"""coolest_fit and the repair's least-loaded fit check sizes for every host at once; each must pick
exactly the host a plain host-by-host scan picks."""

from __future__ import annotations

import random

import pytest

from planner.domain.metrics import permille
from planner.domain.policy import SpreadSettings
from planner.instance.problem import Unit, build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver.greedy import _least_loaded_fit, balance_score
from planner.solver.landing import coolest_fit
from tests.builders import cluster, host, policy, vm


def _scan(state: PlacementState, unit: Unit, avoid: tuple[int, ...], caps: tuple[int, int],
          targets: list[int]) -> int | None:
    home = unit.current
    for target in ([home] if home is not None and home not in avoid else []) + targets:
        if target in avoid or target not in unit.allowed:
            continue
        if permille(state.load[target] + unit.cpu_load, state.cpu_capacity[target]) > caps[0]:
            continue
        if permille(state.memory[target] + unit.memory_mib, state.memory_capacity[target]) > caps[1]:
            continue
        if state.fits(unit, target) and state.within_budget(unit, target):
            return target
    return None


def _random_state(rng: random.Random, spread: SpreadSettings) -> PlacementState:
    """A few hosts of mixed sizes and up to 25 VMs placed at random (some hosts over a limit)."""
    hosts = [host(f"h{i}", cpus=rng.choice([4, 8, 16]), memory_mib=rng.choice([8192, 16896, 33280]))
             for i in range(rng.randint(2, 9))]
    vms = [vm(f"v{j}", rng.choice(hosts).name, vcpus=rng.randint(1, 8), memory_mib=rng.choice([512, 2048, 6144]),
              load=rng.randint(0, 4000)) for j in range(rng.randint(1, 25))]
    return PlacementState(build_problem(resolve_rules(cluster(hosts, vms), policy(spread=spread))))


@pytest.mark.parametrize("seed", range(30))
def test_coolest_fit_agrees_with_a_plain_scan(seed: int) -> None:
    rng = random.Random(seed)
    state = _random_state(rng, SpreadSettings(memory_weight=0))
    problem = state.problem
    targets = list(range(len(problem.hosts)))
    rng.shuffle(targets)
    for unit in problem.units:
        caps = (rng.randint(100, 1000), rng.randint(300, 1000))
        avoid = (state.assignment[unit.index],) + tuple(rng.sample(targets, rng.randint(0, 1)))
        assert coolest_fit(state, unit, avoid, caps, targets) == _scan(state, unit, avoid, caps, targets)


def _least_loaded_scan(state: PlacementState, unit: Unit, exclude: int) -> int | None:
    options = [h for h in unit.allowed if h != exclude and state.fits(unit, h)]
    return min(options, key=lambda h: (balance_score(state, unit, h), h)) if options else None


@pytest.mark.parametrize("seed", range(30))
def test_the_repair_picks_the_host_a_plain_scan_picks(seed: int) -> None:
    rng = random.Random(seed)
    state = _random_state(rng, SpreadSettings(cpu_weight=rng.randint(0, 3), memory_weight=rng.randint(1, 3)))
    for unit in state.problem.units:
        exclude = state.assignment[unit.index]
        assert _least_loaded_fit(state, unit, exclude) == _least_loaded_scan(state, unit, exclude)
