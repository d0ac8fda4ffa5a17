"""HostRanking's first k hosts are those of a stable sort of every host, ties to the lower host."""

from __future__ import annotations

import numpy as np
import pytest

from planner.solver.host_ranking import HostRanking


@pytest.mark.parametrize("seed", range(8))
def test_the_first_hosts_are_a_stable_full_sorts_first_hosts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    hosts = int(rng.integers(1, 60))
    key = rng.integers(-4, 5, size=hosts).astype(np.int64)  # many ties
    key[rng.random(hosts) < 0.2] = np.iinfo(np.int64).max  # hosts ranked last, as the greedy's
    count = int(rng.integers(0, hosts + 1))
    expected = np.argsort(key, kind="stable")[:count].tolist()
    for k in range(0, hosts + 2):
        assert HostRanking(key, count).first(k) == expected[:k]
    ranking = HostRanking(key, count)
    assert ranking.all() == expected and ranking.first(3) == expected[:3]
