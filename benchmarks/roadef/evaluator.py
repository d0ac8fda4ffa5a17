"""The official objective and every hard constraint of a solution, computed from scratch.

Independent of the solver on purpose: it shares no state or incremental bookkeeping with
`delta.py`, only the instance, so a bug in one cannot hide a bug in the other. Vectorised with
numpy (a 50,000-process solution is checked in well under a second).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from planner.solver.reassign.instance import Instance


class Constraint(StrEnum):
    CAPACITY = "capacity"
    CONFLICT = "conflict"
    SPREAD = "spread"
    DEPENDENCY = "dependency"
    TRANSIENT = "transient"


@dataclass(frozen=True)
class Violation:
    constraint: Constraint
    detail: str  # names the machine / resource / service / neighbourhood involved


@dataclass(frozen=True)
class Costs:
    """The five weighted terms of the total objective (specification §1.3.6), as exact integers."""

    load: int
    balance: int
    process_move: int
    service_move: int
    machine_move: int

    @property
    def total(self) -> int:
        return self.load + self.balance + self.process_move + self.service_move + self.machine_move


@dataclass(frozen=True)
class Report:
    costs: Costs
    violations: tuple[Violation, ...]

    @property
    def valid(self) -> bool:
        return not self.violations

    def constraints_broken(self) -> set[Constraint]:
        return {violation.constraint for violation in self.violations}


def evaluate(instance: Instance, original: np.ndarray, solution: np.ndarray) -> Report:
    """Costs and violations of `solution` (machine per process) against the original assignment."""
    original = _checked(instance, original, "original")
    solution = _checked(instance, solution, "solution")
    usage = machine_usage(instance, solution)
    violations = [
        *capacity_violations(instance, usage),
        *transient_violations(instance, usage, original, solution),
        *conflict_violations(instance, solution),
        *spread_violations(instance, solution),
        *dependency_violations(instance, solution),
    ]
    return Report(costs=costs(instance, usage, original, solution), violations=tuple(violations))


def _checked(instance: Instance, assignment: np.ndarray, what: str) -> np.ndarray:
    """A malformed assignment is not a constraint violation but a caller's error."""
    array = np.asarray(assignment)
    if array.shape != (instance.processes.count,):
        raise ValueError(f"{what}: expected {instance.processes.count} machine indices, got shape {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= instance.machines.count):
        raise ValueError(f"{what}: machine indices must be in [0, {instance.machines.count})")
    return array.astype(np.int64)


def machine_usage(instance: Instance, assignment: np.ndarray) -> np.ndarray:
    """U(m, r) as an (M, R) int64 array."""
    return _sum_by_machine(instance, assignment, instance.processes.requirement)


def _sum_by_machine(instance: Instance, machines: np.ndarray, requirement: np.ndarray) -> np.ndarray:
    usage = np.zeros((instance.machines.count, instance.resources.count), dtype=np.int64)
    np.add.at(usage, machines, requirement)
    return usage


# --- costs -------------------------------------------------------------------------------------


def costs(instance: Instance, usage: np.ndarray, original: np.ndarray, solution: np.ndarray) -> Costs:
    moved = original != solution
    weights = instance.weights
    return Costs(
        load=load_cost(instance, usage),
        balance=balance_cost(instance, usage),
        process_move=weights.process * int(instance.processes.move_cost[moved].sum()),
        service_move=weights.service * service_move_count(instance, moved),
        machine_move=weights.machine * int(instance.machines.move_cost[original, solution].sum(dtype=np.int64)),
    )


def load_cost(instance: Instance, usage: np.ndarray) -> int:
    over = np.maximum(usage - instance.machines.safety, 0).sum(axis=0)
    return int((over * instance.resources.load_weight).sum())


def balance_cost(instance: Instance, usage: np.ndarray) -> int:
    available = instance.machines.capacity - usage
    total = 0
    for balance in instance.balances:
        shortfall = balance.target * available[:, balance.first] - available[:, balance.second]
        total += balance.weight * int(np.maximum(shortfall, 0).sum())
    return total


def service_move_count(instance: Instance, moved: np.ndarray) -> int:
    """max over services of the number of moved processes (0 when nothing moved)."""
    counts = np.bincount(instance.processes.service[moved], minlength=instance.services.count)
    return int(counts.max(initial=0))


# --- hard constraints --------------------------------------------------------------------------


def capacity_violations(instance: Instance, usage: np.ndarray) -> list[Violation]:
    capacity = instance.machines.capacity
    return [
        Violation(Constraint.CAPACITY, f"machine {m} resource {r}: usage {usage[m, r]} > capacity {capacity[m, r]}")
        for m, r in np.argwhere(usage > capacity)
    ]


def transient_violations(instance: Instance, usage: np.ndarray, original: np.ndarray, solution: np.ndarray) -> list[Violation]:
    """A moved process still holds its transient resources on its original machine (specification §1.2.5)."""
    transient = np.flatnonzero(instance.resources.transient)
    if transient.size == 0:
        return []
    moved = original != solution
    left_behind = _sum_by_machine(instance, original[moved], instance.processes.requirement[moved])
    held = usage[:, transient] + left_behind[:, transient]
    capacity = instance.machines.capacity[:, transient]
    return [
        Violation(
            Constraint.TRANSIENT,
            f"machine {m} resource {transient[k]}: usage plus processes moved away {held[m, k]} > capacity {capacity[m, k]}",
        )
        for m, k in np.argwhere(held > capacity)
    ]


def conflict_violations(instance: Instance, solution: np.ndarray) -> list[Violation]:
    machines = instance.machines.count
    keys, counts = np.unique(instance.processes.service.astype(np.int64) * machines + solution, return_counts=True)
    return [
        Violation(Constraint.CONFLICT, f"service {key // machines}: {count} processes on machine {key % machines}")
        for key, count in zip(keys[counts > 1].tolist(), counts[counts > 1].tolist())
    ]


def spread_violations(instance: Instance, solution: np.ndarray) -> list[Violation]:
    locations = instance.location_count
    services = instance.processes.service.astype(np.int64)
    pairs = np.unique(services * locations + instance.machines.location[solution])
    spread = np.bincount(pairs // locations, minlength=instance.services.count)
    short = np.flatnonzero(spread < instance.services.spread_min)
    return [
        Violation(Constraint.SPREAD, f"service {s}: {spread[s]} locations < spreadMin {instance.services.spread_min[s]}")
        for s in short.tolist()
    ]


def dependency_violations(instance: Instance, solution: np.ndarray) -> list[Violation]:
    """Each (service a, neighbourhood n) in use needs every service a depends on to be in n too."""
    hoods = instance.neighborhood_count
    present = np.unique(instance.processes.service.astype(np.int64) * hoods + instance.machines.neighborhood[solution])
    sources, targets = dependency_edges(instance)
    if sources.size == 0:
        return []
    service, hood = present // hoods, present % hoods
    # Join each present pair (a, n) with every edge a -> b: edges are sorted by source.
    degree = np.bincount(sources, minlength=instance.services.count)
    first_edge = np.cumsum(degree) - degree
    pair = np.repeat(np.arange(present.size), degree[service])
    rank = np.arange(pair.size) - np.repeat(np.cumsum(degree[service]) - degree[service], degree[service])
    edge = first_edge[service[pair]] + rank
    needed = targets[edge] * hoods + hood[pair]
    missing = ~np.isin(needed, present)
    return [
        Violation(Constraint.DEPENDENCY, f"service {a} runs in neighbourhood {n} but service {b} (a dependency) does not")
        for a, n, b in zip(service[pair][missing].tolist(), hood[pair][missing].tolist(), targets[edge][missing].tolist())
    ]


def dependency_edges(instance: Instance) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) arrays of every "source depends on target", sorted by source."""
    sources = [s for s, targets in enumerate(instance.services.dependencies) for _ in targets]
    targets = [t for targets in instance.services.dependencies for t in targets]
    return np.array(sources, dtype=np.int64), np.array(targets, dtype=np.int64)
