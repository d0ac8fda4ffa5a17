"""The swap search's vectorised cost matrix for single VMs must equal the general per-unit one,
in plain memory and weighed by the policy's move costs (cross-rack factor, per-VM factors)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from planner.domain.policy import MoveCosts, MoveFactor, Selector, SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import swaps
from tests.builders import cluster, host, policy, vm


def _general(leaving, partners, hosts, source) -> np.ndarray:
    cost = np.array([[unit.weighted_cost(int(h)) - unit.weighted_cost(source) for h in hosts] for unit in leaving])
    back = np.array([w.weighted_cost(source) - w.weighted_cost(t) for w, t in partners])
    return cost + back[None, :]


WEIGHED = MoveCosts(cross_label="rack", cross_factor=4, vms=(MoveFactor(Selector(labels={"tier": "db"}), 3),))


@pytest.mark.parametrize("costs", [MoveCosts(), WEIGHED], ids=["plain", "weighed"])
@pytest.mark.parametrize("seed", range(20))
def test_single_vm_costs_equal_the_per_unit_costs(seed: int, costs: MoveCosts) -> None:
    rng = random.Random(seed)
    hosts = [host(f"h{i}", labels={"rack": f"r{i % 3}"}) for i in range(rng.randint(2, 6))]
    vms = [vm(f"v{j}", rng.choice(hosts).name, memory_mib=rng.choice([512, 1024, 4096]),
              labels={"tier": rng.choice(["db", "web"])}) for j in range(12)]
    problem = build_problem(resolve_rules(cluster(hosts, vms), policy(spread=SpreadSettings(memory_weight=0),
                                                                      move_costs=costs)))
    state = PlacementState(problem)
    for unit in problem.units:  # some VMs away from home, some back, as mid-way through a greedy
        state.move(unit, rng.randrange(len(problem.hosts)))
    source = state.assignment[0]
    state.move(problem.units[1], (source + 1) % len(problem.hosts))  # a partner on another host
    leaving = [problem.units[i] for i in sorted(state.units_on[source])]
    partners = [(problem.units[i], t) for t in range(len(problem.hosts)) if t != source
                for i in sorted(state.units_on[t])]
    columns = np.array([t for _, t in partners], dtype=np.int64)
    assert state.single_vm_units
    out = np.array([u.index for u in leaving], dtype=np.int64)
    back = np.array([w.index for w, _ in partners], dtype=np.int64)
    expected = _general(leaving, partners, columns, source)
    assert (swaps._single_vm_costs(problem.unit_arrays, problem.move_cost_matrix, out, back, columns, source) ==
            expected).all()
    assert (swaps._cost_matrix(leaving, partners, columns, source, state.weighted) == expected).all()
