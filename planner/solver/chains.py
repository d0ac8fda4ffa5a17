"""Ejection chains for the spread greedy: a VM leaves a peak host for a cooler host whose memory
(or vCPUs) is full, after a few of that host's own VMs make room by moving on to other cool hosts.

Where memory is tight, single moves and swaps stall early: the cool hosts have CPU to spare but
no memory, and a big VM on a peak host fits nowhere as things stand. A chain frees the room first.
Every link is tried on the live state with the state's own checks (limits, anti-affinity,
min_spread, move budget, the caps that keep every host under the peak) and rolled back, so a chain
that is returned is valid move by move, in order.
"""

from __future__ import annotations

from planner.instance.problem import Unit
from planner.instance.state import PlacementState
from planner.solver.landing import coolest_fit, fits_under_caps

# Bounds on the search per peak host: VMs tried to leave it, cool hosts tried to take each one,
# and VMs a cool host may eject to make room.
CHAIN_LEAVERS = 6
CHAIN_TARGETS = 24
# Cool hosts looked at to choose those targets from.
CHAIN_SCAN = 96
CHAIN_EJECTIONS = 16
# How deep chains go (an ejected VM may make room for itself once more), and the cool hosts an
# ejected VM may make room on.
CHAIN_DEPTH = 2
INNER_TARGETS = 4
# VM placements one search for a chain may try: keeps a peak host that no chain relieves cheap.
CHAIN_EFFORT = 300


class _Effort:
    """Placements left to try in one chain search."""

    def __init__(self, placements: int) -> None:
        self.limit = placements
        self.tried = 0

    def spend(self) -> bool:
        if self.tried >= self.limit:
            return False
        self.tried += 1
        return True


def chain_relief(state: PlacementState, source: int, caps: tuple[int, int], targets: list[int],
                 leavers: list[Unit]) -> tuple[list[tuple[Unit, int]], int]:
    """Moves (in the order to run them) that take one of `leavers` off `source` into a cool host
    after that host ejects some of its VMs ([] when no such chain is found), and how many
    placements the search tried (the work it did).

    `leavers` are the VMs whose departure takes the source off its peak(s), best first; `targets`
    are hosts, coolest first; `caps` (CPU ‰, memory ‰) is what no host may reach."""
    effort = _Effort(CHAIN_EFFORT)
    for unit in leavers[:CHAIN_LEAVERS]:
        mark = len(state.moves)
        try:
            chain = _place(state, unit, (source,), caps, targets, CHAIN_DEPTH, effort)
        finally:
            state.undo_to(mark)
        if chain:
            return chain, effort.tried
    return [], effort.tried


def _place(state: PlacementState, unit: Unit, avoid: tuple[int, ...], caps: tuple[int, int], targets: list[int],
           depth: int, effort: _Effort) -> list[tuple[Unit, int]] | None:
    """Move `unit` (on the state) to a host not in `avoid`: straight where it fits, else into a host
    that first ejects VMs, each placed the same way one level down. The moves made, or None (and
    the state as it was)."""
    if not effort.spend():
        return None
    landing = coolest_fit(state, unit, avoid, caps, targets)
    if landing is not None:
        state.move(unit, landing)
        return [(unit, landing)]
    if depth == 0:
        return None
    width = CHAIN_TARGETS if depth == CHAIN_DEPTH else INNER_TARGETS
    for target in _roomy_for(state, unit, avoid, caps, targets)[:width]:
        chain = _make_room_and_move(state, unit, avoid, target, caps, targets, depth, effort)
        if chain is not None:
            return chain
    return None


