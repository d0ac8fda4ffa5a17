"""The spread greedy's look over every host at the start of a step, compiled (numba): the hottest
host on a peak, and how cool each host is for the landings that follow.

In numpy these were a dozen calls over the hosts' per-mille arrays at every step, their fixed cost
more than their arithmetic; here they are one pass, and peak_relief.coolness is this pass too. The
results are exactly those of the numpy versions it replaced, kept as the oracle of
tests/solver/test_compiled_heat.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NO_HOST = -1
INT64_MAX = np.iinfo(np.int64).max


@njit(cache=True)
def hottest_and_coolness(cpu_pm: np.ndarray, mem_pm: np.ndarray, extra_pm: np.ndarray, metric_mask: np.ndarray,
                         passed_over: np.ndarray, weights: np.ndarray, extra_weights: np.ndarray,
                         hot: np.ndarray, over: np.ndarray, hot_extra: np.ndarray,
                         over_extra: np.ndarray) -> tuple[int, np.ndarray]:
    """The hottest host on a peak (NO_HOST when none is) and every host's coolness.

    On a peak: a host the metric looks at, not `passed_over` (empty: none is), above `over` in a
    resource that is `hot` (CPU, memory) or above `over_extra` in an extra resource in `hot_extra`.
    Hottest: the most weighed per-mille (`weights` CPU, memory; `extra_weights`), the lowest index
    on ties. Coolness: the per-mille of the weighed resources, unweighted; INT64_MAX on hosts the
    metric ignores."""
    hosts = len(cpu_pm)
    cool = np.empty(hosts, dtype=np.int64)
    best, best_heat = NO_HOST, -1
    for host in range(hosts):
        busy = (weights[0] > 0) * cpu_pm[host] + (weights[1] > 0) * mem_pm[host]
        heat = weights[0] * cpu_pm[host] + weights[1] * mem_pm[host]
        on_peak = (hot[0] and cpu_pm[host] > over[0]) or (hot[1] and mem_pm[host] > over[1])
        for extra in range(len(extra_weights)):
            busy += (extra_weights[extra] > 0) * extra_pm[host, extra]
            heat += extra_weights[extra] * extra_pm[host, extra]
            on_peak = on_peak or (hot_extra[extra] and extra_pm[host, extra] > over_extra[extra])
        if not metric_mask[host]:
            cool[host] = INT64_MAX
            continue
        cool[host] = busy
        if on_peak and not (len(passed_over) and passed_over[host]) and heat > best_heat:
            best, best_heat = host, heat
    return best, cool


def compile_heat() -> None:
    """Compile the pass, or load it from numba's cache, before planning's clock starts."""
    one = np.zeros(1, dtype=np.int64)
    flags = np.zeros(2, dtype=np.bool_)
    hottest_and_coolness(one, one, np.zeros((1, 0), dtype=np.int64), np.ones(1, dtype=np.bool_),
                         np.zeros(0, dtype=np.bool_), np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int64),
                         flags, np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.bool_), np.zeros(0, dtype=np.int64))
