"""Fast heuristics: the warm start for CP-SAT, the fallback when it finds nothing, and a baseline.

All of them work on a PlacementState and only ever make moves that keep every hard rule, so their
result is a valid plan on its own.

- repair: VMs that must move (drained host, broken rule, host over a hard limit) go to the host
  where they raise the utilisation least. A drain is exactly this. A min_spread group on too few
  domains then sends members from crowded domains to the least loaded host of an unused one.
- spread: repeatedly move a VM off a host at the peak to a host that stays below the peak
  (one step: planner/solver/peak_relief.py).
- consolidate: empty the cheapest hosts one by one into the hosts that stay on (best fit).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from planner.bounds.lower_bounds import consolidate_bound, spread_peak_bounds
from planner.domain.errors import InfeasibleError
from planner.solver.aim_check import AimCheck
from planner.solver.homecoming import send_home
from planner.solver.host_emptying import consolidate_hosts
from planner.solver.infeasibility import explain_no_room
from planner.solver.keep_k import keep_k
from planner.solver.lowest_accepted import lowest_accepted
from planner.solver.caps import Caps
from planner.solver.compiled_scores import candidate_scores
from planner.solver.greedy_budget import GreedyBudget
from planner.solver.peak_floors import at_floors, peak_floors
from planner.solver.peak_relief import best_peak_relief, coolness, peak_view
from planner.solver.repack import repack_relief
from planner.solver.room_making import make_room
from planner.domain.metrics import permille, permilles
from planner.instance.problem import Problem, Unit
from planner.instance.state import PlacementState
from planner.domain.policy import Goal

MAX_GREEDY_STEPS = 100_000
SMALL_PROBLEM_UNITS = 5_000
# Share of the greedy's budget the pass aimed at the bound may use. Cut short, it leaves the hosts
# it has not reached at their peak; the step by step pass after it always relieves the hottest
# host, so what is left of the budget lowers the peak the most there. Measured with the 10 s
# limit's budget on the tight 1000x20000 clusters (fills 0.80 and 0.88, seeds 1-3), medians
# 506 / 661 per-mille at 0.5, 502 / 639 at 0.7, 499 / 628 at 0.85, 560 / 711 at 1.0.
AIMED_SHARE = 0.85
# Share of what the rounds left that the first re-packing pass may use (repack.py): the rest is for
# the homecoming pass when it finds nothing. Given all of it, a pass that relieved one host at a
# peak that stayed left homecoming nothing (tight 1000x20000, fill 0.75, seed 3, 10 s limit: 102,538
# GiB migrated where 88,250 did for the same 450 per-mille).
REPACK_SHARE = 0.5
# The most of the greedy's budget the first aimed rounds may have used for a second run to be tried
# (_second_try_pays).
SECOND_TRY_AFTER = 0.5
# Aimed rounds at most (each must lower the metric; see _aimed_rounds).
MAX_AIMED_ROUNDS = 8
# Share of the greedy's budget consolidation's host emptying may use before keep-k gets the rest.
# Keep-k is the better of the two on benchmarks.solve's clusters and needs 0.6-0.9 s of the 4.1
# modelled seconds at 1000x20000, where the emptying's ejections alone fill 3.1-3.6 s: given all it
# wanted, the emptying left keep-k too little (494 and 505 hosts instead of 489 and 492, seeds 2 and
# 3). The emptying goes first because what it frees stands when it is cut short; a keep-k try cut
# short counts for nothing (run first at 10,000 hosts with a 10 s limit, it left no plan at all).
EMPTYING_SHARE = 0.6


def greedy_placement(problem: Problem, budget: GreedyBudget | None = None,
                     start: PlacementState | None = None, host_bound: int | None = None) -> PlacementState:
    """The heuristic placement for the problem's goal (always satisfies the hard rules). The repair
    always completes; the spread passes after it stop when `budget` is spent. `start` (where the VMs
    run now) is copied rather than built again (0.4 s at 200,000 VMs), `host_bound` (consolidate_bound)
    used if known: computed inside the passes it is work their budget does not charge."""
    state = start.copy() if start is not None else PlacementState(problem)
    repair(state)
    if problem.goal is Goal.SPREAD:
        return spread_greedy(state, budget or GreedyBudget())
    if problem.goal is Goal.CONSOLIDATE:
        return _best_consolidation(state, budget, consolidate_bound(problem) if host_bound is None else host_bound)
    return state  # a drain's repair already empties the drained hosts


def _best_consolidation(repaired: PlacementState, budget: GreedyBudget | None, host_bound: int) -> PlacementState:
    """Both consolidation heuristics from the repaired placement; fewer hosts wins, then less memory.
    The host emptying first, within EMPTYING_SHARE of `budget` (it stops starting hosts when that is
    spent, and what it freed so far stands); keep-k then gets the rest (a try it cuts counts for
    nothing), searching down to `host_bound`."""
    emptied = repaired.copy()
    consolidate_hosts(emptied, budget.share(EMPTYING_SHARE) if budget is not None else None)
    if budget is not None and budget.spent():
        return emptied
    kept = repaired.copy()
    if not keep_k(kept, host_bound, budget):
        return emptied
    return min((emptied, kept), key=lambda s: (s.hosts_in_use(), s.move_cost))


# -- budget -----------------------------------------------------------------------------------

def balance_score(state: PlacementState, unit: Unit, host: int) -> int:
    """Weighted utilisation of `host` with `unit` on it: lower is a better place to put load."""
    wc, wm = state.problem.spread_weights
    extra = sum(w * permille(int(used) + need, int(capacity)) for w, used, need, capacity
                in zip(state.problem.extra_weights, state.sizes[host, 3:], unit.extra, state.extra_capacity[host]))
    return wc * permille(state.load[host] + unit.cpu_load, state.cpu_capacity[host]) + \
        wm * permille(state.memory[host] + unit.memory_mib, state.memory_capacity[host]) + \
        permille(state.vcpus[host] + unit.vcpus, max(1, state.problem.vcpu_limit[host])) + extra


# -- repair (and drain) -------------------------------------------------------------------------

def _rule_breakers(state: PlacementState) -> list[Unit]:
    """Units on a host they may not use, over a hard limit, or crowding an anti-affinity domain."""
    problem = state.problem
    needy: dict[int, Unit] = {}
    for unit in problem.movable:
        host = state.assignment[unit.index]
        # A split affinity group counts as being where its first member runs (the others join
        # it there); it needs repair only if that host is not allowed.
        if host not in unit.allowed:
            needy[unit.index] = unit
    for host in range(len(problem.hosts)):
        if state.over_hard_limit(host):
            # Shed the largest movable VMs first: fewest moves to get back under the limit.
            for index in sorted(state.units_on[host], key=lambda i: -problem.units[i].memory_mib):
                unit = problem.units[index]
                if not unit.fixed:
                    needy[index] = unit
    for unit in _anti_affinity_surplus(state):
        needy[unit.index] = unit
    return sorted(needy.values(), key=lambda u: (-u.memory_mib, -u.vcpus, u.index))


def units_needing_repair(state: PlacementState) -> list[Unit]:
    """Units that must move: those `_rule_breakers` names, then for each min_spread group on too
    few domains as many members of crowded domains as it lacks domains (any would do; these are
    the ones repair tries first)."""
    needy = _rule_breakers(state)
    if state.problem.min_spread:
        listed = {u.index for u in needy}
        needy += [u for u in _spread_shortfall(state) if u.index not in listed]
    return needy


def _anti_affinity_surplus(state: PlacementState) -> Iterable[Unit]:
    """All but one member of each crowded domain (keep a fixed member, else the largest)."""
    problem = state.problem
    for layout in problem.anti_affinity:
        by_domain: dict[int, list[Unit]] = {}
        for index in layout.units:
            domain = layout.domain_of_host[state.assignment[index]]
            by_domain.setdefault(domain, []).append(problem.units[index])
        for crowd in by_domain.values():
            crowd.sort(key=lambda u: (not u.fixed, -u.memory_mib))
            yield from (u for u in crowd[1:] if not u.fixed)


def _spread_shortfall(state: PlacementState) -> list[Unit]:
    short: list[Unit] = []
    for group in range(len(state.problem.min_spread)):
        missing = state.spread_short(group)
        if missing:
            short += _spread_donors(state, group)[:missing]
    return short


def _spread_donors(state: PlacementState, group: int) -> list[Unit]:
    """Movable members that can leave their domain without emptying it, cheapest to move first."""
    problem = state.problem
    layout, occupancy = problem.min_spread[group], state.spread_occupancy[group]
    donors = []
    for index in layout.units:
        unit = problem.units[index]
        members = next(m.members for m in unit.min_spread if m.group == group)
        if not unit.fixed and occupancy[layout.domain_of_host[state.assignment[index]]] > members:
            donors.append(unit)
    return sorted(donors, key=lambda u: (u.weighted_memory, u.index))


def repair(state: PlacementState) -> None:
    """Move every unit that must move to the host it burdens least, then spread min_spread groups
    that sit on too few domains; fail with the reason if no host fits."""
    needy = _rule_breakers(state)
    # Take them all out of the way first, so they do not block each other's old spots.
    for unit in needy:
        best = _least_loaded_fit(state, unit, exclude=state.assignment[unit.index])
        if best is None:
            if make_room(state, unit, state.assignment[unit.index]) is not None:
                continue
            raise InfeasibleError(explain_no_room(state, unit, needy))
        if not state.within_budget(unit, best):
            raise InfeasibleError(
                f"the limits allow fewer moves than the {len(needy)} VM group(s) that must move "
                f"(drained hosts or broken rules); raise max_moves / max_moved_gib")
        state.move(unit, best)
    if state.problem.min_spread:
        _repair_min_spread(state)
    if units_needing_repair(state):
        left = ", ".join("+".join(u.vms) for u in units_needing_repair(state)[:5])
        raise InfeasibleError(f"could not find a placement that satisfies every rule for {left}")


def _repair_min_spread(state: PlacementState) -> None:
    problem = state.problem
    for group, rule in enumerate(problem.rules.min_spread):
        while state.spread_short(group):
            move = _spread_move(state, group)
            if move is None:
                raise InfeasibleError(
                    f"rule {rule.name!r} needs its VMs on {rule.at_least} distinct {rule.label}s but they run on "
                    f"{state.spread_distinct[group]} and none can move to another (no room, or another rule forbids it)")
            unit, host = move
            if not state.within_budget(unit, host):
                raise InfeasibleError(f"rule {rule.name!r} needs VMs moved to more {rule.label}s than the limits "
                                      f"allow; raise max_moves / max_moved_gib")
            state.move(unit, host)


def _spread_move(state: PlacementState, group: int) -> tuple[Unit, int] | None:
    """The cheapest donor, to the least loaded host that fits in a domain the group does not use."""
    domains, occupancy = state.problem.min_spread[group].domain_of_host, state.spread_occupancy[group]
    for unit in _spread_donors(state, group):
        options = [h for h in unit.allowed if domains[h] not in occupancy and state.fits(unit, h)]
        if options:
            return unit, min(options, key=lambda h: (balance_score(state, unit, h), h))
    return None


def _least_loaded_fit(state: PlacementState, unit: Unit, exclude: int) -> int | None:
    """The allowed host (not `exclude`) with the lowest balance_score that takes the unit; ties go
    to the lower host index. Scores are computed for every host at once, those without room struck;
    the rules (anti-affinity, min_spread) are checked in score order until one host passes."""
    # Every host scored, not only those with room (at a drain's start most have room for most VMs);
    # the lowest first, a host the rules refuse struck and the next taken: the first mostly passes.
    if state.problem.resources:
        candidates = state.allowed_mask(unit) & state.room_for(unit)
        candidates[exclude] = False
        scores = np.where(candidates, balance_scores(state, unit), np.inf)
    else:  # the same scores in one compiled pass (compiled_scores.py)
        demand = np.array((unit.memory_mib, unit.vcpus, unit.cpu_load), dtype=np.int64)
        scores = candidate_scores(state.sizes, state.limits, state.allowed_mask(unit), state.score_divisors, demand,
                                  *state.problem.spread_weights, exclude)
    return lowest_accepted(scores, lambda host: state.fits(unit, host))


def balance_scores(state: PlacementState, unit: Unit) -> np.ndarray:
    """balance_score of `unit` on every host, as one float array (whole numbers)."""
    # In floating point, whole columns at a time, in place: dividing int64 arrays took twice as
    # long, and the repair scores the hosts for each VM it places. Exact: MiB, vCPUs and millicores
    # stay far below metrics.FLOAT_EXACT, and the sum of three per-mille values is a whole number.
    wc, wm = state.problem.spread_weights
    sizes = state.sizes
    cpu, memory, vcpus = state.score_divisors
    scores = _permilles_with(sizes[:, 1], unit.vcpus, vcpus)
    scores += wc * _permilles_with(sizes[:, 2], unit.cpu_load, cpu)
    scores += wm * _permilles_with(sizes[:, 0], unit.memory_mib, memory)
    if state.problem.resources:
        extra = permilles(sizes[:, 3:] + unit.extra, state.extra_capacity)
        scores += extra @ np.asarray(state.problem.extra_weights)
    return scores


def _permilles_with(held: np.ndarray, more: int, divisor: np.ndarray) -> np.ndarray:
    """ceil(1000 · (held + more) / divisor) per host, in floating point."""
    quotient = (held + more) * 1000.0
    quotient /= divisor
    return np.ceil(quotient, out=quotient)


# -- spread -------------------------------------------------------------------------------------

def spread_greedy(repaired: PlacementState, budget: GreedyBudget) -> PlacementState:
    """Relieve every host above the lower bound (+1 ‰) straight into hosts that stay under it, then
    finish step by step where that stalls. Lowering the peak one level at a time instead makes hosts
    that took VMs early shed them again later, which moves more memory for the same peak; aiming at
    the bound from the start does not. Small problems also try the step-by-step pass alone and keep
    the better; large ones whose rounds end above the floor with most of the budget unused run them
    again, the aim raised for the hosts nothing takes under it, and keep the better
    (_second_try_pays). What budget they leave then lowers the memory the plan migrates at its peak
    (homecoming.py): the goal comes first, so none is kept back for it (kept back, a fifth of the
    budget took 18 % off the memory at fill 0.88 on the tight 1000x20000 clusters, where the
    greedy uses all of it, but left the peak 1-3 % higher)."""
    problem = repaired.problem
    aim = _aim(repaired)
    best = repaired.copy()
    started = budget.mark()
    _aimed_rounds(best, aim, budget)
    if _second_try_pays(best, budget, started):
        other = repaired.copy()
        _aimed_rounds(other, aim, budget, raise_when_stuck=True)
        best = _better(best, other)
    if len(problem.units) <= SMALL_PROBLEM_UNITS:
        stepwise = repaired.copy()
        improve_spread(stepwise, budget=budget)
        best = _better(best, stepwise)
    send_home(best, budget)
    return best


def _better(first: PlacementState, second: PlacementState) -> PlacementState:
    """The lower spread metric, then the lower move cost; `first` on a tie."""
    return min((first, second), key=lambda s: (s.spread_metric(), s.move_cost))


def _second_try_pays(first: PlacementState, budget: GreedyBudget, started: tuple[float, float]) -> bool:
    """Is a second run of the aimed rounds worth its work? Where no whole-model solve fits, their
    first run can end above the bound with most of the budget unused: an aimed round that reaches
    its aim fills every target up to it, and the hosts it could not relieve are left with no room
    below their peak (tight 1000x20000, four host types, fill 0.89, seed 2: 387 per-mille at a 100 s
    limit, 372 at 10 s, where the round was cut before it filled them). The second run raises its aim
    when only such hosts are left (aim_check.AimCheck), and the better of the two is kept. Only when
    the first used at most half of the budget (the second may take as long), and the metric is above
    its floors (nothing below them counts)."""
    spent = budget.fraction_since(started)
    return len(first.problem.units) > SMALL_PROBLEM_UNITS and spent is not None and spent <= SECOND_TRY_AFTER \
        and not at_floors(first, peak_floors(first.problem))


def _aimed_rounds(state: PlacementState, ceiling: Caps, budget: GreedyBudget, raise_when_stuck: bool = False) -> None:
    """Aimed pass then step by step pass, again while a round lowers the metric and work is left.
    Cut short by the budget, the aimed pass leaves hosts it never reached above the ceiling, and
    the step by step pass stalls on the hottest of them with work to spare: a new aimed round
    relieves the others into the room the first round left (a round that lowers nothing is undone).
    Where no whole-model solve fits, once a round lowers nothing, the step by step pass re-packs
    around the host it is stuck on (repack.py), and the rounds go on while that lowers the metric.
    Not before: a re-pack's work spent while rounds still lower the metric leaves rounds undone
    that would have done more (tight 1000x20000, fill 0.88, seed 3, 10 s limit: 506 per-mille
    where the rounds reach 489)."""
    best = None
    repack = False
    for _ in range(MAX_AIMED_ROUNDS):
        mark = len(state.moves)
        improve_spread(state, ceiling=ceiling, budget=budget.share(AIMED_SHARE), raise_when_stuck=raise_when_stuck)
        improve_spread(state, budget=budget, repack=repack)
        value = state.spread_metric()
        if best is not None and value >= best:
            state.undo_to(mark)
            if repack or len(state.problem.units) <= SMALL_PROBLEM_UNITS:
                return
            repack = True
            mark = len(state.moves)
            improve_spread(state, budget=budget.share(REPACK_SHARE), repack=True)
            value = state.spread_metric()
            if value >= best:
                state.undo_to(mark)  # hosts taken off a peak that stays: memory moved for nothing
                return
        best = value
        if budget.spent():
            return


def _aim(state: PlacementState) -> Caps:
    """One per-mille above each weighted resource's lower bound; an unweighted resource keeps its
    peak (extra named resources too)."""
    peaks = (*state.peaks(), *state.extra_peaks().tolist())
    aims = [peak if bound is None else bound + 1 for bound, peak in zip(spread_peak_bounds(state.problem), peaks)]
    extra = np.array(aims[2:]) if state.problem.resources else None
    return Caps(aims[0], aims[1], extra)


def improve_spread(state: PlacementState, ceiling: Caps | None = None,
                   budget: GreedyBudget | None = None, repack: bool = False, raise_when_stuck: bool = False) -> None:
    """Move VMs off peak hosts while a move (or, failing that, a swap with a cooler host's smaller
    VM) lowers a peak host without creating a new one. With a `ceiling` (CPU ‰, memory ‰, extras), relieve
    the hosts above it into hosts that stay at or under it, and stop when none is left above.
    With `repack` (and a budget), a step that finds nothing for its hottest host tries a CP-SAT
    re-pack around it (repack.py) before the pass ends: where a whole-model solve does not fit, it
    finds what the single steps cannot. With `raise_when_stuck` (and a ceiling), hosts nothing takes
    under the ceiling get a raised one (aim_check.AimCheck)."""
    hosts, resources = len(state.problem.hosts), len(state.problem.resources)
    if not state.path:
        state.mark_step()  # where the path starts: no step taken yet
    # Aiming at a ceiling, a host nothing takes under it is passed over and the others still come
    # down to it: the step by step pass that follows starts from fewer hosts above the ceiling.
    passed_over = np.zeros(hosts, dtype=bool) if ceiling is not None else None
    check = AimCheck(state, ceiling, budget, raise_when_stuck) if ceiling is not None else None
    for _ in range(MAX_GREEDY_STEPS):
        if budget is not None and not budget.step(hosts, resources):
            return
        if check is not None:
            ceiling, raised = check.aim(state)
            if raised:
                passed_over[:] = False
        source, moves = best_peak_relief(state, ceiling, budget, passed_over)
        if source is None:
            first = (check.back_to_first() or check.raised_when_stuck(state)) if check is not None else None
            if first is None:
                return
            ceiling = first
            passed_over[:] = False
            continue
        if not moves and passed_over is None and repack and budget is not None:
            moves = repack_relief(state, source, peak_view(state, None).caps, coolness(state), budget)
        if not moves:
            if passed_over is None:
                return
            passed_over[source] = True
            continue
        for unit, host in moves:
            state.move(unit, host)
        state.mark_step()
