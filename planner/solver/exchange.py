"""Exchanges for the spread greedy: a VM leaves a peak host for a partner host that is full, and the
partner sends VMs of its own, light on CPU, back into the room the VM left.

Where host types differ in shape (CPU-rich hosts whose memory is full beside memory-rich hosts short
of CPU) a hot VM can only go where memory is full, and that memory can only go where the hot VM
was: every other host with memory to spare sits at the peak too. A move finds no target, a
one-for-one swap rarely finds a partner VM the size of a large VM, and a chain ejects into third
hosts, which are at the peak. The exchange returns as many VMs as it takes, to the source only.

Every move is made on the live state with its own checks (limits, rules, move budget) and rolled
back unless both hosts end within their limits and under the caps, so a returned exchange is valid.

Most partners cannot work, and trying one (moves made and undone) costs about as much as a step:
on the memory-tight 1000-host clusters at fill 0.88 over 97 % of the exchanges tried failed, nearly
half the aimed pass's work. Two necessary conditions, checked first and cheaply, pass over them:
what the partner must shed, per resource, fits in the room the source has once the VM left
(`_shedding_fits_source`); and the least CPU load any VMs of the partner covering the memory it must
shed carry (fractional, lightest per MiB first) fits under the source's cap (`_light_enough`, compiled).
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from planner.domain.metrics import permilles_at_most
from planner.instance.problem import Unit
from planner.instance.state import PlacementState
from planner.solver.caps import Caps, extra_caps_of
from planner.solver.compiled_cover import light_returns
from planner.solver.landing import fits_under_caps, free_with_extras, most_extra_under, within_caps

# Bounds on the search per peak host: VMs tried to leave it, partners tried for each, and VMs a
# partner may send back.
EXCHANGE_LEAVERS = 4
EXCHANGE_PARTNERS = 24
EXCHANGE_RETURNS = 64


def exchange_relief(state: PlacementState, source: int, caps: Caps, partners: list[int],
                    leavers: list[Unit]) -> tuple[list[tuple[Unit, int]], int]:
    """Moves (any order) that take one of `leavers` off `source` into a partner, and bring partner
    VMs back to the source ([] when no exchange is found), and how many exchanges were tried.

    `leavers` are the VMs whose departure takes the source off its peak(s), best first; `partners`
    are hosts, the most room for the leaver's load first."""
    tried = 0
    free = free_with_extras(state, caps)  # the same for every leaver: a failed try leaves no trace
    for unit in leavers[:EXCHANGE_LEAVERS]:
        for partner in _partners_for(state, unit, source, partners, caps, free):
            tried += 1
            moves = _exchange(state, unit, source, partner, caps)
            if moves:
                return moves, tried
    return [], tried


def _partners_for(state: PlacementState, unit: Unit, source: int, partners: list[int], caps: Caps,
                  free: np.ndarray) -> list[int]:
    """The first EXCHANGE_PARTNERS of `partners` the unit may use, would fit under the caps once
    their movable VMs left, and could send back what they must shed (see the module's docstring).
    `free`: landing.free_with_extras(state, caps)."""
    room = room_when_emptied(state, unit, caps) & _shedding_fits_source(state, unit, source, free) \
        & state.allowed_mask(unit)
    room[source] = False
    ordered = np.asarray(partners, dtype=np.int64)
    found: list[int] = []
    batch: list[int] = []
    for partner in ordered[room[ordered]].tolist():
        if not state.within_budget(unit, partner) or not state.anti_affinity_ok(unit, partner) or \
                (unit.min_spread and not state.min_spread_ok(unit, partner)):
            continue
        batch.append(partner)
        if len(batch) == EXCHANGE_PARTNERS - len(found):
            found += _light_enough(state, unit, source, batch, free)
            if len(found) == EXCHANGE_PARTNERS:
                return found
            batch = []
    return found + _light_enough(state, unit, source, batch, free) if batch else found


