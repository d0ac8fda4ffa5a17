"""No ping-pong: planning again on the cluster a plan produced (nothing else changed) gives an
empty plan — by the benefit gate alone, without any cooldown."""

from __future__ import annotations

import pytest

from planner.domain.policy import Goal
from tests.builders import cluster, host, plan_for, policy, vm

pytestmark = pytest.mark.solver

MIXED = cluster(
    [host("a"), host("b"), host("c"), host("d")],
    [vm(f"v{i}", "abcd"[i % 2], vcpus=1 + i % 3, memory_mib=1024 * (1 + i % 4), load=150 * (1 + i % 5))
     for i in range(12)],
)


@pytest.mark.parametrize("goal", [Goal.SPREAD, Goal.CONSOLIDATE])
def test_planning_twice_in_a_row_gives_an_empty_second_plan(goal: Goal) -> None:
    first = plan_for(MIXED, policy(goal))
    assert first.moves  # there was something to do

    second = plan_for(MIXED.with_placement(first.target_placement), policy(goal))

    assert second.moves == ()
    assert second.notes  # and it says why: the goal is met, or the gain is below the gate
