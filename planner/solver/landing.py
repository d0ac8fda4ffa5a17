"""The coolest host that takes a VM under the spread caps, with the sizes checked for every host at once.

The spread greedy and its ejection chains ask this for every VM they try to move; a Python loop
over a thousand hosts per VM made it most of the greedy's time on large clusters."""

from __future__ import annotations

import numpy as np

from planner.domain.metrics import permilles_at_most
from planner.instance.problem import Unit
from planner.instance.state import PlacementState
from planner.solver.caps import extra_caps_of


def coolest_fit(state: PlacementState, unit: Unit, avoid: tuple[int, ...], caps: tuple[int, int],
                targets: list[int]) -> int | None:
    """The first host of `targets` (coolest first; not in `avoid`) that takes `unit` within its
    limits and the rules, its CPU ‰ and memory ‰ staying at or under `caps`. The host the unit
    started on comes first, since going back costs nothing."""
    home = unit.current
    ordered = ([home] if home is not None and home not in avoid else []) + targets
    room = _room(state, unit, caps)
    for host in np.asarray(ordered, dtype=np.int64)[room[ordered]].tolist():
        if host in avoid or host not in unit.allowed:
            continue
        if state.fits(unit, host) and state.within_budget(unit, host):
            return host
    return None


def _room(state: PlacementState, unit: Unit, caps: tuple[int, int]) -> np.ndarray:
    """room[h]: does `unit` fit on host h by size, under the hard limits and the caps?"""
    after = state.sizes_with(unit)
    room = ((after <= state.limits).all(axis=1)
            & permilles_at_most(after[:, 2], state.cpu_capacity_array, caps[0])
            & permilles_at_most(after[:, 0], state.memory_capacity_array, caps[1]))
    return room & state.under_extra_caps(after, caps=extra_caps_of(caps)) if unit.extra else room
