"""Same inputs and seed, same plan — even when CP-SAT stops on its time limit, not at an optimum."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from planner.formats.inputs import PlanningInput
from planner.solver.planning import make_plan
from planner.formats.scenario import load_scenario

HOT_RACK = Path(__file__).resolve().parent.parent / "scenarios" / "hot-rack.yaml"


def test_a_time_limited_plan_is_reproducible_for_a_seed() -> None:
    scenario = load_scenario(HOT_RACK)
    policy = replace(scenario.policy, solver=replace(scenario.policy.solver, time_limit_s=1.5, seed=7))
    rules = PlanningInput(scenario.cluster, policy).resolve()
    first, second = make_plan(rules), make_plan(rules)
    assert "OPTIMAL/OPTIMAL" not in first.solver.status  # the limit, not optimality, stopped it
    assert first.moves == second.moves
    assert first.metric == second.metric
