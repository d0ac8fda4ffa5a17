"""PlacementState.copy(): a state with the same placement and no history, built by copying the
bookkeeping instead of counting every unit again.

Every attribute is copied unless it is listed as shared (fixed by the problem, never written) or as
started empty (the history and the caches), so an attribute added to the state later is copied,
deeply if it is of a shape not handled here: never shared by mistake.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import numpy as np

# What PlacementState.copy() shares with the original: fixed by the problem, never written.
_SHARED = frozenset({"problem", "cpu_capacity", "memory_capacity", "cpu_capacity_array", "memory_capacity_array",
                     "limits", "extra_capacity", "score_divisors", "extra_limit_rows", "metric_mask", "weighted", "single_vm_units"})
# What a copy starts empty: the history (moves, path), the dirty set (flushed first) and the caches.
_EMPTIED = frozenset({"moves", "path", "_dirty", "_allowed_masks", "_sets_allowing", "_most_at"})


def _copy_value(value: object) -> object:
    """A copy of one bookkeeping attribute, sharing nothing mutable with it: flat copies for the
    shapes the state keeps (fast), a deep copy for anything else."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list) and not value:
        return []
    if isinstance(value, list) and isinstance(value[0], (set, dict, list)):  # per host or group
        return [type(item)(item) for item in value]
    if isinstance(value, list) and isinstance(value[0], int):
        return list(value)
    return copy.deepcopy(value)


State = TypeVar("State")


def copy_of(state: State) -> State:
    """The copy (the caller has brought its numpy rows up to date)."""
    twin = object.__new__(type(state))
    for name, value in vars(state).items():
        if name in _SHARED:
            twin.__dict__[name] = value
        elif name in _EMPTIED:
            twin.__dict__[name] = type(value)()
        else:
            twin.__dict__[name] = _copy_value(value)
    return twin
