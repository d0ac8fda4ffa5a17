"""Large-neighbourhood search: small CP-SAT sub-solves over a few hosts, accepted when they help.

At 1,000 hosts × 20,000 VMs the whole model (~140k Booleans) returns nothing in 10 s on two
cores; a sub-problem over ~20 hosts solves in a fraction of a second. Each round frees the movable
VMs on a neighbourhood of hosts to go anywhere in that neighbourhood, everything else stays put,
and the sub-solve minimises the neighbourhood's goal, then moved memory. A round is kept when it
improves, lexicographically: the goal, then how many hosts sit at the peak (so a flat top can be
shaved a few hosts at a time), then the memory moved since the start. A peak already at its lower
bound (peak_floors.py) counts no hosts and no sub-solve gains by going under it: there only the
memory moved is left to lower.

The rounds run in the package's one round loop (`lns_rounds`); which hosts a round frees is
`lns_neighbourhoods`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from planner.solver.cpsat_model import Resource, build_model, extra_resources
from planner.solver.cpsat_setup import CpSatSetup, new_solver
from planner.solver.lns_neighbourhoods import EMPTYING_NEIGHBOURHOOD_HOSTS, KINDS, NEIGHBOURHOOD_HOSTS, neighbourhood
from planner.solver.lns_rounds import RoundResult, RoundTally, Rotation, run_rounds
from planner.solver.peak_floors import PeakFloors, peak_floors
from planner.solver.time_budget import MODELLED_SHARE, TimeBudget, call_limits
from planner.instance.problem import Problem, hosts_allowed_to_any
from planner.instance.state import PlacementState
from planner.domain.policy import SolverSettings


@dataclass(frozen=True)
class RoundShape:
    """A goal's rounds: how many hosts a neighbourhood frees, how long one sub-solve may run
    (deterministic units in deterministic mode, else seconds) and how many rounds in a row may keep
    nothing before LNS gives up early."""

    neighbourhood_hosts: int
    sub_solve_limit: float
    stall_rounds: int


SPREAD_ROUNDS = RoundShape(NEIGHBOURHOOD_HOSTS, sub_solve_limit=0.4, stall_rounds=12)
# Consolidation re-packs a few hosts (lns_neighbourhoods.EMPTYING_NEIGHBOURHOOD_HOSTS): a round
# empties one host quickly or not at all, so short sub-solves buy more rounds, and a run of empty
# rounds says less. Measured on the tight 1000x20000 clusters (seed 1, 30 s limit), hosts in use:
# fill 0.85, 966 at a 0.4 limit, 959 at 0.2, 947 at 0.1, 944 at 0.05; fill 0.80, 837 at 0.1 and
# 840 at 0.05. At fill 0.90 a 12-round stall ended the search after 18 rounds at 998 hosts;
# allowed 40 it went on to 991.
EMPTYING_ROUNDS = RoundShape(EMPTYING_NEIGHBOURHOOD_HOSTS, sub_solve_limit=0.1, stall_rounds=40)
# In deterministic mode the rounds are charged modelled seconds of this machine (2 cores), so the
# number of rounds, and the plan, repeat while the wall clock follows: CP-SAT's deterministic time
# at the rate one-worker sub-solves run, the Python that states a sub-model and its hint per
# Boolean, and a fixed part. Measured on scenarios/large-200x3000.yaml, spread and consolidate
# (3,800 and 7,400 Booleans a round): 0.4 units in 0.61-0.66 s, 36-42 µs per Boolean.
SUB_SOLVE_UNITS_PER_S = 0.6
BUILD_S_PER_VARIABLE = 40e-6
ROUND_S = 0.02


def round_seconds(deterministic_time: float, variables: int) -> float:
    """The modelled seconds one round costs."""
    return deterministic_time / SUB_SOLVE_UNITS_PER_S + BUILD_S_PER_VARIABLE * variables + ROUND_S


@dataclass(frozen=True)
class LnsOutcome:
    assignment: tuple[int, ...]
    goal: int  # the assignment's goal value, read off the search's own state
    rounds: int
    accepted: int
    # The wall clock ended a deterministic search: this plan may not repeat.
    wall_clock_cut: bool = False


def score(problem: Problem, state: PlacementState, floors: PeakFloors | None = None) -> tuple[int, int, int]:
    """(goal, hosts at the peak or in use, MiB moved weighed by the move costs): lower is better,
    compared in that order. Hosts at a peak are counted only for peaks above their `floors`."""
    if problem.goal.minimises_hosts:
        used = state.hosts_in_use()
        return used, used, state.move_cost
    floors = floors or {}
    wc, wm = problem.spread_weights
    peak_cpu, peak_mem = state.peaks()
    mask = state.metric_mask
    cpu_counts = wc and peak_cpu > floors.get(Resource.CPU_LOAD, -1)
    memory_counts = wm and peak_mem > floors.get(Resource.MEMORY, -1)
    at_peak = (int(((state.cpu_pm == peak_cpu) & mask).sum()) if cpu_counts else 0) + \
              (int(((state.mem_pm == peak_mem) & mask).sum()) if memory_counts else 0)
    if problem.resources:
        peaks = state.extra_peaks()
        above = np.array([peak > floors.get(extra, -1) for extra, peak in zip(extra_resources(problem), peaks.tolist())])
        weighed = (np.asarray(problem.extra_weights) > 0) & above
        at_peak += int(((state.extra_pm == peaks) & mask[:, None] & weighed).sum())
    return state.spread_metric(), at_peak, state.move_cost


def improve(problem: Problem, assignment: list[int], settings: SolverSettings, seconds: float,
            *, deadline: float | None = None, modelled_s: float | None = None,
            on_better: Callable[[int], None] | None = None) -> LnsOutcome:
    """Run LNS rounds for at most `seconds` of wall clock (until `deadline`, a time.monotonic()
    value, when given); in deterministic mode also for `modelled_s` modelled seconds (round_seconds;
    default `seconds` × MODELLED_SHARE), so the number of rounds, and the plan, repeat. `on_better`
    hears each lower goal found."""
    end = time.monotonic() + seconds if deadline is None else deadline
    work = seconds * MODELLED_SHARE if modelled_s is None else modelled_s
    budget = TimeBudget(end, work if settings.deterministic else None)
    movable_hosts = sorted(hosts_allowed_to_any(problem.movable) & problem.metric_hosts)
    if len(movable_hosts) < 2:
        return LnsOutcome(tuple(assignment), PlacementState(problem, assignment).goal_value(), 0, 0)
    shape = EMPTYING_ROUNDS if problem.goal.minimises_hosts else SPREAD_ROUNDS
    engine = _HostLns(problem, PlacementState(problem, assignment), settings, budget, movable_hosts, on_better,
                      shape.neighbourhood_hosts)
    tally = RoundTally()
    run_rounds(engine, Rotation(KINDS), _ModelledWork(budget, shape.sub_solve_limit), tally,
               stall_after=shape.stall_rounds)
    return LnsOutcome(tuple(engine.state.assignment), engine.state.goal_value(), tally.rounds, tally.kept,
                      tally.cut or budget.cut())


class _HostLns:
    """The product's engine of the shared round loop (`lns_rounds`): neighbourhoods of hosts, each
    kind in turn, a round kept when it improves `score`."""

    def __init__(self, problem: Problem, state: PlacementState, settings: SolverSettings, budget: TimeBudget,
                 movable_hosts: list[int], on_better: Callable[[int], None] | None, neighbourhood_hosts: int) -> None:
        self.problem, self.state, self.settings, self.budget = problem, state, settings, budget
        self.movable_hosts = movable_hosts
        self.neighbourhood_hosts = neighbourhood_hosts
        self.on_better = on_better
        self.rng = random.Random(settings.seed)
        self.floors = {} if problem.goal.minimises_hosts else peak_floors(problem)
        self.best = score(problem, state, self.floors)

    def round(self, kind: int, limit: float) -> RoundResult:
        hosts = neighbourhood(self.problem, self.state, self.movable_hosts, self.rng, kind, self.neighbourhood_hosts)
        sub = sub_solve(self.problem, self.state, hosts, self.settings, self.budget, limit, self.floors)
        effort = round_seconds(sub.deterministic_time, sub.variables)
        if sub.changes is None:
            return RoundResult(kept=False, effort=effort, solved=sub.variables > 0, cut=sub.cut)
        mark = len(self.state.moves)
        for index, host in sub.changes:
            self.state.move(self.problem.units[index], host)
        trial = score(self.problem, self.state, self.floors)
        if not trial < self.best:
            self.state.undo_to(mark)
            return RoundResult(kept=False, effort=effort, cut=sub.cut)
        gain = self.best[0] - trial[0]
        if self.on_better is not None and gain > 0:
            self.on_better(trial[0])
        self.best = trial
        return RoundResult(kept=True, gain=gain, effort=effort, cut=sub.cut)


@dataclass
class _ModelledWork:
    """The product's allowance: rounds until the wall-clock deadline and, in deterministic mode,
    until their modelled seconds fill the budget's work; a round's limit is in CP-SAT's units."""

    budget: TimeBudget
    cap: float  # one sub-solve's limit (RoundShape.sub_solve_limit)
    spent: float = 0.0

    def next_limit(self) -> float | None:
        work = self.budget.work
        if self.budget.expired() or (work is not None and self.spent >= work):
            return None
        return self.cap if work is None else min(self.cap, (work - self.spent) * SUB_SOLVE_UNITS_PER_S)

    def charge(self, result: RoundResult) -> None:
        self.spent += result.effort