def _light_enough(state: PlacementState, unit: Unit, source: int, batch: list[int], free: np.ndarray) -> list[int]:
    """The partners of `batch` whose VMs covering the memory each must shed once `unit` arrives
    could carry no more load than the source can take back: their least load is the fractional
    cover, lightest per MiB first (compiled_cover.light_returns)."""
    on_partners = [state.units_on[partner] for partner in batch]
    counts = np.fromiter((len(units) for units in on_partners), dtype=np.int64, count=len(batch))
    starts = np.zeros(len(batch) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    indexes = np.fromiter(chain.from_iterable(on_partners), dtype=np.int64, count=int(starts[-1]))
    sizes = state.problem.unit_arrays.sizes
    returnable = ~state.problem.unit_arrays.fixed[indexes] & state.may_go_to(indexes, source)
    need = unit.memory_mib - free[batch, 0]
    ok = light_returns(starts, sizes[indexes, 0], sizes[indexes, 2], returnable, need,
                       int(free[source, 2]) + unit.cpu_load)
    return [partner for partner, light in zip(batch, ok.tolist()) if light]


def room_when_emptied(state: PlacementState, unit: Unit, caps: Caps) -> np.ndarray:
    """room[h]: would `unit` fit on host h under the caps beside h's fixed units alone?"""
    after = state.problem.fixed_sizes + (unit.memory_mib, unit.vcpus, unit.cpu_load, *unit.extra)
    limits = state.limits
    room = ((after <= limits).all(axis=1)
            & permilles_at_most(after[:, 0], state.memory_capacity_array, caps[1])
            & permilles_at_most(after[:, 2], state.cpu_capacity_array, caps[0]))
    return room & state.under_extra_caps(after, caps=extra_caps_of(caps)) if state.problem.resources else room


def _shedding_fits_source(state: PlacementState, unit: Unit, source: int, free: np.ndarray) -> np.ndarray:
    """ok[h]: with `unit` moved from `source` to host h, does what h then holds beyond its limits and
    caps (memory, vCPUs, load, extra resources) fit, resource by resource, in what the source can
    take back? Whatever VMs h returns, they must carry at least the first and at most the second.
    `free`: per host, what it can still take under the caps (landing.free_with_extras)."""
    demand = state.problem.unit_arrays.sizes[unit.index, :free.shape[1]]
    must_shed = np.maximum(demand - free, 0)
    return (must_shed <= free[source] + demand).all(axis=1)


def _exchange(state: PlacementState, unit: Unit, source: int, partner: int, caps: Caps) -> list[tuple[Unit, int]]:
    """Move `unit` to `partner`, then partner VMs to `source` until the partner is back within its
    limits and the caps; the moves made, or [] with the state as it was."""
    mark = len(state.moves)
    state.move(unit, partner)
    moves = [(unit, partner)]
    for back in _return_order(state, unit, partner, source, caps):
        if within_caps(state, partner, caps) or len(moves) > EXCHANGE_RETURNS:
            break
        if fits_under_caps(state, back, source, caps):
            state.move(back, source)
            moves.append((back, source))
    if len(moves) > 1 and within_caps(state, partner, caps) and within_caps(state, source, caps):
        return moves
    state.undo_to(mark)
    return []


def _return_order(state: PlacementState, unit: Unit, partner: int, source: int, caps: Caps) -> list[Unit]:
    """The partner's movable VMs that may go to the source, least CPU load per part of the
    partner's excess they remove first: the source has memory to spare, not CPU."""
    problem = state.problem
    excess = _excess(state, partner, caps)
    order = []
    for index in state.units_on[partner]:
        back = problem.units[index]
        if back.fixed or back is unit or source not in back.allowed:
            continue
        sizes = (back.memory_mib, back.vcpus, back.cpu_load, *back.extra)
        covered = sum(min(size, need) / need for size, need in zip(sizes, excess) if need > 0)
        if covered > 0:
            order.append((back.cpu_load / covered, index))
    return [problem.units[index] for _, index in sorted(order)]


def _excess(state: PlacementState, host: int, caps: Caps) -> tuple[int, ...]:
    """How much memory (MiB), vCPUs, load (millicores) and each extra named resource `host` holds
    beyond its limits and caps."""
    problem = state.problem
    memory = min(problem.memory_limit[host], caps[1] * state.memory_capacity[host] // 1000)
    load = min(problem.load_limit[host], caps[0] * state.cpu_capacity[host] // 1000)
    core = (state.memory[host] - memory, state.vcpus[host] - problem.vcpu_limit[host], state.load[host] - load)
    if not problem.resources:
        return core
    return (*core, *(state.sizes[host, 3:] - most_extra_under(state, caps)[host]).tolist())
