"""The units' sizes and homes as numpy arrays, for the greedy's vectorised checks.

A spread step looks at every VM of a peak host and, for a swap, at every VM of two dozen partner
hosts; reading those sizes attribute by attribute from Unit objects in Python was most of a swap
search. Built once per problem; a problem derived from another (its units freed or fixed) patches
that one's instead (`refreed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # problem.py builds these arrays
    from planner.instance.problem import Unit

NO_HOME = -1  # an affinity group whose members run on different hosts


@dataclass(frozen=True)
class UnitArrays:
    """Per unit, by Unit.index."""

    sizes: np.ndarray  # (memory MiB, vCPUs, load millicores, extras…), as PlacementState.sizes
    fixed: np.ndarray  # bool
    home: np.ndarray  # the host every member runs on now, or NO_HOME
    weighted_memory: np.ndarray  # Unit.weighted_memory
    allowed_set: np.ndarray  # index into `allowed_sets` of the unit's allowed hosts
    allowed_sets: tuple[frozenset[int], ...]
    members: np.ndarray  # how many VMs move with the unit (more than one: an affinity group)

    @property
    def single_vms(self) -> bool:
        """Whether every unit is one VM (no affinity groups): then move costs vectorise (swaps.py)."""
        return bool((self.members == 1).all())

    @staticmethod
    def of(units: Sequence[Unit], extras: int) -> UnitArrays:
        sizes = np.array([(u.memory_mib, u.vcpus, u.cpu_load, *u.extra) for u in units],
                         dtype=np.int64).reshape(len(units), 3 + extras)
        set_index: dict[int, int] = {}
        sets: list[frozenset[int]] = []
        for unit in units:
            if id(unit.allowed) not in set_index:  # units share the frozensets (problem._SharedHostSets)
                set_index[id(unit.allowed)] = len(sets)
                sets.append(unit.allowed)
        return UnitArrays(
            sizes,
            np.array([u.fixed for u in units], dtype=bool),
            np.array([NO_HOME if u.current is None else u.current for u in units], dtype=np.int64),
            np.array([u.weighted_memory for u in units], dtype=np.int64),
            np.array([set_index[id(u.allowed)] for u in units], dtype=np.int64),
            tuple(sets),
            np.array([len(u.member_hosts) for u in units], dtype=np.int64))

    def refreed(self, units: Sequence[Unit]) -> UnitArrays:
        """These arrays with `units` (by Unit.index) in place of the units there, which differ only in
        their allowed hosts or fixedness (problem.with_units, with_drain_lifted): sizes and homes are
        shared, not built again from 200,000 Unit objects."""
        fixed = self.fixed.copy()
        allowed_set = self.allowed_set.copy()
        set_index = {id(hosts): index for index, hosts in enumerate(self.allowed_sets)}
        sets = list(self.allowed_sets)
        for unit in units:
            if id(unit.allowed) not in set_index:
                set_index[id(unit.allowed)] = len(sets)
                sets.append(unit.allowed)
            fixed[unit.index] = unit.fixed
            allowed_set[unit.index] = set_index[id(unit.allowed)]
        # Only the sets some unit still has: the drain's one-host sets go once its kept units are freed
        # (may_go_to asks each set in turn whether it holds a host).
        used, allowed_set = np.unique(allowed_set, return_inverse=True)
        return UnitArrays(self.sizes, fixed, self.home, self.weighted_memory, allowed_set.astype(np.int64),
                          tuple(sets[index] for index in used.tolist()), self.members)

    def held_by_fixed(self, hosts: int) -> np.ndarray:
        """Per host, what its fixed units hold: rows of (memory MiB, vCPUs, load, extras…), the
        shape of PlacementState.sizes. No move frees that much on a host. (An affinity group split
        over hosts is never fixed in place: it has no home to hold.)"""
        held = self.fixed & (self.home != NO_HOME)
        sizes = np.zeros((hosts, self.sizes.shape[1]), dtype=np.int64)
        np.add.at(sizes, self.home[held], self.sizes[held])
        return sizes

    def allowing(self, host: int) -> np.ndarray:
        """Per allowed set, whether it holds `host`."""
        return np.fromiter((host in hosts for hosts in self.allowed_sets), dtype=bool, count=len(self.allowed_sets))