def _roomy_for(state: PlacementState, unit: Unit, avoid: tuple[int, ...], caps: tuple[int, int],
               targets: list[int]) -> list[int]:
    """Hosts the unit may use that could take it under the caps once their movable VMs make room,
    least room to make first (fewest ejections), then coolest."""
    found = []
    for rank, target in enumerate(targets):
        if target in avoid or target not in unit.allowed:
            continue
        if not state.anti_affinity_ok(unit, target) or (unit.min_spread and not state.min_spread_ok(unit, target)):
            continue
        short = _shortfall(state, unit, target, caps)
        if _can_cover(state, target, short):
            found.append((sum(s / c for s, c in zip(short, _limits(state, target, caps)) if s > 0), rank, target))
            if len(found) == CHAIN_SCAN:
                break
    return [target for _, _, target in sorted(found)[:CHAIN_TARGETS]]


def _limits(state: PlacementState, host: int, caps: tuple[int, int]) -> tuple[int, int, int]:
    """What `host` may hold under the caps: (memory MiB, vCPUs, CPU load in millicores)."""
    problem = state.problem
    memory = min(problem.memory_limit[host], caps[1] * state.memory_capacity[host] // 1000)
    load = min(problem.load_limit[host], caps[0] * state.cpu_capacity[host] // 1000)
    return max(1, memory), max(1, problem.vcpu_limit[host]), max(1, load)


def _shortfall(state: PlacementState, unit: Unit, host: int, caps: tuple[int, int]) -> tuple[int, int, int]:
    """How much memory, vCPUs and load `host` must shed to take the unit under its limits and the caps."""
    memory, vcpus, load = _limits(state, host, caps)
    return (state.memory[host] + unit.memory_mib - memory, state.vcpus[host] + unit.vcpus - vcpus,
            state.load[host] + unit.cpu_load - load)


def _sizes(unit: Unit) -> tuple[int, int, int]:
    return unit.memory_mib, unit.vcpus, unit.cpu_load


def _can_cover(state: PlacementState, host: int, short: tuple[int, int, int]) -> bool:
    """Whether ejecting every movable VM of `host` would cover the shortfall."""
    if max(short) <= 0:
        return True
    problem = state.problem
    movable = [_sizes(problem.units[i]) for i in state.units_on[host] if not problem.units[i].fixed]
    return all(need <= 0 or sum(size[d] for size in movable) >= need for d, need in enumerate(short))


def _make_room_and_move(state: PlacementState, unit: Unit, avoid: tuple[int, ...], target: int,
                        caps: tuple[int, int], targets: list[int], depth: int,
                        effort: _Effort) -> list[tuple[Unit, int]] | None:
    """Eject the target's VMs (each placed one level down) until `unit` fits, then move it there;
    the moves made, or None with the state as it was."""
    mark = len(state.moves)
    chain: list[tuple[Unit, int]] = []
    inner_avoid = avoid + (target,)
    for ejected in _ejection_order(state, unit, target, caps):
        if fits_under_caps(state, unit, target, caps) or len(chain) >= CHAIN_EJECTIONS:
            break
        placed = _place(state, ejected, inner_avoid, caps, targets, depth - 1, effort)
        if placed is not None:
            chain += placed
    if chain and fits_under_caps(state, unit, target, caps):
        state.move(unit, target)
        return chain + [(unit, target)]
    state.undo_to(mark)
    return None


def _ejection_order(state: PlacementState, unit: Unit, target: int, caps: tuple[int, int]) -> list[Unit]:
    """The target's movable VMs that free what the unit lacks: those that cover the whole shortfall
    alone first (least memory to move first), then the ones that cover most of it."""
    problem = state.problem
    short = _shortfall(state, unit, target, caps)
    candidates = []
    for index in state.units_on[target]:
        other = problem.units[index]
        if other.fixed:
            continue
        sizes = _sizes(other)
        covered = [min(size, need) / need for size, need in zip(sizes, short) if need > 0]
        if not covered or not any(covered):
            continue
        covers = all(part >= 1 for part in covered)
        candidates.append((not covers, other.weighted_memory if covers else -sum(covered), index))
    return [problem.units[index] for _, _, index in sorted(candidates)]
