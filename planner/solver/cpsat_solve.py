"""Greedy first, then CP-SAT in two stages: the goal, then the least moved memory at that goal.

Stage 1 minimises `W·goal + moved GiB` (W larger than any moved GiB, so the goal comes first and
stage 1 does not wander among equally good plans); stage 2 adds `goal ≤ best` and minimises moved
MiB (weighed by the policy's move costs) exactly, hinted with the stage-1 plan. If CP-SAT returns
nothing in time (it can, even with a complete hint, when presolve eats the budget) the greedy plan
stands. The time limit is wall-clock seconds for all of it (see time_budget.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from planner.solver.candidates import choose_candidates
from planner.solver.cpsat_model import PlacementModel, build_model
from planner.solver.lns import improve
from planner.solver.progress import ProgressSink, Reporter, ignore
from planner.solver.cpsat_setup import CpSatSetup, new_solver
from planner.solver.time_budget import (
    MIN_CALL_SECONDS,
    WALL_CLOCK_CUT,
    TimeBudget,
    call_limits,
    modelled_allowance,
)
from planner.instance.problem import Problem
from planner.instance.state import PlacementState
from planner.domain.policy import SolverSettings

STAGE_ONE_SHARE = 0.6
# Above this many (VM, allowed host) pairs the whole model is left to LNS: around 100k Booleans,
# presolve alone already stalls on two cores.
WHOLE_MODEL_PAIRS = 300_000
# CP-SAT deterministic time the whole-model stages get per second of the limit and per worker: low
# enough that the deterministic cap, not the wall clock, ends the search on a slow day with other
# work beside it, so that a seed repeats. Its rate differs by model and by day: scenarios/hot-rack.yaml
# with 2 workers ran 2.35-2.67 units per wall second on a quiet machine and 1.28-1.44 at a load
# average of about 2.5 (2026-12-04), but at 1.0 unit per second whatever the workers the tight
# 20x300 cluster (benchmarks.repeat, 10 s) was cut by the wall clock in one of three quiet runs with
# 2 workers (two different plans) and in three of three beside two busy loops (2026-12-07); at 0.2
# per worker none was (docs/benchmarks-repeat.md).
WHOLE_MODEL_UNITS_PER_WORKER_SECOND = 0.2
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


@dataclass(frozen=True)
class _Stage:
    """What one CP-SAT stage found."""

    assignment: list[int]
    goal: int
    bound: int
    status: str
    work_used: float


def solve_placement(problem: Problem, start: PlacementState, greedy: PlacementState,
                    settings: SolverSettings, greedy_goal: int, goal_bound: int,
                    *, started: float | None = None, spent_s: float = 0.0, setup_s: float = 0.0,
                    progress: ProgressSink = ignore) -> SolveOutcome:
    """The best placement found within settings.time_limit_s wall-clock seconds, counted from
    `started` (time.monotonic() when planning began, so the greedy counts too; default: now).
    In deterministic mode the search's work is what the limit leaves after `spent_s`, the greedy's
    modelled seconds (GreedyBudget.used_ms), and after `setup_s`, the modelled seconds of building
    the problem (time_budget.modelled_setup_s), so it does not depend on how fast either ran."""
    began = time.monotonic()
    report = Reporter(progress, goal_bound, started if started is not None else began)
    if problem.goal.traits.moves_only_drained and greedy_goal <= goal_bound:
        # A drain moves exactly the drained VMs; at the goal's lower bound nothing is left to gain.
        return SolveOutcome(tuple(greedy.assignment), "greedy", "at the lower bound", greedy_goal, goal_bound, 0,
                            time.monotonic() - began)
    pairs = sum(len(u.allowed) for u in problem.movable)
    if pairs > WHOLE_MODEL_PAIRS:
        return _lns_only(problem, greedy, settings, began, report, spent_s, setup_s)
    units_per_second = WHOLE_MODEL_UNITS_PER_WORKER_SECOND * max(1, settings.workers)
    budget = TimeBudget.of(settings, units_per_second, report.started, spent_s + setup_s)
    candidates = choose_candidates(problem, start, greedy, settings.candidates_per_vm, settings.seed)
    placement = build_model(problem, candidates, greedy.assignment)
    if not placement.x:
        return SolveOutcome(tuple(greedy.assignment), "greedy", "NO_CHOICE", greedy_goal, None, 0,
                            time.monotonic() - began)
    outcome = _two_stages(placement, greedy, settings, budget, greedy_goal, began)
    if outcome.method == "cp-sat":
        report("cp-sat", outcome.goal)
    return outcome


def _lns_only(problem: Problem, greedy: PlacementState, settings: SolverSettings, began: float,
              report: Reporter, spent_s: float, setup_s: float) -> SolveOutcome:
    """Too big to solve whole on two cores: LNS from the greedy for the rest of the budget (the
    deadline counted from when planning began, report.started). With nothing left of it the greedy's
    plan stands: starting LNS builds a placement state, 0.4 s at 200,000 VMs."""
    deadline = report.started + settings.time_limit_s
    modelled_s = max(0.0, modelled_allowance(settings, setup_s) - spent_s)
    out_of_time = deadline - time.monotonic() < MIN_CALL_SECONDS
    if out_of_time or (settings.deterministic and modelled_s <= 0):
        # The wall clock only cut a search the modelled work left room for: with none left the
        # greedy's plan is what any run gives.
        cut = settings.deterministic and out_of_time and modelled_s > 0
        status = _with_cut("no time left for LNS rounds", cut)
        return SolveOutcome(tuple(greedy.assignment), "greedy", status, greedy.goal_value(), None, 0,
                            time.monotonic() - began)
    outcome = improve(problem, list(greedy.assignment), settings, settings.time_limit_s, deadline=deadline,
                      modelled_s=modelled_s, on_better=lambda goal: report("lns", goal))
    status = _with_cut(f"{outcome.accepted}/{outcome.rounds} rounds kept", outcome.wall_clock_cut)
    return SolveOutcome(tuple(outcome.assignment), "lns", status, outcome.goal, None, 0, time.monotonic() - began,
                        outcome.rounds)


def _two_stages(placement: PlacementModel, greedy: PlacementState, settings: SolverSettings, budget: TimeBudget,
                greedy_goal: int, began: float) -> SolveOutcome:
    variables = len(placement.x)
    first, cut = (None, True) if budget.expired() else _stage_one(placement, greedy.assignment, settings, budget)
    if first is None:
        status = _with_cut("CP-SAT found no plan in time", budget.work is not None and cut)
        return SolveOutcome(tuple(greedy.assignment), "greedy", status, greedy_goal, None, variables,
                            time.monotonic() - began)
    assignment, status = first.assignment, first.status
    second, second_cut = (None, True) if budget.expired() else _stage_two(placement, first, settings, budget)
    cut = budget.work is not None and (cut or second_cut)
    if second is not None:
        assignment, status = second.assignment, f"{status}/{second.status}"
    return SolveOutcome(tuple(assignment), "cp-sat", _with_cut(status, cut), first.goal, first.bound, variables,
                        time.monotonic() - began)


def _with_cut(status: str, cut: bool) -> str:
    return f"{status}; {WALL_CLOCK_CUT}" if cut else status


def _solver(settings: SolverSettings, budget: TimeBudget, work: float | None, seconds: float | None) -> cp_model.CpSolver:
    setup = CpSatSetup(workers=settings.workers, seed=settings.seed, interleave=settings.deterministic)
    return new_solver(setup, call_limits(budget, work, seconds))


def _stage_one(placement: PlacementModel, hint: list[int], settings: SolverSettings,
               budget: TimeBudget) -> tuple[_Stage | None, bool]:
    """The stage's plan (None if none was found) and whether the wall clock cut it short."""
    weight = placement.max_coarse_cost + 1
    placement.model.minimize(weight * placement.goal + placement.coarse_cost)
    placement.hint(hint)
    work = budget.work * STAGE_ONE_SHARE if budget.work is not None else None
    solver = _solver(settings, budget, work, None if work is not None else budget.seconds_left() * STAGE_ONE_SHARE)
    status = solver.solve(placement.model)
    if status not in GOOD:
        return None, budget.cut_call(solver, status)
    bound = int(solver.best_objective_bound) // weight
    return _Stage(placement.read(solver, hint), int(solver.value(placement.goal)), bound, solver.status_name(status),
                  solver.response_proto.deterministic_time), budget.cut_call(solver, status)


def _stage_two(placement: PlacementModel, first: _Stage, settings: SolverSettings,
               budget: TimeBudget) -> tuple[_Stage | None, bool]:
    placement.model.add(placement.goal <= first.goal)
    placement.model.minimize(placement.cost)
    placement.hint(first.assignment)
    # Stage one may overrun its share of the deterministic clock; stage two still gets a little.
    work = max(0.1, budget.work - first.work_used) if budget.work is not None else None
    solver = _solver(settings, budget, work, None)
    status = solver.solve(placement.model)
    if status not in GOOD:
        return None, budget.cut_call(solver, status)
    return _Stage(placement.read(solver, first.assignment), first.goal, first.bound, solver.status_name(status),
                  solver.response_proto.deterministic_time), budget.cut_call(solver, status)
