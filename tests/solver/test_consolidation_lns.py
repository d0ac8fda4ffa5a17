"""Consolidation's LNS on memory-tight clusters: its rounds must empty hosts on their own.

With every host's memory near its consolidation headroom, a host's VMs fit no single hole: only
re-packs of a few hosts at once, solved quickly, free hosts. Large neighbourhoods or long
sub-solves make the same budget free none. The LNS starts from the repaired placement here, not
the greedy's, so what is freed is the rounds' doing.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.check.validate import validate_placement
from planner.domain.policy import Goal
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver.checked import to_placement
from planner.solver.greedy import repair
from planner.solver.lns import improve


@pytest.mark.parametrize("fill", [0.80, 0.85])
def test_lns_rounds_empty_hosts_on_a_memory_tight_cluster(fill: float) -> None:
    cluster = generate_tight_cluster(100, 2000, fill=fill, seed=1)
    policy = replace(tight_policy(cluster, seed=1, time_limit_s=6), goal=Goal.CONSOLIDATE)
    problem = build_problem(resolve_rules(cluster, policy))
    start = PlacementState(problem)
    repair(start)

    outcome = improve(problem, list(start.assignment), policy.solver, seconds=6)

    after = PlacementState(problem, list(outcome.assignment))
    assert after.hosts_in_use() <= start.hosts_in_use() - 3
    assert validate_placement(cluster, policy, to_placement(problem, outcome.assignment)) == []
