"""The spread greedy's two most frequent searches, compiled (numba): the order in which a peak
host's VMs are tried, and the coolest host that takes one of them under the caps.

Every step of the greedy asks both, on a few dozen VMs and every host. In numpy each was a dozen
calls on short arrays, and the calls' fixed cost, not the arithmetic, was most of a step (on the
tight 1000x20000 clusters at fill 0.88: 41 µs for the order and 60 µs for the landing, of about
320 µs a step). Here each is one call. The results are exactly those of the numpy versions they
replace: the same integers, the same order, the same ties (tests/solver/test_compiled_relief.py).

The rules a landing must keep beyond sizes and caps (anti-affinity, min_spread, the move budget)
stay with PlacementState in Python: `first_landing` proposes, the caller checks the proposal and,
when a rule refuses it, looks for that leaver's next room itself.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from planner.domain.metrics import permille
from planner.instance.unit_arrays import NO_HOME

NO_HOST = -1
INT64_MAX = np.iinfo(np.int64).max


# planner.domain.metrics.permille itself, compiled: numba's cache checks it against metrics.py, so
# after changing it touch this file too (as compiled_steps.py says of its moves).
_permille = njit(cache=True)(permille)


@njit(cache=True)
def leaver_order(indexes: np.ndarray, sizes: np.ndarray, weighted_memory: np.ndarray, home: np.ndarray,
                 relieving: np.ndarray, relief_columns: np.ndarray, source: int, held_memory: int, held_load: int,
                 memory_capacity: int, cpu_capacity: int, cpu_now: int, mem_now: int, on_cpu: bool,
                 on_mem: bool) -> np.ndarray:
    """The units of `indexes` (movable, on `source`, ascending) whose leaving takes the source off
    its peak(s), cheapest per unit of relief first: peak_relief._leavers' order.

    `relieving[k]`: may indexes[k] be a leaver at all (the extra resources' test, made by the
    caller); a unit's relief is its amount summed over `relief_columns` (1 where a column of
    `sizes` counts: load on a CPU peak, else memory, else the extra resources peaking);
    `cpu_now`, `mem_now`: the source's per-mille now."""
    count = len(indexes)
    keys = np.empty(count, dtype=np.float64)
    levels = np.empty(count, dtype=np.int64)
    kept = np.empty(count, dtype=np.int64)
    n = 0
    for k in range(count):
        unit = indexes[k]
        src_cpu = _permille(held_load - sizes[unit, 2], cpu_capacity)
        src_mem = _permille(held_memory - sizes[unit, 0], memory_capacity)
        if not relieving[k] or (on_cpu and src_cpu >= cpu_now) or (on_mem and src_mem >= mem_now):
            continue
        weight = weighted_memory[unit]
        cost = -weight if home[unit] != NO_HOME and home[unit] != source else weight
        relief = 0
        for column in range(len(relief_columns)):
            relief += relief_columns[column] * sizes[unit, column]
        keys[n] = cost / max(1, relief)
        levels[n] = src_cpu + src_mem
        kept[n] = unit
        n += 1
    return _sorted_by(kept[:n], keys[:n], levels[:n])


@njit(cache=True)
def _sorted_by(units: np.ndarray, keys: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """`units` ordered by (key, level, unit): np.lexsort((units, levels, keys)). Insertion sort:
    a host holds a few dozen VMs."""
    order = units.copy()
    k1, k2 = keys.copy(), levels.copy()
    for i in range(1, len(order)):
        unit, key, level = order[i], k1[i], k2[i]
        j = i - 1
        while j >= 0 and (k1[j] > key or (k1[j] == key and (k2[j] > level or (k2[j] == level and order[j] > unit)))):
            order[j + 1], k1[j + 1], k2[j + 1] = order[j], k1[j], k2[j]
            j -= 1
        order[j + 1], k1[j + 1], k2[j + 1] = unit, key, level
    return order


@njit(cache=True)
def first_landing(leavers: np.ndarray, sizes: np.ndarray, home: np.ndarray, allowed_set: np.ndarray,
                  row_of_set: np.ndarray, allowed: np.ndarray, free: np.ndarray, score: np.ndarray, avoid: int,
                  start: int) -> tuple[int, int]:
    """From leavers[start] on, the first (position in `leavers`, host) landing.ranked_landing would
    try: for each leaver its home when it has room, then its rooms by ascending `score` (lowest host
    on ties), never `avoid`, a host outside the leaver's allowed set or a host scored INT64_MAX.
    (NO_HOST, NO_HOST) when there is none.

    Room: the leaver's memory, vCPUs, load and extra named resources within what the host can still
    take under the caps (`free`: landing.free_with_extras, a column per column of `sizes`). A unit's
    allowed hosts are allowed[row_of_set[allowed_set[unit]]] (AllowedRows, covering every leaver)."""
    most = _most_free(free, score, avoid)
    for position in range(start, len(leavers)):
        unit = leavers[position]
        if not _takes(most, 0, sizes, unit):
            continue  # no host has that much room in one of them: most leavers that do not land
        row = allowed[row_of_set[allowed_set[unit]]]
        here = home[unit]
        if here != NO_HOME and here != avoid and row[here] and score[here] < INT64_MAX \
                and _takes(free, here, sizes, unit):
            return position, here
        best, best_score = NO_HOST, INT64_MAX
        for host in range(len(score)):
            if score[host] < best_score and host != avoid and row[host] and _takes(free, host, sizes, unit):
                best, best_score = host, score[host]
        if best != NO_HOST:
            return position, best
    return NO_HOST, NO_HOST


@njit(cache=True)
def _takes(free: np.ndarray, host: int, sizes: np.ndarray, unit: int) -> bool:
    """Does `unit` fit in what `host` can still take, in every column (memory, vCPUs, load, then each
    extra named resource)?"""
    for column in range(free.shape[1]):
        if sizes[unit, column] > free[host, column]:
            return False
    return True


@njit(cache=True)
def _most_free(free: np.ndarray, score: np.ndarray, avoid: int) -> np.ndarray:
    """Per column, the most any host but `avoid` scored below INT64_MAX can take (-1 when there is
    none), as a one-row table: a leaver above it in one column lands nowhere."""
    most = np.full((1, free.shape[1]), -1, dtype=np.int64)
    for host in range(len(score)):
        if host != avoid and score[host] < INT64_MAX:
            for column in range(free.shape[1]):
                most[0, column] = max(most[0, column], free[host, column])
    return most


def compile_relief() -> None:
    """Compile both searches, or load them from numba's cache, on arrays laid out as planning lays
    them out (so no second version is compiled later): planning calls this before its clock starts,
    so no time limit pays for it (about 1.5 s the first time after installing, 0.2 s once cached)."""
    one = np.zeros(1, dtype=np.int64)
    sizes = np.zeros((1, 3), dtype=np.int64)
    leaver_order(one, sizes, one, one, np.ones(1, dtype=bool), one, 0, 0, 0, 1, 1, 0, 0, True, False)
    first_landing(one, sizes, one, one, one, np.ones((1, 1), dtype=bool), sizes, one, 0, 0)
