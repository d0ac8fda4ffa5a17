"""A CP-SAT re-pack around the host the spread greedy's step-by-step pass is stuck on.

The step by step pass ends when nothing relieves its hottest host: no move, swap, exchange, chain
or swap with any host. Where memory is tight that is often a host whose heaviest VM can only go to
a host with more cores, and every such host must first shed VMs, several of them and to several
other hosts, before the VM fits under the peak there: more than any one of those neighbourhoods
does. A sub-solve over the stuck host, the hosts its heaviest VMs would fit once emptied (coolest
first) and the coolest hosts finds such re-packs; the pass then goes on with its cheap steps from
there. On the tight 1000x20000 clusters at fill 0.88 with a 100 s limit the greedy had stopped at
521 and 484 per-mille (seeds 1 and 3; bounds 488 and 454); re-packing where it stopped took it to
489 and 455 (the planner's whole call: 25 and 18 s; benchmarks/results/tight-100s).

The sub-solve is the LNS's (lns.sub_solve): the neighbourhood's peak down to the goal's floor, then
the least memory moved. Its work is charged to the greedy's budget at the LNS's rate, so a seed
gives the same plan; it is kept only when every host of the neighbourhood ends within its limits
and under the step's caps on the resources the goal weighs, so no peak the goal counts rises.
"""

from __future__ import annotations

import time

import numpy as np

from planner.instance.problem import Unit
from planner.instance.state import PlacementState
from planner.solver.caps import Caps
from planner.solver.exchange import room_when_emptied
from planner.solver.greedy_budget import MS_PER_SECOND, GreedyBudget
from planner.solver.host_ranking import HostRanking
from planner.solver.landing import within_caps
from planner.solver.lns import SUB_SOLVE_UNITS_PER_S, round_seconds, sub_solve
from planner.solver.peak_floors import at_floors, peak_floors
from planner.solver.time_budget import TimeBudget

# Hosts a re-pack frees, of which at most REPACK_TARGETS are hosts a leaver would fit once emptied
# (for each of the REPACK_LEAVERS heaviest movable VMs of the stuck host in turn), and one
# sub-solve's deterministic limit. 32 hosts and 1.0 units relieved the stuck host in 6 of 12 tries
# on the two runs above; a try costs about 2 modelled seconds (1 s of wall clock). A re-pack that
# worked moved 27-140 VMs (the sub-solve takes the neighbourhood down to the floor, not just under
# the peak), and the single steps after it lowered the peak by 5-15 per-mille each time.
REPACK_HOSTS = 32
REPACK_TARGETS = 8
REPACK_LEAVERS = 2
REPACK_LIMIT = 1.0
# Less deterministic time than this left in the greedy's budget is not worth loading a model for.
MIN_REPACK_LIMIT = 0.05
# A budget without a deadline (tests, tools) still gives CP-SAT a finite wall clock.
UNBOUNDED_S = 3600.0
# A per-mille no host reaches: no cap at all.
NO_CAP = 1 << 40


def repack_relief(state: PlacementState, source: int, caps: Caps, coolness: np.ndarray,
                  budget: GreedyBudget) -> list[tuple[Unit, int]]:
    """Moves (any order) that take `source` under `caps` by re-packing it with its targets and the
    coolest hosts by `coolness` (peak_relief.coolness); [] when the sub-solve finds none or the
    budget has too little left."""
    problem = state.problem
    floors = peak_floors(problem)
    limit = _limit(budget)
    if limit is None or at_floors(state, floors):
        return []
    hosts = neighbourhood(state, source, caps, coolness)
    settings = problem.rules.policy.solver
    deadline = budget.deadline if budget.deadline is not None else time.monotonic() + UNBOUNDED_S
    window = TimeBudget(deadline, limit if settings.deterministic else None)
    sub = sub_solve(problem, state, hosts, settings, window, limit, floors)
    budget.priced.ms += round_seconds(sub.deterministic_time, sub.variables) * MS_PER_SECOND
    budget.wall_clock_cut = budget.wall_clock_cut or sub.cut
    if not sub.changes:
        return []
    moves = [(problem.units[index], host) for index, host in sub.changes]
    return moves if _keeps_caps(state, moves, hosts, weighed_caps(state, caps)) else []


def neighbourhood(state: PlacementState, source: int, caps: Caps, coolness: np.ndarray) -> frozenset[int]:
    """The stuck host, the hosts its heaviest movable VMs would fit under `caps` beside their fixed
    units alone (coolest first), and the coolest other hosts: REPACK_HOSTS at most. Hosts the metric
    ignores are never chosen (coolness ranks them last, as the step's own targets do)."""
    problem = state.problem
    coolest = HostRanking(coolness, int(state.metric_mask.sum())).all()
    heaviest = sorted((problem.units[i] for i in state.units_on[source] if not problem.units[i].fixed),
                      key=lambda unit: (-unit.cpu_load, unit.index))[:REPACK_LEAVERS]
    chosen = [source]
    for unit in heaviest:
        room = room_when_emptied(state, unit, caps) & state.allowed_mask(unit)
        targets = [host for host in coolest if room[host] and host not in chosen]
        chosen += targets[:1 + REPACK_TARGETS - len(chosen)]
    chosen += [host for host in coolest if host not in chosen][:REPACK_HOSTS - len(chosen)]
    return frozenset(chosen)


def _limit(budget: GreedyBudget) -> float | None:
    """The sub-solve's deterministic limit: REPACK_LIMIT, or what the budget's work has left."""
    if budget.spent():
        return None
    if budget.work_ms is None:
        return REPACK_LIMIT
    left = (budget.work_ms - budget.used_ms) / MS_PER_SECOND * SUB_SOLVE_UNITS_PER_S
    limit = min(REPACK_LIMIT, left)
    return limit if limit >= MIN_REPACK_LIMIT else None


def weighed_caps(state: PlacementState, caps: Caps) -> Caps:
    """`caps` on the resources the goal weighs; none on CPU or memory where it does not. The
    sub-solve, like the LNS's, fills an unweighed resource up to its hard limit; only the greedy's
    single steps keep its peak from rising (extra resources keep their caps)."""
    weight_cpu, weight_memory = state.problem.spread_weights
    return Caps(caps.cpu if weight_cpu else NO_CAP, caps.memory if weight_memory else NO_CAP, caps.extra)


def _keeps_caps(state: PlacementState, moves: list[tuple[Unit, int]], hosts: frozenset[int], caps: Caps) -> bool:
    """Do the moves leave every host of the neighbourhood within its limits and under `caps`? The
    state is left as it was."""
    mark = len(state.moves)
    for unit, host in moves:
        state.move(unit, host)
    kept = all(within_caps(state, host, caps) for host in hosts)
    state.undo_to(mark)
    return kept
