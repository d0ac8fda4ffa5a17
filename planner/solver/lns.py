"""Large-neighbourhood search: small CP-SAT sub-solves over a few hosts, accepted when they help.

At 1,000 hosts × 20,000 VMs the whole model (~140k Booleans) returns nothing in 10 s on two
cores; a sub-problem over ~20 hosts solves in a fraction of a second. Each round frees the movable
VMs on a neighbourhood of hosts to go anywhere in that neighbourhood, everything else stays put,
and the sub-solve minimises the neighbourhood's goal, then moved memory. A round is kept when it
improves, lexicographically: the goal, then how many hosts sit at the peak (so a flat top can be
shaved a few hosts at a time), then the memory moved since the start.

Neighbourhoods follow the goal, because a random set of hosts rarely holds a move that helps: the
hottest hosts with the coolest ones (load goes from one to the other); hosts to empty with the
roomiest kept ones; the hosts of VMs already moved (so a VM can go back and cost nothing); a random
mix for diversity.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from planner.solver.cpsat_model import build_model
from planner.solver.cpsat_setup import CpSatSetup, new_solver
from planner.solver.time_budget import MODELLED_SHARE, TimeBudget, call_limits
from planner.instance.problem import Problem, hosts_allowed_to_any
from planner.instance.state import PlacementState
from planner.domain.policy import SolverSettings

NEIGHBOURHOOD_HOSTS = 16
# Cap of one sub-solve: deterministic units in deterministic mode, else seconds.
SUB_SOLVE_LIMIT = 0.4
# Rounds in a row that find nothing before LNS gives up early.
STALL_ROUNDS = 12
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
    rounds: int
    accepted: int
    # The wall clock ended a deterministic search: this plan may not repeat.
    wall_clock_cut: bool = False


def score(problem: Problem, state: PlacementState) -> tuple[int, int, int]:
    """(goal, hosts at the peak or in use, MiB moved weighed by the move costs): lower is better,
    compared in that order."""
    if problem.goal.minimises_hosts:
        used = state.hosts_in_use()
        return used, used, state.move_cost
    wc, wm = problem.spread_weights
    peak_cpu, peak_mem = state.peaks()
    mask = state.metric_mask
    at_peak = (int(((state.cpu_pm == peak_cpu) & mask).sum()) if wc else 0) + \
              (int(((state.mem_pm == peak_mem) & mask).sum()) if wm else 0)
    if problem.resources:
        weighed = np.asarray(problem.extra_weights) > 0
        at_peak += int(((state.extra_pm == state.extra_peaks()) & mask[:, None] & weighed).sum())
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
    rng = random.Random(settings.seed)
    state = PlacementState(problem, assignment)
    movable_hosts = sorted(hosts_allowed_to_any(problem.movable) & problem.metric_hosts)
    if len(movable_hosts) < 2:
        return LnsOutcome(tuple(assignment), 0, 0)
    best, spent, rounds, accepted, stalled, cut = score(problem, state), 0.0, 0, 0, 0, False
    while stalled < STALL_ROUNDS and not budget.expired() and (budget.work is None or spent < budget.work):
        hosts = _neighbourhood(problem, state, movable_hosts, rng, rounds)
        limit = SUB_SOLVE_LIMIT if budget.work is None else \
            min(SUB_SOLVE_LIMIT, (budget.work - spent) * SUB_SOLVE_UNITS_PER_S)
        sub = _sub_solve(problem, state, hosts, settings, budget, limit)
        rounds, stalled, cut = rounds + 1, stalled + 1, cut or sub.cut
        spent += round_seconds(sub.deterministic_time, sub.variables)
        if sub.changes is None:
            continue
        mark = len(state.moves)
        trial = _try(problem, state, sub.changes)
        if trial < best:
            if on_better is not None and trial[0] < best[0]:
                on_better(trial[0])
            best, accepted, stalled = trial, accepted + 1, 0
        else:
            state.undo_to(mark)
    return LnsOutcome(tuple(state.assignment), rounds, accepted, cut or budget.cut())


def _try(problem: Problem, state: PlacementState, changes: list[tuple[int, int]]) -> tuple[int, int, int]:
    """Apply a sub-solve's moves and score the result (the caller undoes them if it is no better)."""
    for index, host in changes:
        state.move(problem.units[index], host)
    return score(problem, state)


