"""The coolest host that takes a VM under the spread caps, with the sizes checked for every host at once.

The spread greedy and its ejection chains ask this for every VM they try to move; a Python loop
over a thousand hosts per VM made it most of the greedy's time on large clusters."""

from __future__ import annotations

import numpy as np

from planner.domain.metrics import most_at_permille, permille, permilles_at_most
from planner.instance.problem import Unit
from planner.instance.state import PlacementState
from planner.solver.caps import extra_caps_of
from planner.solver.compiled_relief import NO_HOST, first_landing


def coolest_fit(state: PlacementState, unit: Unit, avoid: tuple[int, ...], caps: tuple[int, int],
                targets: list[int]) -> int | None:
    """The first host of `targets` (coolest first; not in `avoid`) that takes `unit` within its
    limits and the rules, its CPU ‰ and memory ‰ staying at or under `caps`. The host the unit
    started on comes first, since going back costs nothing."""
    return _first_host(state, unit, avoid, targets, _room(state, unit, caps))


def ranked_landing(state: PlacementState, units: list[Unit], avoid: int, caps: tuple[int, int],
                   score: np.ndarray) -> tuple[tuple[Unit, int] | None, int]:
    """coolest_fit for each of `units` in turn, never to `avoid`, with `targets` the stable
    ascending sort of `score` over the hosts whose score is below the int64 maximum: the first
    (unit, host) found, or None, and how many units were tried. Nothing is sorted: for each unit
    the best-scored host with room is one pass over the hosts (compiled_relief.first_landing), the
    rules checked on what it proposes."""
    arrays = state.problem.unit_arrays
    leavers = np.fromiter((unit.index for unit in units), dtype=np.int64, count=len(units))
    free = free_with_extras(state, caps)
    allowed = state.allowed_rows
    allowed.cover(leavers)
    start = 0
    while start < len(units):
        position, host = first_landing(leavers, arrays.sizes, arrays.home, arrays.allowed_set, allowed.row_of_set,
                                       allowed.matrix, free, score, avoid, start)
        if position == NO_HOST:
            break
        unit = units[position]
        if not (state.fits(unit, host) and state.within_budget(unit, host)):
            # A rule refused the proposal: this leaver's other rooms in numpy, one argmin each (a
            # proposal per refusal would pass over every host once per refused host).
            eligible = score < np.iinfo(np.int64).max
            host = _best_scored_host(state, unit, (avoid,), score, _room(state, unit, caps) & eligible)
        if host is not None:
            return (unit, host), position + 1
        start = position + 1
    return None, len(units)


def _best_scored_host(state: PlacementState, unit: Unit, avoid: tuple[int, ...], score: np.ndarray,
                      room: np.ndarray) -> int | None:
    """_first_host over hosts ordered by `score` (ties by index), one argmin per host tried."""
    home = unit.current
    if home is not None and home not in avoid and room[home] and _takes(state, unit, home):
        return home
    candidates = np.flatnonzero(room)
    while candidates.size:
        best = int(candidates[np.argmin(score[candidates])])  # argmin: the first, lowest index, of equals
        if best not in avoid and _takes(state, unit, best):
            return best
        candidates = candidates[candidates != best]
    return None


def _first_host(state: PlacementState, unit: Unit, avoid: tuple[int, ...], targets: list[int] | np.ndarray,
                room: np.ndarray) -> int | None:
    home = unit.current
    if home is not None and home not in avoid and room[home] and _takes(state, unit, home):
        return home
    order = np.asarray(targets, dtype=np.int64)
    for host in order[room[order]].tolist():
        if host not in avoid and _takes(state, unit, host):
            return host
    return None


def _takes(state: PlacementState, unit: Unit, host: int) -> bool:
    return host in unit.allowed and state.fits(unit, host) and state.within_budget(unit, host)


def _room(state: PlacementState, unit: Unit, caps: tuple[int, int]) -> np.ndarray:
    """room[h]: does `unit` fit on host h by size, under the hard limits and the caps?"""
    after = state.sizes_with(unit)
    room = ((after <= state.limits).all(axis=1)
            & permilles_at_most(after[:, 2], state.cpu_capacity_array, caps[0])
            & permilles_at_most(after[:, 0], state.memory_capacity_array, caps[1]))
    return room & state.under_extra_caps(after, caps=extra_caps_of(caps)) if unit.extra else room


def free_under_caps(state: PlacementState, caps: tuple[int, int]) -> np.ndarray:
    """Per host, the memory (MiB), vCPUs and load (millicores) it can still take within its limits
    and with its CPU ‰ and memory ‰ at or under `caps`: one comparison per VM and host instead of a
    sum, products and a division each."""
    most_memory, most_load = state.most_under(caps)
    sizes = state.sizes
    return np.stack((most_memory - sizes[:, 0], state.limits[:, 1] - sizes[:, 1], most_load - sizes[:, 2]), axis=1)


def free_with_extras(state: PlacementState, caps: tuple[int, int]) -> np.ndarray:
    """free_under_caps, with a column per extra named resource after its three: what each host can
    still take of it within its limit and under its cap (the caps' own, else the extra caps
    within_caps applies)."""
    free = free_under_caps(state, caps)
    if not state.problem.resources:
        return free
    return np.concatenate((free, most_extra_under(state, caps) - state.sizes[:, 3:]), axis=1)


def most_extra_under(state: PlacementState, caps: tuple[int, int]) -> np.ndarray:
    """Per host and extra named resource, the most it may hold within its limit and under the caps'
    extra caps (where `caps` has none, the ones within_caps applies)."""
    extra = extra_caps_of(caps)
    return np.minimum(state.limits[:, 3:], most_at_permille(state.extra_caps() if extra is None else extra,
                                                            state.extra_capacity))


def fits_under_caps(state: PlacementState, unit: Unit, host: int, caps: tuple[int, int]) -> bool:
    """Could `unit` move to `host` now within its limits, the rules and the move budget, the host's
    CPU ‰ and memory ‰ (and extra resources) staying at or under `caps`?"""
    if not (state.fits(unit, host) and state.within_budget(unit, host)):
        return False
    if state.assignment[unit.index] == host:
        return within_caps(state, host, caps)
    if permille(state.load[host] + unit.cpu_load, state.cpu_capacity[host]) > caps[0] or \
            permille(state.memory[host] + unit.memory_mib, state.memory_capacity[host]) > caps[1]:
        return False
    return not unit.extra or bool(state.under_extra_caps(state.sizes_with(unit, [host]), [host],
                                                         extra_caps_of(caps))[0])


def within_caps(state: PlacementState, host: int, caps: tuple[int, int]) -> bool:
    """Is `host` within its hard limits, its CPU ‰ and memory ‰ (and extra resources) at or under `caps`?"""
    if state.over_hard_limit(host) or state.cpu_permille(host) > caps[0] or state.memory_permille(host) > caps[1]:
        return False
    return not state.problem.resources or bool(state.under_extra_caps(state.sizes[[host]], [host],
                                                                      extra_caps_of(caps))[0])
