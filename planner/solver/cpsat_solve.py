"""Greedy first, then CP-SAT in two stages: the goal, then the least moved memory at that goal.

Stage 1 minimises `W·goal + moved GiB` (W larger than any moved GiB, so the goal comes first and
stage 1 does not wander among equally good plans); stage 2 adds `goal ≤ best` and minimises moved
MiB (weighed by the policy's move costs) exactly, hinted with the stage-1 plan. If CP-SAT returns nothing in time (it can, even with a
complete hint, when presolve eats the budget) the greedy plan stands.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from planner.solver.candidates import choose_candidates
from planner.solver.cpsat_model import PlacementModel, build_model
from planner.solver.lns import improve
from planner.instance.problem import Problem
from planner.instance.state import PlacementState
from planner.domain.policy import Goal, SolverSettings

STAGE_ONE_SHARE = 0.6
# Above this many (VM, allowed host) pairs the whole model is left to LNS (solver-notes §1.5:
# ~100k Booleans already stalls presolve on two cores).
WHOLE_MODEL_PAIRS = 300_000
WALL_CLOCK_SAFETY = 3.0
GOOD = (cp_model.OPTIMAL, cp_model.FEASIBLE)


@dataclass(frozen=True)
class SolveOutcome:
    assignment: tuple[int, ...]
    method: str
    status: str
    goal: int
    goal_bound: int | None
    variables: int
    wall_time_s: float
    lns_rounds: int = 0


def solve_placement(problem: Problem, start: PlacementState, greedy: PlacementState,
                    settings: SolverSettings, greedy_goal: int, goal_bound: int) -> SolveOutcome:
    began = time.monotonic()
    if problem.goal is Goal.DRAIN and greedy_goal <= goal_bound:
        # A drain moves exactly the drained VMs; at the goal's lower bound nothing is left to gain.
        return SolveOutcome(tuple(greedy.assignment), "greedy", "at the lower bound", greedy_goal, goal_bound, 0,
                            time.monotonic() - began)
    pairs = sum(len(u.allowed) for u in problem.movable)
    if pairs > WHOLE_MODEL_PAIRS:
        # Too big to solve whole on two cores: LNS from the greedy for the whole budget.
        outcome = improve(problem, list(greedy.assignment), settings, settings.time_limit_s)
        return _outcome(problem, outcome.assignment, "lns", f"{outcome.accepted}/{outcome.rounds} rounds kept",
                        None, 0, began, outcome.rounds)
    candidates = choose_candidates(problem, start, greedy, settings.candidates_per_vm, settings.seed)
    placement = build_model(problem, candidates, greedy.assignment)
    if not placement.x:
        return SolveOutcome(tuple(greedy.assignment), "greedy", "NO_CHOICE", greedy_goal, None, 0,
                            time.monotonic() - began)
    budget = _budget(settings, settings.time_limit_s, began)
    first = _stage_one(placement, greedy.assignment, settings, budget * STAGE_ONE_SHARE)
    if first is None:
        return SolveOutcome(tuple(greedy.assignment), "greedy", "CP-SAT found no plan in time", greedy_goal,
                            None, len(placement.x), time.monotonic() - began)
    assignment, goal, bound, status, used = first
    second = _stage_two(placement, assignment, goal, settings, max(0.1, budget - used))
    if second is not None:
        assignment, second_status = second
        status = f"{status}/{second_status}"
    return SolveOutcome(tuple(assignment), "cp-sat", status, goal, bound, len(placement.x), time.monotonic() - began)


def _outcome(problem: Problem, assignment: tuple[int, ...], method: str, status: str, bound: int | None,
             variables: int, began: float, rounds: int = 0) -> SolveOutcome:
    goal = PlacementState(problem, assignment).goal_value()
    return SolveOutcome(tuple(assignment), method, status, goal, bound, variables, time.monotonic() - began, rounds)


def _budget(settings: SolverSettings, seconds: float, began: float) -> float:
    """Seconds left for CP-SAT; in deterministic mode the wall clock must not leak in."""
    if settings.deterministic:
        return seconds
    return max(0.1, seconds - (time.monotonic() - began))


def _used(solver: cp_model.CpSolver, settings: SolverSettings) -> float:
    if settings.deterministic:
        return solver.response_proto.deterministic_time
    return solver.wall_time


def _solver(settings: SolverSettings, seconds: float) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    parameters = solver.parameters
    parameters.max_time_in_seconds = seconds
    parameters.num_workers = settings.workers
    parameters.random_seed = settings.seed
    # Measured on 2 cores (solver-notes §1.5): symmetry detection and probing can eat the whole
    # budget in presolve on assignment models and return nothing.
    parameters.symmetry_level = 0
    parameters.cp_model_probing_level = 0
    if settings.deterministic:
        parameters.interleave_search = True
        parameters.max_deterministic_time = seconds
        # The wall clock only as a safety net: hitting it would make the run irreproducible.
        parameters.max_time_in_seconds = seconds * WALL_CLOCK_SAFETY
    return solver


def _stage_one(placement: PlacementModel, hint: list[int], settings: SolverSettings,
               seconds: float) -> tuple[list[int], int, int, str, float] | None:
    weight = placement.max_coarse_cost + 1
    placement.model.minimize(weight * placement.goal + placement.coarse_cost)
    placement.hint(hint)
    solver = _solver(settings, seconds)
    status = solver.solve(placement.model)
    if status not in GOOD:
        return None
    goal = int(solver.value(placement.goal))
    bound = int(solver.best_objective_bound) // weight
    return placement.read(solver, hint), goal, bound, solver.status_name(status), _used(solver, settings)


def _stage_two(placement: PlacementModel, hint: list[int], goal: int, settings: SolverSettings,
               seconds: float) -> tuple[list[int], str] | None:
    placement.model.add(placement.goal <= goal)
    placement.model.minimize(placement.cost)
    placement.hint(hint)
    solver = _solver(settings, seconds)
    status = solver.solve(placement.model)
    if status not in GOOD:
        return None
    return placement.read(solver, hint), solver.status_name(status)
