"""`--time-limit` is wall-clock seconds, a hard deadline; a deterministic search the wall clock cuts says so."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from planner.bounds.lower_bounds import spread_bound
from planner.domain.policy import SolverSettings
from planner.formats.inputs import PlanningInput
from planner.formats.scenario import load_scenario
from planner.instance.problem import Problem, build_problem
from planner.instance.state import PlacementState
from planner.solver import cpsat_solve, lns
from planner.solver.cpsat_solve import SolveOutcome, solve_placement
from planner.solver.greedy import greedy_placement
from planner.solver.time_budget import WALL_CLOCK_CUT

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
# A hard deadline, not a performance target: returning, building the answer and a shared, loaded
# machine may take a little past it, never a whole search more.
MARGIN_S = 3.0
# Deterministic work no search gets through in seconds: only the wall clock can end it.
ENDLESS_WORK = 1e6


@dataclass(frozen=True)
class Planned:
    problem: Problem
    start: PlacementState
    greedy: PlacementState
    settings: SolverSettings

    def solve(self, started: float | None = None, **solver: object) -> SolveOutcome:
        settings = replace(self.settings, **solver)
        return solve_placement(self.problem, self.start, self.greedy, settings, self.greedy.goal_value(),
                               spread_bound(self.problem), started=started)


def _planned(name: str) -> Planned:
    scenario = load_scenario(SCENARIOS / name)
    problem = build_problem(PlanningInput(scenario.cluster, scenario.policy).resolve())
    return Planned(problem, PlacementState(problem), greedy_placement(problem), scenario.policy.solver)


@pytest.fixture(scope="module")
def hot_rack() -> Planned:
    return _planned("hot-rack.yaml")


@pytest.fixture(scope="module")
def large() -> Planned:
    """Too many (VM, host) pairs for the whole model: solved by LNS rounds."""
    planned = _planned("large-200x3000.yaml")
    assert sum(len(u.allowed) for u in planned.problem.movable) > cpsat_solve.WHOLE_MODEL_PAIRS
    return planned


def test_lns_stops_at_the_wall_clock_limit_and_says_the_plan_may_not_repeat(
        large: Planned, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lns, "round_seconds", lambda *_: 0.0)
    began = time.monotonic()
    outcome = large.solve(time_limit_s=1.0, seed=3)
    assert time.monotonic() - began < 1.0 + MARGIN_S
    assert outcome.method == "lns" and outcome.lns_rounds >= 1
    assert outcome.status.endswith(WALL_CLOCK_CUT)


def test_cp_sat_stops_at_the_wall_clock_limit_and_says_the_plan_may_not_repeat(
        hot_rack: Planned, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpsat_solve, "WHOLE_MODEL_UNITS_PER_WORKER_SECOND", ENDLESS_WORK)
    began = time.monotonic()
    outcome = hot_rack.solve(time_limit_s=1.0)
    assert time.monotonic() - began < 1.0 + MARGIN_S
    assert outcome.status.endswith(WALL_CLOCK_CUT)


@pytest.mark.parametrize("scenario", ["hot_rack", "large"])
def test_time_spent_before_the_solver_counts_against_the_limit(scenario: str, request: pytest.FixtureRequest) -> None:
    planned: Planned = request.getfixturevalue(scenario)
    outcome = planned.solve(started=time.monotonic() - 5.0, time_limit_s=5.0)
    assert outcome.assignment == tuple(planned.greedy.assignment)
    assert outcome.status.endswith(WALL_CLOCK_CUT)


def test_no_warning_when_the_modelled_work_left_no_round_whatever_the_clock(large: Planned) -> None:
    """Past the deadline, but the setup took all the modelled work: no run would search, so the
    greedy's plan repeats and the status does not say otherwise."""
    outcome = solve_placement(large.problem, large.start, large.greedy, replace(large.settings, time_limit_s=5.0),
                              large.greedy.goal_value(), spread_bound(large.problem),
                              started=time.monotonic() - 5.0, setup_s=1e6)
    assert outcome.assignment == tuple(large.greedy.assignment)
    assert outcome.status == "no time left for LNS rounds"


def test_without_determinism_the_wall_clock_is_the_only_limit_and_no_warning_is_given(hot_rack: Planned) -> None:
    outcome = hot_rack.solve(time_limit_s=0.5, deterministic=False)
    assert outcome.method == "cp-sat"
    assert WALL_CLOCK_CUT not in outcome.status
