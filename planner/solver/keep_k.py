"""Consolidation by choosing the hosts that stay on, in two stages: keep k hosts,
the largest first (fuller ones first among equals, so less memory moves), evict every other host's
VMs into them, and search for the smallest k for which that works.

Emptying the lightest hosts one by one (host_emptying.consolidate_hosts) moves little but keeps small
hosts on; at 1,000 hosts it ends ~10 % above the host bound, this ends within a few per cent.
"""

from __future__ import annotations

import heapq

import numpy as np

from planner.instance.problem import Problem, Unit, hosts_allowed_to_any
from planner.instance.state import PlacementState

HEAP_TRIES = 64  # kept hosts tried in order of free memory before a full scan


def keep_k(state: PlacementState, lowest: int) -> bool:
    """Rearrange `state` to use as few hosts as the search finds; False (state untouched) if no k works."""
    problem = state.problem
    always = _always_on(state)
    ranked = _ranked_hosts(state, always)
    in_use = sum(1 for h in problem.metric_hosts if state.units_on[h])
    low, high = max(lowest, len(always), 1), in_use
    best_k = None
    while low <= high:
        k = (low + high) // 2
        mark = len(state.moves)
        if _try_keep(state, always | set(ranked[: max(0, k - len(always))])):
            best_k, high = k, k - 1
        else:
            low = k + 1
        state.undo_to(mark)
    if best_k is None:
        return False
    return _try_keep(state, always | set(ranked[: max(0, best_k - len(always))]))


def _always_on(state: PlacementState) -> set[int]:
    """Hosts holding VMs that cannot move stay on whatever happens."""
    problem = state.problem
    return {h for h in problem.metric_hosts if any(problem.units[i].fixed for i in state.units_on[h])}


def _ranked_hosts(state: PlacementState, always: set[int]) -> list[int]:
    problem = state.problem
    receivers = hosts_allowed_to_any(problem.movable) & problem.metric_hosts
    return sorted(receivers - always, key=lambda h: (-problem.memory_limit[h], -state.memory[h], h))


def _try_keep(state: PlacementState, kept: set[int]) -> bool:
    problem = state.problem
    evicted = sorted(
        (problem.units[i] for h in problem.metric_hosts - kept for i in state.units_on[h]),
        key=lambda u: (-u.memory_mib, -u.vcpus, u.index),
    )
    if any(u.fixed for u in evicted):
        return False
    room = [(state.memory[h] - problem.memory_limit[h], h) for h in kept]
    heapq.heapify(room)
    kept_mask = np.zeros(len(problem.hosts), dtype=bool)
    kept_mask[list(kept)] = True
    for unit in evicted:
        host = _roomiest_fit(state, unit, room, kept_mask)
        if host is None:
            return False
        state.move(unit, host)
        heapq.heappush(room, (state.memory[host] - problem.memory_limit[host], host))
    return True


def _roomiest_fit(state: PlacementState, unit: Unit, room: list[tuple[int, int]], kept: np.ndarray) -> int | None:
    """Worst fit: the kept host with the most free memory that takes the unit (spreads the rest of
    the load evenly, which keeps CPU headroom and vCPUs satisfiable)."""
    problem: Problem = state.problem
    popped, found = [], None
    while room and len(popped) < HEAP_TRIES:
        entry = heapq.heappop(room)
        negative_free, host = entry
        if negative_free != state.memory[host] - problem.memory_limit[host]:
            continue  # stale entry: the host took a unit since
        popped.append(entry)
        if state.fits(unit, host) and state.within_budget(unit, host):
            found = host
            break
    for entry in popped:
        if entry[1] != found:
            heapq.heappush(room, entry)
    if found is None and len(popped) == HEAP_TRIES:
        found = _roomiest_by_scan(state, unit, kept)
    return found


def _roomiest_by_scan(state: PlacementState, unit: Unit, kept: np.ndarray) -> int | None:
    """The kept host with the most free memory (then the lowest index) that takes the unit. The
    sizes are compared for every host at once and only hosts with room are asked about the rules:
    asking each kept host was 55 million fits() calls in a 5000x100000 consolidation."""
    hosts = np.flatnonzero(kept & state.allowed_mask(unit) & state.room_for(unit))
    free = state.limits[hosts, 0] - state.sizes[hosts, 0]
    for host in hosts[np.lexsort((hosts, -free))].tolist():
        if state.fits(unit, host) and state.within_budget(unit, host):
            return host
    return None
