"""The allowed sets of the units asked about so far, as rows of one boolean matrix over the hosts,
for compiled code that reads "may this unit go to that host" for every host.

Built on demand: a cluster has a few sets for its movable VMs and one per pinned VM (403 on the
tight 1000x20000 cluster, 3 of them for movable VMs), and only the movable ones are ever asked.
The rows depend on the problem alone, so every state of a problem shares one.
"""

from __future__ import annotations

import numpy as np

from planner.instance.unit_arrays import UnitArrays


class AllowedRows:
    def __init__(self, arrays: UnitArrays, hosts: int) -> None:
        self._arrays = arrays
        self.row_of_set = np.full(len(arrays.allowed_sets), -1, dtype=np.int64)
        self.matrix = np.zeros((0, hosts), dtype=bool)

    def cover(self, indexes: np.ndarray) -> None:
        """Make sure the allowed set of every unit of `indexes` (Unit.index) has its row."""
        sets = self._arrays.allowed_set[indexes]
        missing = np.unique(sets[self.row_of_set[sets] < 0])
        if not missing.size:
            return
        rows = np.zeros((len(missing), self.matrix.shape[1]), dtype=bool)
        for row, allowed_set in zip(rows, missing.tolist()):
            row[sorted(self._arrays.allowed_sets[allowed_set])] = True
        self.row_of_set[missing] = np.arange(len(self.matrix), len(self.matrix) + len(missing))
        self.matrix = np.concatenate((self.matrix, rows))
