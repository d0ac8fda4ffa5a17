"""The exchange search's last check on a partner, compiled (numba): could the partner's VMs that
cover the memory it must shed carry little enough CPU load for the source to take back?

Asked of one partner at a time in Python (a list of the partner's VMs, a sort, a loop) it was most
of an exchange search: about 53,000 times, 0.67 s, in one 10 s spread of the tight 1000x20000
cluster at fill 0.88. Here a batch of partners is one call, and each answer is exactly
planner.bounds.lower_bounds.fractional_cover_cost's: the same VMs in the same order (a stable sort
of a partner's VMs as its set lists them, lightest per MiB first) and the same float operations
(tests/solver/test_compiled_cover.py checks it against that function).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Float sums: the check never refuses an exact fit.
TOLERANCE = 1e-6


@njit(cache=True)
def light_returns(starts: np.ndarray, memory: np.ndarray, load: np.ndarray, returnable: np.ndarray,
                  need: np.ndarray, load_room: int) -> np.ndarray:
    """Per partner b: the VMs at [starts[b], starts[b + 1]) of `memory`/`load`/`returnable` (MiB,
    millicores, may go to the source) are its own; True when it must shed no memory (`need[b]` <= 0),
    or its returnable VMs hold `need[b]` MiB and the least load covering it fractionally (lightest per
    MiB first) is at most `load_room`."""
    partners = len(starts) - 1
    ok = np.zeros(partners, dtype=np.bool_)
    for b in range(partners):
        if need[b] <= 0:
            ok[b] = True
            continue
        ok[b] = _cover_load(starts[b], starts[b + 1], memory, load, returnable, need[b]) <= load_room + TOLERANCE
    return ok


@njit(cache=True)
def _cover_load(first: int, end: int, memory: np.ndarray, load: np.ndarray, returnable: np.ndarray,
                need: int) -> float:
    """The least load of the returnable VMs in [first, end) covering `need` MiB fractionally; infinite
    when all of them hold less."""
    keys = np.empty(end - first, dtype=np.float64)
    where = np.empty(end - first, dtype=np.int64)
    total, count = 0, 0
    for k in range(first, end):
        if returnable[k]:
            total += memory[k]
            if memory[k] > 0:
                keys[count] = load[k] / memory[k]
                where[count] = k
                count += 1
    if total < need:
        return np.inf
    amount, cost = float(need), 0.0
    for j in np.argsort(keys[:count], kind="mergesort"):
        if amount <= 0:
            break
        k = where[j]
        take = min(1.0, amount / memory[k])
        cost += take * load[k]
        amount -= memory[k] * take
    return cost


def compile_cover() -> None:
    """Compile it, or load it from numba's cache, on arrays laid out as the exchange search lays
    them out, before planning's clock starts (compiled_relief.compile_relief's reasons)."""
    one = np.zeros(1, dtype=np.int64)
    light_returns(np.zeros(2, dtype=np.int64), one, one, np.ones(1, dtype=bool), one, 0)
