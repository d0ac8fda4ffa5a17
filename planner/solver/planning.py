"""From rules to a Plan: greedy, CP-SAT, independent validation, benefit gate, bounds, reasons.

`to_placement` is re-exported here for the benchmark runners."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from planner.bounds.lower_bounds import consolidate_bound, lower_bounds, spread_bound
from planner.domain.errors import InfeasibleError
from planner.explain.reasons import move_reasons
from planner.solver.greedy import greedy_placement, units_needing_repair
from planner.solver.greedy_budget import MS_PER_SECOND, GreedyBudget
from planner.solver.progress import ProgressSink, SolveProgress, ignore
from planner.solver.trade import MIB_PER_GIB, TradePoint, choose, greedy_path, options, state_at
from planner.solver.time_budget import MAY_NOT_REPEAT, WALL_CLOCK_CUT, modelled_allowance, modelled_setup_s
from planner.domain.goal_metric import goal_metric
from planner.domain.metrics import usage_by_host
from planner.instance.problem import Problem, Unit, build_problem
from planner.solver.cpsat_solve import SolveOutcome, solve_placement
from planner.solver.drain_room import DrainStart, drain_start, named
from planner.instance.state import PlacementState
from planner.domain.policy import Goal, SolverSettings
from planner.domain.plan import GoalMetric, Move, Plan, SolverStats, default_expiry, utc_now
from planner.rules.resolve import RuleSet
from planner.solver.collector import full_collections_rare
from planner.solver.compiled_cover import compile_cover
from planner.solver.compiled_heat import compile_heat
from planner.solver.compiled_relief import compile_relief
from planner.solver.compiled_scores import compile_scores
from planner.solver.compiled_swaps import compile_swaps
from planner.solver.checked import FORCED, SOLVER_NAMES, checked, solve_without_greedy, to_placement


# What checking and writing up a plan takes after the search, per VM group: measured here (2 cores)
# on the tight clusters, 9-13 µs at 20,000 VMs and 15-17 µs at 100,000 and 200,000 (the validator's
# and the write-up's passes over the hosts and VMs); about 1.2 × that.
ASSEMBLY_S_PER_UNIT = 20e-6
# The search keeps at least the rest of the limit, however many VMs.
MAX_ASSEMBLY_SHARE = 0.3
# Below this share of the work a small cluster's search gets from the same limit, the plan says the
# limit was short for the cluster's size (at 200,000 VMs the default 10 s leaves about a fifth).
SHORT_SEARCH_SHARE = 0.25


def make_plan(rules: RuleSet, now: datetime | None = None, *, fallback: bool = True,
              progress: ProgressSink = ignore) -> Plan:
    """Raises InfeasibleError when the goal cannot be met without breaking a hard rule.

    With `fallback=False` a solver plan the validator rejects (or one worse than the greedy's)
    raises an internal error instead of being replaced by the greedy plan: the model tests use it
    so that a wrong CP-SAT model fails them rather than hiding behind the greedy. `progress` hears
    the best goal so far after the greedy and each time the search improves it.
    """
    compile_scores()  # before the clock: compiling is not planning (every goal's repair scores hosts)
    if rules.policy.goal is Goal.SPREAD:
        compile_relief()
        compile_heat()
        compile_swaps()
        compile_cover()
    with full_collections_rare():
        return _make_plan(rules, now, fallback, progress)


@dataclass(frozen=True)
class SetUp:
    """What planning works out before its search: the problem, where the VMs run now as a state
    (a drain's with its repair), the units that must move and the goal's lower bound."""

    problem: Problem
    drain: DrainStart | None
    start: PlacementState
    must_move: list[Unit]
    goal_bound: int


def set_up(rules: RuleSet) -> SetUp:
    """The part of planning time_budget.modelled_setup_s models (benchmarks.fixed_costs times it)."""
    drain = drain_start(rules) if rules.policy.goal.traits.moves_only_drained else None
    problem = drain.problem if drain is not None else build_problem(rules)
    start = drain.start if drain is not None else PlacementState(problem)
    must_move = units_needing_repair(start)
    goal_bound = consolidate_bound(problem) if problem.goal.minimises_hosts else spread_bound(problem)
    return SetUp(problem, drain, start, must_move, goal_bound)


def _make_plan(rules: RuleSet, now: datetime | None, fallback: bool, progress: ProgressSink) -> Plan:
    started = time.monotonic()  # the time limit counts the greedy too
    ready = set_up(rules)
    problem, drain, start, must_move, goal_bound = \
        ready.problem, ready.drain, ready.start, ready.must_move, ready.goal_bound
    settings = _searching_time(rules.policy.solver, len(problem.units))
    notes: list[str] = []
    trade_note = ""  # the goal-versus-migration options, noted after the decisions
    setup_s = modelled_setup_s(len(problem.units), len(must_move))
    reserved_s = rules.policy.solver.time_limit_s - settings.time_limit_s  # checking and writing up the plan
    greedy_budget = GreedyBudget.of(settings, started, setup_s, after_s=reserved_s)
    try:
        greedy = _greedy(problem, drain, greedy_budget, start, goal_bound)
    except InfeasibleError as refusal:
        greedy = None
        outcome = solve_without_greedy(problem, start, goal_bound, refusal, fallback, started)
        final = PlacementState(problem, outcome.assignment)
        greedy_goal = start.goal_value()
        notes.append(_without_greedy_note(refusal, outcome))
    else:
        greedy_goal = greedy.goal_value()
        progress(SolveProgress("greedy", greedy_goal, goal_bound, time.monotonic() - started))
        outcome = solve_placement(problem, start, greedy, settings, greedy_goal, goal_bound, started=started,
                                  spent_s=_greedy_spent_s(greedy_budget, settings, setup_s), setup_s=setup_s,
                                  progress=progress)
        outcome, final = checked(problem, outcome, greedy, fallback)
    if greedy is not None and problem.goal is Goal.SPREAD:
        outcome, final, trade_note = _traded(problem, greedy, outcome, final, notes)
    if greedy_budget.wall_clock_cut:
        notes.append(f"the greedy passes were {WALL_CLOCK_CUT}")
    elif greedy_budget.paced:
        notes.append("this machine ran slower than the greedy's modelled work allows for, so its passes were "
                     f"shortened to keep the time limit: {MAY_NOT_REPEAT}")
    short = _short_search_note(rules.policy.solver, settings, setup_s, len(problem.units), len(must_move))
    notes += short or _cut_by_work_note(greedy_budget, rules.policy.solver)
    if not must_move and not _worth_it(problem, start, final, notes, goal_bound):
        final = start
    if trade_note:
        notes.append(trade_note)
    if drain is not None and drain.aside:
        notes[:0] = _aside_notes(problem, final, drain.aside)
    return _assemble(problem, start, final, outcome, greedy_goal, must_move, goal_bound, notes, now or utc_now())


def _greedy(problem: Problem, drain: DrainStart | None, budget: GreedyBudget, start: PlacementState,
            goal_bound: int) -> PlacementState:
    """The greedy placement from `start` (where the VMs run now); a drain's is the repair
    drain_start already ran, or its refusal (a DrainStart holds one of the two)."""
    if drain is None:
        return greedy_placement(problem, budget, start, goal_bound if problem.goal.minimises_hosts else None)
    if drain.refusal is not None:
        raise drain.refusal
    return drain.repaired


def _greedy_spent_s(budget: GreedyBudget, settings: SolverSettings, setup_s: float) -> float:
    """The modelled seconds the greedy's passes took from the limit, for the search after them: their
    modelled work, so that passes which ended on their own leave the same search as on a quick
    machine; all of the modelled allowance when the pace shaped them (pace.py), since it gave them
    the time up to the limit's end and an LNS round started then runs past it."""
    if budget.paced:
        return modelled_allowance(settings, setup_s)
    return budget.modelled_ms / MS_PER_SECOND


def _searching_time(settings: SolverSettings, units: int) -> SolverSettings:
    """The settings with the time the search may take: the limit less what checking and writing
    up the plan takes after it (bounds, reasons, usage per host), so the whole call keeps the limit."""
    reserve = min(ASSEMBLY_S_PER_UNIT * units, settings.time_limit_s * MAX_ASSEMBLY_SHARE)
    return replace(settings, time_limit_s=settings.time_limit_s - reserve)


def _short_search_note(asked: SolverSettings, searching: SolverSettings, setup_s: float, units: int,
                       must_move: int) -> list[str]:
    """A note when the limit (`asked`) leaves the search little of its time at this size: building
    the problem, the moves that must be made and writing up the plan are modelled (time_budget), so
    whether the note appears does not depend on how fast this run was."""
    left = modelled_allowance(searching, setup_s)
    if left >= SHORT_SEARCH_SHARE * modelled_allowance(asked):
        return []
    work = f"building the problem for {units:,} VM groups, the {must_move:,} moves that must be made and " \
           "checking and writing up the plan"
    if left <= 0:
        needed = setup_s + ASSEMBLY_S_PER_UNIT * units
        return [f"the {asked.time_limit_s:g} s limit leaves the search no time and planning may run past it: "
                f"{work} take up to about {needed:.0f} s at this size; allow that much with --time-limit"]
    return [f"the {asked.time_limit_s:g} s limit leaves the search about {left:.1f} s of modelled work: {work} "
            f"take the rest at this size; a longer --time-limit gives it more"]


def _cut_by_work_note(budget: GreedyBudget, asked: SolverSettings) -> list[str]:
    """A note when the greedy's passes used all of their modelled work: they stopped while they
    could still change the plan, well before the limit on a fast machine. Decided by the modelled
    work, not the clock, so the note repeats with the plan."""
    if not budget.work_ran_out() or budget.wall_clock_cut or budget.paced:
        return []
    return [f"the search stopped when it had used the work the {asked.time_limit_s:g} s limit buys in "
            "deterministic mode, before its greedy passes had finished; that work is budgeted for a slow, busy "
            "machine so that a seed repeats, so on a quick one the plan comes back well within the limit. A "
            "longer --time-limit searches further; solver.deterministic: false searches until the limit "
            "(the plan may then not repeat)"]


def _traded(problem: Problem, greedy: PlacementState, outcome: SolveOutcome, solved: PlacementState,
            notes: list[str]) -> tuple[SolveOutcome, PlacementState, str]:
    """The solver's plan (`outcome`, placed as `solved`), or a lighter one on the greedy's path when
    the goal it gives up is worth less than the memory it saves (limits.min_gain_per_moved_gib),
    and a note listing the options ("" when there is only one)."""
    per_gib = problem.rules.policy.limits.min_gain_per_moved_gib
    points = greedy_path(greedy) + [TradePoint.of(solved, None)]
    chosen = choose(points, per_gib)
    shown = options(points)
    note = "" if len(shown) < 2 else ("trade-off (goal, moves, migrated memory): " + "; ".join(map(_option, shown)) +
                                      f"; limits.min_gain_per_moved_gib = {per_gib:g} ‰ per GiB picks the plan")
    if chosen.step is None:
        return outcome, solved, note
    notes.append(f"kept the plan at {_option(chosen)} rather than {_option(points[-1])}: each GiB migrated "
                 f"must lower the goal by {per_gib:g} ‰ (limits.min_gain_per_moved_gib)")
    # A greedy plan already labelled (a rejected CP-SAT plan's fallback) keeps its label.
    method = outcome.method if outcome.method.startswith("greedy") else "greedy"
    kept = state_at(problem, greedy, chosen.step)
    return replace(outcome, assignment=tuple(kept.assignment), method=method,
                   status=f"{outcome.status}; traded for less migration"), kept, note


def _option(point: TradePoint) -> str:
    gib = point.moved_mib / MIB_PER_GIB
    return f"{point.goal} ‰ with {point.moves} moves / {gib:.{1 if gib < 10 else 0}f} GiB"


def _aside_notes(problem: Problem, final: PlacementState, aside: frozenset[str]) -> list[str]:
    """The note naming the VMs the drain's repair moved aside that the plan still moves: the search
    after the repair may send one home where the drained VMs found room without it."""
    moving = frozenset(vm for unit in problem.units for vm, home in zip(unit.vms, unit.member_hosts)
                       if vm in aside and final.assignment[unit.index] != home)
    if not moving:
        return []
    return [f"{len(moving)} VM(s) not on the drained hosts move too ({named(moving)}): the drained VMs fit the room "
            f"the others left only once these moved aside"]


def _without_greedy_note(refusal: InfeasibleError, outcome: SolveOutcome) -> str:
    found = "the only placement the rules leave does" if outcome.status == FORCED else \
        f"{SOLVER_NAMES.get(outcome.method, outcome.method)} found one that does"
    return f"the greedy repair found no placement that keeps every rule ({refusal}); {found}"


def _worth_it(problem: Problem, start: PlacementState, final: PlacementState, notes: list[str],
              goal_bound: int) -> bool:
    """The benefit gate: drains always run; spread/consolidate only for a real improvement. With no
    moves the note says why: the cluster is at the goal's lower bound, or the search found nothing
    better (which is not the same: a short limit or a tight cluster can leave a better plan unfound)."""
    if not problem.goal.traits.benefit_gate:
        return True
    before, after = start.goal_value(), final.goal_value()
    gain = 100.0 * (before - after) / before if before else 0.0
    needed = problem.rules.policy.limits.min_improvement_percent
    if after < before and gain >= needed:
        return True
    if final.assignment != start.assignment:
        notes.append(f"no moves: the best plan found improves the goal by {gain:.1f} %, "
                     f"below the benefit gate of {needed:g} % (limits.min_improvement_percent)")
    elif before <= goal_bound:
        notes.append("no moves: the cluster is already at the goal's lower bound")
    else:
        unit = " hosts in use" if problem.goal.minimises_hosts else " ‰"
        notes.append(f"no moves: the search found no plan better than the cluster as it is (the goal stands at "
                     f"{before}{unit}, its lower bound at {goal_bound}{unit})")
    return False


def _assemble(problem: Problem, start: PlacementState, final: PlacementState, outcome: SolveOutcome,
              greedy_goal: int, must_move: list[Unit], goal_bound: int, notes: list[str], now: datetime) -> Plan:
    rules = problem.rules
    cluster = rules.cluster
    placement = to_placement(problem, final.assignment)
    before, after = usage_by_host(cluster), usage_by_host(cluster, placement)
    metric_hosts = [problem.hosts[h].name for h in sorted(problem.metric_hosts)]
    metric = _metric(problem, [before[h] for h in metric_hosts], [after[h] for h in metric_hosts])
    freed = tuple(h for h in metric_hosts if not before[h].empty and after[h].empty and h not in rules.drained)
    drained = tuple(sorted(rules.drained))
    reasons = move_reasons(rules, problem.goal, placement, before, after, frozenset(freed),
                           _repair_reasons(problem, must_move))
    moves = tuple(
        Move(vm.name, vm.uuid, vm.host, placement[vm.name], vm.memory_mib, vm.vcpus, vm.cpu_load_millicores,
             reasons[vm.name])
        for vm in cluster.vms if placement[vm.name] != vm.host
    )
    solver = SolverStats(
        method=outcome.method if moves else "none",
        status=outcome.status,
        wall_time_s=round(outcome.wall_time_s, 3),
        greedy_goal=greedy_goal,
        objective=metric.after,
        best_bound=outcome.goal_bound,
        variables=outcome.variables,
        lns_rounds=outcome.lns_rounds,
    )
    return Plan(
        goal=problem.goal,
        cluster=cluster,
        moves=moves,
        metric=metric,
        before=tuple(before.values()),
        after=tuple(after.values()),
        bounds=lower_bounds(problem, start, final, must_move, goal_bound),
        solver=solver,
        created=now,
        expires=default_expiry(now),
        freed_hosts=freed if problem.goal.traits.reports_freed_hosts else (),
        drained_hosts=drained,
        notes=tuple(notes),
    )


def _metric(problem: Problem, before: list, after: list) -> GoalMetric:
    return goal_metric(problem.goal, problem.rules.policy.spread, before, after)


def _repair_reasons(problem: Problem, must_move: list[Unit]) -> Mapping[str, str]:
    reasons = {}
    for unit in must_move:
        for name in unit.vms:
            reasons[name] = "a rule or a host limit is broken where it runs now"
    return reasons