@dataclass(frozen=True)
class SubSolve:
    """What one sub-solve found and cost."""

    changes: list[tuple[int, int]] | None  # (unit, host) moves; None if it found no plan
    deterministic_time: float
    variables: int
    cut: bool  # the wall clock, not the deterministic cap, ended it


def sub_solve(problem: Problem, state: PlacementState, hosts: frozenset[int], settings: SolverSettings,
              budget: TimeBudget, limit: float, floors: PeakFloors) -> SubSolve:
    """The movable VMs on `hosts` re-placed among them: the neighbourhood's goal (peaks counted no
    lower than `floors`), then the memory moved, within `limit` (deterministic units in deterministic
    mode, else seconds) and the budget's wall clock; the changes are not made."""
    candidates = {}
    for host in hosts:
        for index in state.units_on[host]:
            unit = problem.units[index]
            if not unit.fixed:
                options = tuple(sorted(unit.allowed & hosts))
                if len(options) > 1:
                    candidates[index] = options
    if not candidates:
        return SubSolve(None, 0.0, 0, False)
    model = build_model(problem, candidates, state.assignment, goal_hosts=hosts, state=state, peak_floors=floors)
    weight = sum(max(problem.units[u].weighted_cost(h) for h in options) for u, options in candidates.items()) + 1
    model.model.minimize(weight * model.goal + model.cost)
    model.hint(state.assignment, state)
    seconds = None if settings.deterministic else limit
    solver = new_solver(CpSatSetup(seed=settings.seed), call_limits(budget, limit, seconds))
    status = solver.solve(model.model)
    used, variables = solver.response_proto.deterministic_time, len(model.x)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return SubSolve(None, used, variables, budget.cut_call(solver, status))
    changes = [(unit, host) for (unit, host), var in model.x.items()
               if host != state.assignment[unit] and solver.boolean_value(var)]
    return SubSolve(changes, used, variables, budget.cut_call(solver, status))