def _neighbourhood(problem: Problem, state: PlacementState, hosts: list[int], rng: random.Random,
                   round_number: int) -> frozenset[int]:
    size = min(NEIGHBOURHOOD_HOSTS, len(hosts))
    strategy = round_number % 3
    if strategy == 2:
        return _moved_hosts(problem, state, hosts, rng, size)
    if problem.goal.minimises_hosts:
        return _empty_and_roomy(state, hosts, rng, size)
    return _hot_and_cold(problem, state, hosts, rng, size, exact=strategy == 0)


def _hot_and_cold(problem: Problem, state: PlacementState, hosts: list[int], rng: random.Random,
                  size: int, exact: bool) -> frozenset[int]:
    wc, wm = problem.spread_weights
    extra = state.extra_pm @ np.asarray(problem.extra_weights, dtype=np.int64)
    heat = (wc * state.cpu_pm + wm * state.mem_pm + extra)[hosts]
    order = [hosts[i] for i in np.argsort(-heat, kind="stable")]
    hot_count = size // 2
    if exact:
        hot = order[:hot_count]
    else:  # a random few among the hottest quarter, so repeated rounds do not redo one sub-problem
        hot = rng.sample(order[: max(hot_count, len(order) // 4)], hot_count)
    cold_pool = order[-max(size, len(order) // 4):]
    cold = rng.sample(cold_pool, min(len(cold_pool), size - hot_count))
    return frozenset(hot) | frozenset(cold)


def _empty_and_roomy(state: PlacementState, hosts: list[int], rng: random.Random, size: int) -> frozenset[int]:
    used = [h for h in hosts if state.units_on[h]]
    if len(used) < 2:
        return frozenset(rng.sample(hosts, size))
    light = sorted(used, key=lambda h: (state.memory[h], h))
    to_empty = rng.sample(light[: max(4, len(light) // 5)], min(2, len(light)))
    roomy = sorted(used, key=lambda h: (state.memory[h] - state.problem.memory_limit[h], h))
    pool = [h for h in roomy[: max(size * 2, len(roomy) // 3)] if h not in to_empty]
    return frozenset(to_empty) | frozenset(rng.sample(pool, min(len(pool), size - len(to_empty))))


def _moved_hosts(problem: Problem, state: PlacementState, hosts: list[int], rng: random.Random,
                 size: int) -> frozenset[int]:
    """Where moved VMs came from and went: lets a VM go home, or a cheaper one go instead."""
    moved = [u for u in problem.movable if state.assignment[u.index] != u.member_hosts[0]]
    if not moved:
        return frozenset(rng.sample(hosts, size))
    chosen: set[int] = set()
    for unit in rng.sample(moved, min(len(moved), size)):
        chosen.update({unit.member_hosts[0], state.assignment[unit.index]})
        if len(chosen) >= size:
            break
    return frozenset(h for h in chosen if h in problem.metric_hosts)


@dataclass(frozen=True)
class SubSolve:
    """What one sub-solve found and cost."""

    changes: list[tuple[int, int]] | None  # (unit, host) moves; None if it found no plan
    deterministic_time: float
    variables: int
    cut: bool  # the wall clock, not the deterministic cap, ended it


def _sub_solve(problem: Problem, state: PlacementState, hosts: frozenset[int], settings: SolverSettings,
               budget: TimeBudget, limit: float) -> SubSolve:
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
    model = build_model(problem, candidates, state.assignment, goal_hosts=hosts, state=state)
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
