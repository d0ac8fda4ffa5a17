"""The swap search's screen, compiled (numba): which (VM leaving the peak host, partner VM) pairs fit
both hosts, and the cheapest of them per unit of relief.

In numpy the screen was a dozen calls over (leaver × partner) arrays, a third-dimension array of
size differences and a lexsort of every pair that fits: about 160 µs of a swap search's 230 µs on
the tight 1000x20000 clusters at fill 0.88, where a third of the greedy's steps search for a swap.
Here it is two calls. They decide exactly what the numpy screen decided (tests/solver/
test_vectorised_checks.py checks every pair against a swap made by hand); the rules a swap must
keep beyond sizes and caps (anti-affinity, min_spread, the move budget) stay in swaps.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NO_PAIR = -1


@njit(cache=True)
def fitting_swaps(out: np.ndarray, back: np.ndarray, hosts: np.ndarray, sizes: np.ndarray, allowed_set: np.ndarray,
                  row_of_set: np.ndarray, allowed: np.ndarray, free: np.ndarray,
                  source_floors: np.ndarray) -> np.ndarray:
    """fits[i, j]: may out[i] go to hosts[j] (its allowed hosts) in exchange for back[j], both hosts
    within their limits and the caps?

    The partner's host gains out[i]'s sizes less back[j]'s and must have room for them (`free`:
    landing.free_under_caps); the source loses that difference, and must lose at least
    `source_floors` (memory, vCPUs, load: swaps._source_floors, which also takes it off its peaks)."""
    fits = np.zeros((len(out), len(back)), dtype=np.bool_)
    for i in range(len(out)):
        unit = out[i]
        row = allowed[row_of_set[allowed_set[unit]]]
        for j in range(len(back)):
            host, partner = hosts[j], back[j]
            memory = sizes[unit, 0] - sizes[partner, 0]
            vcpus = sizes[unit, 1] - sizes[partner, 1]
            load = sizes[unit, 2] - sizes[partner, 2]
            fits[i, j] = row[host] and memory <= free[host, 0] and vcpus <= free[host, 1] and load <= free[host, 2] \
                and memory >= source_floors[0] and vcpus >= source_floors[1] and load >= source_floors[2]
    return fits


@njit(cache=True)
def cheapest_swap(fits: np.ndarray, cost: np.ndarray, out: np.ndarray, back: np.ndarray, sizes: np.ndarray,
                  relief_column: int) -> tuple[int, int]:
    """The (i, j) of `fits` with the least cost[i, j] per unit of relief (the source's loss in
    `relief_column`, at least 1; the plain cost when relief_column is -1), ties to the lower j,
    then the lower i: np.lexsort((rows, columns, key))'s first. (NO_PAIR, NO_PAIR) when none fits."""
    best_i, best_j, best_key = NO_PAIR, NO_PAIR, 0.0
    for i in range(fits.shape[0]):
        for j in range(fits.shape[1]):
            if not fits[i, j]:
                continue
            if relief_column >= 0:
                relief = sizes[out[i], relief_column] - sizes[back[j], relief_column]
                key = cost[i, j] / max(1, relief)
            else:
                key = float(cost[i, j])
            if best_i == NO_PAIR or key < best_key or (key == best_key and (j < best_j or (j == best_j and i < best_i))):
                best_i, best_j, best_key = i, j, key
    return best_i, best_j


def compile_swaps() -> None:
    """Compile both, or load them from numba's cache, on arrays laid out as planning lays them out
    (compiled_relief.compile_relief's reasons)."""
    one = np.zeros(1, dtype=np.int64)
    sizes = np.zeros((1, 3), dtype=np.int64)
    fits = fitting_swaps(one, one, one, sizes, one, one, np.ones((1, 1), dtype=bool), sizes, np.zeros(3, dtype=np.int64))
    cheapest_swap(fits, np.zeros((1, 1), dtype=np.int64), one, one, sizes, 2)
