"""PlacementState.copy() and .under(): a state with the same placement and no history, built by
copying the bookkeeping instead of counting every unit again, and what a state reads off its
problem (bound_to), which a copy shares or, under another problem, takes from that one.

Every attribute is copied unless it is listed as shared (fixed by the problem, never written) or as
started empty (the history and the caches), so an attribute added to the state later is copied,
deeply if it is of a shape not handled here: never shared by mistake.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import numpy as np

from planner.instance.allowed_rows import AllowedRows
from planner.instance.problem import Problem

# What PlacementState.copy() shares with the original: bound_to's, fixed by the problem, never written.
SHARED = frozenset({"problem", "cpu_capacity", "memory_capacity", "cpu_capacity_array", "memory_capacity_array",
                    "limits", "extra_capacity", "score_divisors", "extra_limit_rows", "metric_mask", "weighted",
                    "single_vm_units", "allowed_rows"})
# What a copy starts empty: the history (moves, path), the dirty set (flushed first) and the caches.
_EMPTIED = frozenset({"moves", "path", "_dirty", "_allowed_masks", "_sets_allowing", "_most_at"})


def _copy_value(value: object) -> object:
    """A copy of one bookkeeping attribute, sharing nothing mutable with it: flat copies for the
    shapes the state keeps (fast), a deep copy for anything else."""
    if isinstance(value, np.ndarray):
        return value.copy(order="K")  # keeps column-major arrays column-major
    if isinstance(value, list) and not value:
        return []
    if isinstance(value, list) and isinstance(value[0], (set, dict, list)):  # per host or group
        return [type(item)(item) for item in value]
    if isinstance(value, list) and isinstance(value[0], int):
        return list(value)
    return copy.deepcopy(value)


State = TypeVar("State")


def bound_to(problem: Problem) -> dict[str, object]:
    """What a placement state reads off `problem` and never writes, by attribute (SHARED)."""
    hosts, extras = len(problem.hosts), len(problem.resources)
    cpu_capacity = [h.cpu_capacity_millicores for h in problem.hosts]
    memory_capacity = [h.usable_memory_mib for h in problem.hosts]
    cpu_capacity_array = np.array(cpu_capacity, dtype=np.int64)
    memory_capacity_array = np.array(memory_capacity, dtype=np.int64)
    limits = problem.limit_rows
    # greedy.balance_scores' divisors (CPU, memory, vCPUs): inf for no capacity, so 0 ‰ there.
    divisors = np.stack([cpu_capacity_array, memory_capacity_array, np.maximum(1, limits[:, 1])])
    metric_mask = np.zeros(hosts, dtype=bool)
    metric_mask[sorted(problem.metric_hosts)] = True
    return {
        "problem": problem,
        "cpu_capacity": cpu_capacity,
        "memory_capacity": memory_capacity,
        "cpu_capacity_array": cpu_capacity_array,
        "memory_capacity_array": memory_capacity_array,
        "limits": limits,
        "score_divisors": np.where(divisors > 0, divisors, np.inf).astype(np.float64),
        # Extra resources: utilisation is against the declared capacity.
        "extra_capacity": np.array([problem.extra_capacity(k) for k in range(extras)],
                                   dtype=np.int64).reshape(extras, hosts).T,
        # Plain lists beside the array: fits() runs hundreds of thousands of times per plan.
        "extra_limit_rows": limits[:, 3:].tolist(),
        "metric_mask": metric_mask,
        "weighted": problem.weighted_costs,
        "single_vm_units": problem.unit_arrays.single_vms,
        # Grows as units are asked about, but only with what the problem fixes: shared like the rest.
        "allowed_rows": AllowedRows(problem.unit_arrays, hosts),
    }


def copy_of(state: State, problem: Problem | None = None) -> State:
    """The copy (the caller has brought its numpy rows up to date), bound to `problem` if given:
    one over the same hosts and units, whose counts the copy keeps."""
    twin = object.__new__(type(state))
    bound = bound_to(problem) if problem is not None else {}
    for name, value in vars(state).items():
        if name in SHARED:
            twin.__dict__[name] = value if problem is None else bound[name]
        elif name in _EMPTIED:
            twin.__dict__[name] = type(value)()
        else:
            twin.__dict__[name] = _copy_value(value)
    return twin
