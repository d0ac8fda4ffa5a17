"""A placement state's numpy rows follow its moves: after any run of moves (one host at a time or
many at once) they equal those of a state built fresh at the same assignment."""

from __future__ import annotations

import random

import numpy as np
import pytest

from planner.domain.policy import Goal
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.instance.state_rows import FEW_HOSTS
from planner.rules.resolve import resolve_rules
from tests.builders import cluster, host, policy, vm

ROWS = ("sizes", "cpu_pm", "mem_pm", "extra_pm")


def _problem(seed: int):
    rng = random.Random(seed)
    hosts = [host(f"h{i}", cpus=rng.choice([4, 8, 16]), memory_mib=rng.choice([8192, 16896, 33280]),
                  resources={"disk_iops": rng.choice([0, 5000, 20000]), "net_mbit": 10000}) for i in range(12)]
    vms = [vm(f"v{i}", f"h{rng.randrange(12)}", vcpus=rng.randint(1, 4), memory_mib=rng.choice([512, 1024, 4096]),
              load=rng.randint(0, 3000), resources={"disk_iops": rng.randint(0, 900), "net_mbit": rng.randint(0, 700)})
           for i in range(60)]
    return build_problem(resolve_rules(cluster(hosts, vms), policy(Goal.SPREAD)))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("moves_between_reads", [1, 2 * FEW_HOSTS])
def test_rows_after_moves_equal_a_fresh_state(seed: int, moves_between_reads: int) -> None:
    problem = _problem(seed)
    state = PlacementState(problem)
    rng = random.Random(seed)
    for step in range(120):
        unit = rng.choice(problem.units)
        state.move(unit, rng.randrange(len(problem.hosts)))
        if step % moves_between_reads == 0:
            fresh = PlacementState(problem, state.assignment)
            for name in ROWS:
                assert np.array_equal(getattr(state, name), getattr(fresh, name)), (name, step)
