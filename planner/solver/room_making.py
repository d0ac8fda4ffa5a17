"""Room for a VM that must move but fits no host as the others left it: move a few VMs off the
host where that costs least, then place it there.

A drain on a memory-tight cluster is where this happens. Each drained VM may fit some other host
on its own, yet holes big enough for the largest (256 GiB and 64 vCPUs, say) are few, and the
drained VMs placed before it fill them; and a host with the memory free is often short of vCPUs.
Refusing the maintenance then would be wrong: a few smaller VMs moved aside make the room. The
VMs moved aside are the cheapest that cover what the host lacks: first those that are moving
anyway (placed by this repair; placing them again adds no migration), then the one covering most
of what is still lacking (fewest moves), then the least memory. Each goes to a host where it fits
directly; nothing is chained further.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from planner.instance.problem import Unit
from planner.instance.state import PlacementState
from planner.solver.lowest_accepted import NOT_A_CANDIDATE, lowest_accepted

# Hosts tried per VM, those closest to taking it first: the room is mostly made on the first few,
# and a VM that fits none of the closest 32 rarely fits a farther one.
HOSTS_TRIED = 32

# Where a unit moved aside goes: a host (not the one it leaves) that takes it as things stand.
Landing = Callable[[PlacementState, Unit, int], "int | None"]


def tightest_fit(state: PlacementState, unit: Unit, exclude: int) -> int | None:
    """Where a unit moved aside goes: the allowed host (not `exclude`) that takes it with the least
    memory left over. The larger holes stay for the VMs still to be placed; sent to the least loaded
    host instead, a small VM moved aside took the hole a second drained VM needed, and a drain that
    two moves aside make possible was refused."""
    candidates = state.allowed_mask(unit) & state.room_for(unit)
    candidates[exclude] = False
    left = state.limits[:, 0] - state.sizes[:, 0] - unit.memory_mib
    scores = np.where(candidates, left, NOT_A_CANDIDATE)
    return lowest_accepted(scores, lambda host: state.fits(unit, host) and state.within_budget(unit, host))


def make_room(state: PlacementState, unit: Unit, exclude: int, landing: Landing = tightest_fit) -> int | None:
    """The host `unit` can go to once some of its VMs moved elsewhere (those moves are made on
    `state`): of the hosts tried, the one that adds the fewest moves, then the least migrated
    memory; None (and `state` as it was) when no tried host can be cleared enough."""
    best: tuple[int, int, int] | None = None
    for host in _closest_hosts(state, unit, exclude):
        mark, moves, memory = len(state.moves), state.moved_vms, state.moved_mib
        if _clear(state, unit, host, landing):
            cost = (state.moved_vms - moves, state.moved_mib - memory, host)
            best = cost if best is None else min(best, cost)
        state.undo_to(mark)
    if best is None:
        return None
    _clear(state, unit, best[2], landing)
    return best[2]


def _closest_hosts(state: PlacementState, unit: Unit, exclude: int) -> list[int]:
    """Allowed hosts (not `exclude`) whose movable VMs hold at least what each lacks for `unit`,
    the smallest shortfall relative to the VM's size first."""
    demand = _demand(state, unit)
    short = np.maximum(0, state.sizes + demand - state.limits)
    movable = state.sizes - state.problem.fixed_sizes  # what moving every unit off a host frees
    candidates = state.allowed_mask(unit) & (short <= movable).all(axis=1) & ~_over_capacity(state)
    candidates[exclude] = False
    relative = (short / np.maximum(1, demand)).max(axis=1)
    hosts = np.flatnonzero(candidates)
    order = np.lexsort((hosts, relative[hosts]))
    return hosts[order][:HOSTS_TRIED].tolist()


def _over_capacity(state: PlacementState) -> np.ndarray:
    """Hosts whose limit what stays fixed there raised above their capacity: already over it, they
    take nothing more, however much moves off."""
    problem = state.problem
    usable = np.array([(h.usable_memory_mib, h.usable_vcpus) for h in problem.hosts], dtype=np.int64)
    return (state.limits[:, :2] > usable).any(axis=1) | (state.limits[:, 3:] > state.extra_capacity).any(axis=1)


def _clear(state: PlacementState, unit: Unit, host: int, landing: Landing) -> bool:
    """Move units off `host` until `unit` fits there, then move `unit` there; False when that
    cannot be done (moves already made are left for the caller to undo)."""
    candidates = _movable_on(state, unit, host)
    while candidates:
        short = _shortfall(state, unit, host)
        if not short.any():
            break
        aside = min(candidates, key=lambda u: _price(u, _demand(state, u), host, short))
        candidates.remove(aside)
        if not (short > 0)[_demand(state, aside) > 0].any():
            continue  # frees nothing the host lacks (one moving anyway is tried first whatever it frees)
        target = landing(state, aside, host)
        if target is not None and state.within_budget(aside, target):
            state.move(aside, target)
    if not state.fits(unit, host) or not state.within_budget(unit, host):
        return False
    state.move(unit, host)
    return True


def _price(aside: Unit, demand: np.ndarray, host: int, short: np.ndarray) -> tuple[bool, float, int, int]:
    """Which unit to move aside first: one moving anyway (placed by this repair: moving it again
    adds no migration), then the one covering most of what the host lacks (fewest moves), then the
    least memory (`demand`: what it holds, in the columns of PlacementState.sizes)."""
    lacking = short > 0
    covered = float((np.minimum(demand[lacking], short[lacking]) / short[lacking]).sum())
    return aside.move_cost(host) == 0, -covered, aside.memory_mib, aside.index


def _demand(state: PlacementState, unit: Unit) -> np.ndarray:
    """What `unit` holds, in the columns of PlacementState.sizes."""
    return state.problem.unit_arrays.sizes[unit.index]


def _shortfall(state: PlacementState, unit: Unit, host: int) -> np.ndarray:
    """Per column of PlacementState.sizes, how much `host` lacks for `unit` (0 where it has room)."""
    return np.maximum(0, state.sizes[host] + _demand(state, unit) - state.limits[host])


def _movable_on(state: PlacementState, unit: Unit, host: int) -> list[Unit]:
    """The movable units on `host` but `unit`."""
    problem = state.problem
    return [problem.units[i] for i in sorted(state.units_on[host])
            if not problem.units[i].fixed and i != unit.index]
