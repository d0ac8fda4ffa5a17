"""Consolidation by choosing the hosts that stay on, in two stages: keep k hosts,
the largest first (fuller ones first among equals, so less memory moves), evict every other host's
VMs into them, and search for the smallest k for which that works.

Emptying the lightest hosts one by one (host_emptying.consolidate_hosts) moves little but keeps small
hosts on; at 1,000 hosts it ends ~10 % above the host bound, this ends within a few per cent.

Each try evicts every other host's VMs, so at 5,000 hosts the search costs seconds: it is charged
to the greedy's budget like the other passes and stops when that is spent, keeping the smallest k
that worked so far (a try the budget cut counts as not tried).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from planner.instance.problem import Problem, Unit, hosts_allowed_to_any
from planner.instance.state import PlacementState
from planner.solver.greedy_budget import GreedyBudget

HEAP_TRIES = 64  # kept hosts tried in order of free memory before a full scan
# Evictions between two looks at the budget: a look costs a clock read, an eviction ~0.1 ms.
BUDGET_LOOK_EVERY = 256


@dataclass
class _Work:
    """What the tries did since last charged: hosts set up (every host, per try), VMs listed for
    eviction, evictions placed, full scans, and hosts asked whether they take a VM
    (GreedyBudget.keep_k_work prices them)."""

    host_rows: int = 0
    listed: int = 0
    placements: int = 0
    scans: int = 0
    checks: int = 0

    def charge(self, budget: GreedyBudget | None) -> bool:
        """Charge and reset; False once the budget is spent."""
        if budget is None:
            return True
        budget.keep_k_work(self.host_rows, self.listed, self.placements, self.scans, self.checks)
        self.host_rows = self.listed = self.placements = self.scans = self.checks = 0
        return not budget.spent()


def keep_k(state: PlacementState, lowest: int, budget: GreedyBudget | None = None) -> bool:
    """Rearrange `state` to use as few hosts as the search finds; False (state untouched) if no k
    works or the `budget` ran out before one did."""
    problem = state.problem
    always = _always_on(state)
    ranked = _ranked_hosts(state, always)
    in_use = sum(1 for h in problem.metric_hosts if state.units_on[h])
    low, high = max(lowest, len(always), 1), in_use
    best: list[tuple[int, int, int]] | None = None  # the moves of the smallest k that worked
    work = _Work(listed=len(problem.units))  # _always_on and the ranking looked at every VM
    while low <= high and work.charge(budget):
        k = (low + high) // 2
        mark = len(state.moves)
        kept = _try_keep(state, always | set(ranked[: max(0, k - len(always))]), work, budget)
        if kept is None:
            state.undo_to(mark)
            break
        if kept:
            best, high = state.moves[mark:], k - 1
        else:
            low = k + 1
        state.undo_to(mark)
    work.charge(budget)  # the last try's work, when the search ended by itself
    if best is None:
        return False
    for index, _, host in best:  # the same moves again, without searching for them
        state.move(problem.units[index], host)
    return True


def _always_on(state: PlacementState) -> set[int]:
    """Hosts holding VMs that cannot move stay on whatever happens."""
    problem = state.problem
    return {host for unit in problem.units if unit.fixed
            if (host := state.assignment[unit.index]) in problem.metric_hosts}


def _ranked_hosts(state: PlacementState, always: set[int]) -> list[int]:
    problem = state.problem
    receivers = hosts_allowed_to_any(problem.movable) & problem.metric_hosts
    return sorted(receivers - always, key=lambda h: (-problem.memory_limit[h], -state.memory[h], h))


def _try_keep(state: PlacementState, kept: set[int], work: _Work, budget: GreedyBudget | None) -> bool | None:
    """Evict every VM off the hosts not `kept` into them (worst fit): whether that worked, or None
    when the budget ran out first (the caller undoes the try either way)."""
    problem = state.problem
    evicted = sorted(
        (problem.units[i] for h in problem.metric_hosts - kept for i in state.units_on[h]),
        key=lambda u: (-u.memory_mib, -u.vcpus, u.index),
    )
    work.host_rows += len(problem.hosts)
    work.listed += len(evicted)
    if any(u.fixed for u in evicted):
        return False
    room = [(state.memory[h] - problem.memory_limit[h], h) for h in kept]
    heapq.heapify(room)
    kept_mask = np.zeros(len(problem.hosts), dtype=bool)
    kept_mask[list(kept)] = True
    for placed, unit in enumerate(evicted, start=1):
        host = _roomiest_fit(state, unit, room, kept_mask, work)
        if host is None:
            return False
        state.move(unit, host)
        heapq.heappush(room, (state.memory[host] - problem.memory_limit[host], host))
        if placed % BUDGET_LOOK_EVERY == 0 and not work.charge(budget):
            return None
    return True


def _roomiest_fit(state: PlacementState, unit: Unit, room: list[tuple[int, int]], kept: np.ndarray,
                  work: _Work) -> int | None:
    """Worst fit: the kept host with the most free memory that takes the unit (spreads the rest of
    the load evenly, which keeps CPU headroom and vCPUs satisfiable)."""
    problem: Problem = state.problem
    work.placements += 1
    popped, found = [], None
    while room and len(popped) < HEAP_TRIES:
        entry = heapq.heappop(room)
        negative_free, host = entry
        if negative_free != state.memory[host] - problem.memory_limit[host]:
            continue  # stale entry: the host took a unit since
        popped.append(entry)
        work.checks += 1
        if state.fits(unit, host) and state.within_budget(unit, host):
            found = host
            break
    for entry in popped:
        if entry[1] != found:
            heapq.heappush(room, entry)
    if found is None and len(popped) == HEAP_TRIES:
        found = _roomiest_by_scan(state, unit, kept, work)
    return found


def _roomiest_by_scan(state: PlacementState, unit: Unit, kept: np.ndarray, work: _Work) -> int | None:
    """The kept host with the most free memory (then the lowest index) that takes the unit. The
    sizes are compared for every host at once and only hosts with room are asked about the rules:
    asking each kept host was 55 million fits() calls in a 5000x100000 consolidation."""
    work.scans += 1
    hosts = np.flatnonzero(kept & state.allowed_mask(unit) & state.room_for(unit))
    free = state.limits[hosts, 0] - state.sizes[hosts, 0]
    for host in hosts[np.lexsort((hosts, -free))].tolist():
        work.checks += 1
        if state.fits(unit, host) and state.within_budget(unit, host):
            return host
    return None
