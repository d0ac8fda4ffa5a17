"""While solving, `rebalance plan` reports the best goal so far and the bound: after the greedy and
each time the search improves it, never a goal worse than the one before nor below the bound."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from planner.formats.inputs import PlanningInput
from planner.formats.scenario import load_scenario
from planner.solver.planning import make_plan
from planner.solver.progress import SolveProgress
from rebalance.cli import cli

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _reports(name: str, seconds: float) -> tuple[list[SolveProgress], int]:
    scenario = load_scenario(SCENARIOS / name)
    policy = replace(scenario.policy, solver=replace(scenario.policy.solver, time_limit_s=seconds))
    heard: list[SolveProgress] = []
    plan = make_plan(PlanningInput(scenario.cluster, policy).resolve(), progress=heard.append)
    return heard, plan.solver.greedy_goal


def _assert_a_descending_run_above_the_bound(heard: list[SolveProgress], greedy_goal: int) -> None:
    assert heard[0].stage == "greedy" and heard[0].goal == greedy_goal
    goals = [report.goal for report in heard]
    assert goals == sorted(goals, reverse=True)
    assert all(report.goal >= report.bound for report in heard)
    assert len({report.bound for report in heard}) == 1
    times = [report.elapsed_s for report in heard]
    assert times == sorted(times)


def test_the_whole_model_reports_the_greedy_then_its_better_plan() -> None:
    heard, greedy_goal = _reports("hot-rack.yaml", 3.0)
    _assert_a_descending_run_above_the_bound(heard, greedy_goal)
    assert [report.stage for report in heard] == ["greedy", "cp-sat"]
    assert heard[1].goal < heard[0].goal


def test_lns_reports_each_lower_goal_it_finds() -> None:
    heard, greedy_goal = _reports("large-200x3000.yaml", 4.0)
    _assert_a_descending_run_above_the_bound(heard, greedy_goal)
    assert {report.stage for report in heard[1:]} <= {"lns"}
    assert len({report.goal for report in heard}) == len(heard)  # only a lower goal is news


def test_the_cli_writes_progress_to_stderr_only_when_asked() -> None:
    args = ["plan", "--scenario", str(SCENARIOS / "hot-rack.yaml"), "--time-limit", "2", "--json"]
    watched = CliRunner().invoke(cli, args + ["--progress"])
    quiet = CliRunner().invoke(cli, args)  # stderr is no terminal here: off by default
    assert watched.exit_code == 0 and quiet.exit_code == 0
    assert json.loads(watched.stdout)["goal"] == "spread"
    lines = watched.stderr.splitlines()
    assert lines[0].startswith("solving: greedy") and "bound" in lines[0]
    assert "solving:" not in quiet.stderr
