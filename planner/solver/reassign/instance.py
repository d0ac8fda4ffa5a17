"""A multi-resource reassignment problem as frozen dataclasses over read-only numpy arrays.

The general form of what `rebalance` plans, in the vocabulary of the ROADEF/EURO 2012 challenge
that defined it (machine = host, process = VM, service = a group of VMs):

* any number of resources, each with a capacity per machine and a requirement per process;
  *transient* resources stay held on a process's original machine once it moved (what a live
  migration holds on its source until it completes);
* a soft threshold per machine and resource (the safety capacity) with a linear cost above it,
  and balance costs between pairs of resources;
* groups: no two processes of a service on one machine, a minimum spread of a service over
  locations (a label such as rack), dependencies of one service on another within a
  neighbourhood (another label);
* move costs per process, per machine pair (source, destination), and for the most-moved service.

The weights come with the instance; only the challenge's file format and scoring live in
benchmarks/roadef/.

Integer units exactly as in the files. Requirements, capacities and costs are int64 (the spec's
values are 32-bit unsigned and sums over 50,000 processes overflow int32); the machine move-cost
matrix is int32 because it is the only M x M array (5,000 machines -> 100 MB as int32) and its
entries are small. Indices (neighbourhood, location, service, machine) are int32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def frozen_array(values: np.ndarray, dtype: type) -> np.ndarray:
    """A read-only copy, so a frozen dataclass is frozen all the way down."""
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Resources:
    transient: np.ndarray  # (R,) bool: the resource is held on both machines of a move
    load_weight: np.ndarray  # (R,) int64: weightLoadCost(r)

    @property
    def count(self) -> int:
        return len(self.transient)


@dataclass(frozen=True, eq=False)
class Machines:
    neighborhood: np.ndarray  # (M,) int32
    location: np.ndarray  # (M,) int32
    capacity: np.ndarray  # (M, R) int64: C(m, r)
    safety: np.ndarray  # (M, R) int64: SC(m, r)
    move_cost: np.ndarray  # (M, M) int32: MMC(source, destination)

    @property
    def count(self) -> int:
        return len(self.neighborhood)


@dataclass(frozen=True, eq=False)
class Services:
    spread_min: np.ndarray  # (S,) int32
    dependencies: tuple[tuple[int, ...], ...]  # dependencies[s]: the services s depends on

    @property
    def count(self) -> int:
        return len(self.spread_min)


@dataclass(frozen=True, eq=False)
class Processes:
    service: np.ndarray  # (P,) int32
    requirement: np.ndarray  # (P, R) int64: R(p, r)
    move_cost: np.ndarray  # (P,) int64: PMC(p)

    @property
    def count(self) -> int:
        return len(self.service)


@dataclass(frozen=True)
class Balance:
    """max(0, target * A(m, first) - A(m, second)) per machine, A = capacity - usage."""

    first: int
    second: int
    target: int
    weight: int


@dataclass(frozen=True)
class ObjectiveWeights:
    """The weights of the three move-cost terms in the objective. The search folds the process and
    machine ones into one MoveCostMatrix (delta.py); the service one weighs a maximum of its own."""

    process: int
    service: int
    machine: int


@dataclass(frozen=True, eq=False)
class Instance:
    name: str
    resources: Resources
    machines: Machines
    services: Services
    processes: Processes
    balances: tuple[Balance, ...]
    weights: ObjectiveWeights

    @property
    def neighborhood_count(self) -> int:
        return int(self.machines.neighborhood.max()) + 1

    @property
    def location_count(self) -> int:
        return int(self.machines.location.max()) + 1
