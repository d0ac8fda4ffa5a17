"""What moving one item (a VM, a ROADEF process) from one host to another costs, in one form for
both engines:

    cost(item, source → target) = 0                                      when source == target
                                = weight(item) × factor[d(s), d(t)] + added[d(s), d(t)]  else

with d(host) the host's *domain*. The product's move costs are memory × the VM's factor (the
weight) × `cross_factor` when the two hosts' cross-label values differ (domains are those values,
`added` is zero). ROADEF's are the process move cost × its weight, plus the machine move cost
matrix × its weight (domains are the machines themselves, every factor is 1). The service move
cost, a maximum over services, is not a per-item sum and stays a term of its own.

Host sets and matrices are numpy arrays, shared by every item; the scalar `cost` is what the
product's greedy asks per unit, the vectorised forms what the local search prices per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

LISTED_DOMAINS = 1024


@dataclass(frozen=True, eq=False)
class MoveCostMatrix:
    domain: np.ndarray  # (hosts,) host → domain id
    factor: np.ndarray  # (domains, domains): multiplies the item's weight
    added: np.ndarray  # (domains, domains): added per item moved, whatever its weight
    # The same as Python lists for `cost`: indexing numpy one scalar at a time is five times
    # slower, and the product's greedy prices units one host at a time. Left out (None) past
    # LISTED_DOMAINS, where lists of lists would take gigabytes (a ROADEF instance's 5,000 machines).
    _domains: list[int] = field(init=False, repr=False)
    _rows: tuple[list[list[int]], list[list[int]]] | None = field(init=False, repr=False)
    # The factor when it is one number everywhere (ROADEF's 1, the product's 1 when nothing is
    # weighed), and whether nothing is added: the vectorised forms then skip gathering a matrix,
    # which was most of their time.
    _one_factor: int | None = field(init=False, repr=False)
    _adds: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_domains", self.domain.tolist())
        small = len(self.factor) <= LISTED_DOMAINS
        object.__setattr__(self, "_rows", (self.factor.tolist(), self.added.tolist()) if small else None)
        lowest, highest = (int(self.factor.min()), int(self.factor.max())) if self.factor.size else (1, 1)
        object.__setattr__(self, "_one_factor", lowest if lowest == highest else None)
        object.__setattr__(self, "_adds", bool(self.added.size) and bool(self.added.any()))

    @classmethod
    def crossing(cls, host_domain: Sequence[int], cross_factor: int) -> MoveCostMatrix:
        """Weight × `cross_factor` across domains, the weight alone within one (the product's form)."""
        domains = max(host_domain, default=-1) + 1
        factor = np.full((domains, domains), cross_factor, dtype=np.int64)
        np.fill_diagonal(factor, 1)
        return cls(_frozen(host_domain), _frozen(factor), _constant(0, (domains, domains)))

    @classmethod
    def per_host(cls, added: np.ndarray) -> MoveCostMatrix:
        """The weight plus `added[source, target]` for every move (ROADEF's form: one domain per host)."""
        hosts = len(added)
        return cls(_frozen(np.arange(hosts)), _constant(1, (hosts, hosts)), _frozen(added))

    def cost(self, weight: int, source: int, target: int) -> int:
        if source == target:
            return 0
        a, b = self._domains[source], self._domains[target]
        if self._rows is not None:
            factor, added = self._rows
            return weight * factor[a][b] + added[a][b]
        return weight * int(self.factor[a, b]) + int(self.added[a, b])

    def costs_to(self, weight: int, source: int, targets: np.ndarray) -> np.ndarray:
        """cost(weight, source, t) for each of `targets`."""
        return self.each(weight, source, targets)

    def each(self, weights: np.ndarray | int, sources: np.ndarray | int, targets: np.ndarray | int) -> np.ndarray:
        """cost(weights[i], sources[i], targets[i]) for each i (arrays broadcast, scalars too)."""
        moving = np.not_equal(sources, targets)
        if self._one_factor is not None and not self._adds:
            return np.where(moving, np.multiply(weights, self._one_factor), 0)
        a, b = self.domain[sources], self.domain[targets]
        weighed = np.multiply(weights, self._one_factor if self._one_factor is not None else self.factor[a, b])
        return np.where(moving, weighed + self.added[a, b] if self._adds else weighed, 0)


def _frozen(values: Sequence[int] | np.ndarray) -> np.ndarray:
    array = np.array(values, dtype=np.int64)
    array.setflags(write=False)
    return array


def _constant(value: int, shape: tuple[int, int]) -> np.ndarray:
    """A read-only matrix of one value that takes no memory: a ROADEF instance has 5,000 machines."""
    return np.broadcast_to(np.int64(value), shape)
