"""The repair's choice of host for one VM, scored over every host in one compiled pass (numba).

The repair places each VM that must move on the allowed host with room it burdens least
(greedy._least_loaded_fit). In numpy that was fifteen calls over the hosts per VM (the allowed
mask, room in each dimension, three per-mille columns and their sum), their fixed cost more than
their arithmetic: most of a drain's 11,000 moves at 10,000 hosts. Here it is one pass, with the
same floating-point operations in the same order, so the scores are exactly greedy.balance_scores'
(the oracle of tests/solver/test_compiled_scores.py). Extra named resources take the numpy path.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def candidate_scores(sizes: np.ndarray, limits: np.ndarray, allowed: np.ndarray, divisors: np.ndarray,
                     demand: np.ndarray, cpu_weight: int, memory_weight: int, exclude: int) -> np.ndarray:
    """balance_score of a unit of `demand` (memory MiB, vCPUs, load) on every host that is
    `allowed`, has room for it in every column of `sizes` against `limits` and is not `exclude`;
    infinity elsewhere. `divisors` are the state's score_divisors rows (CPU, memory, vCPUs)."""
    hosts = len(sizes)
    scores = np.empty(hosts, dtype=np.float64)
    for host in range(hosts):
        room = allowed[host] and host != exclude
        for column in range(3):
            room = room and sizes[host, column] + demand[column] <= limits[host, column]
        if not room:
            scores[host] = np.inf
            continue
        score = np.ceil((sizes[host, 1] + demand[1]) * 1000.0 / divisors[2, host])
        score += cpu_weight * np.ceil((sizes[host, 2] + demand[2]) * 1000.0 / divisors[0, host])
        score += memory_weight * np.ceil((sizes[host, 0] + demand[0]) * 1000.0 / divisors[1, host])
        scores[host] = score
    return scores


def compile_scores() -> None:
    """Compile the pass, or load it from numba's cache, before planning's clock starts."""
    one_host = np.zeros((1, 3), dtype=np.int64)
    candidate_scores(one_host, one_host, np.ones(1, dtype=np.bool_), np.ones((3, 1), dtype=np.float64),
                     np.zeros(3, dtype=np.int64), 1, 1, -1)
