"""Hosts in ascending order of a key, the first few without sorting them all.

A spread step that finds no single move ranks every host twice (coolest first, and by CPU room)
and mostly reads the first two dozen of each (swaps.SWAP_TARGETS); the full order is for the rarer
searches after a swap fails. Sorting 1,000 hosts and listing them took about 30 µs a ranking.
"""

from __future__ import annotations

import numpy as np


class HostRanking:
    """np.argsort(key, kind="stable")[:count]: ascending key, ties to the lower host."""

    def __init__(self, key: np.ndarray, count: int) -> None:
        self._key, self._count = key, count
        self._all: list[int] | None = None

    def first(self, k: int) -> list[int]:
        """The first `k` of the ranking: only the hosts keyed at most the k-th smallest key are sorted."""
        if k >= self._count or self._all is not None:
            return self.all()[:k]
        if k <= 0:
            return []
        kth = np.partition(self._key, k - 1)[k - 1]
        within = np.flatnonzero(self._key <= kth)  # ascending host: a stable sort keeps ties in host order
        return within[np.argsort(self._key[within], kind="stable")[:k]].tolist()

    def all(self) -> list[int]:
        if self._all is None:
            self._all = np.argsort(self._key, kind="stable")[: self._count].tolist()
        return self._all
