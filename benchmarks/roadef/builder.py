"""Small instances from plain lists, with permissive defaults: for tests and examples.

Only what a case is about needs spelling out; everything else defaults to "no constraint, no
cost" (one neighbourhood, every machine its own location, spreadMin 0, zero move costs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from planner.solver.reassign.instance import (
    Balance,
    Instance,
    Machines,
    ObjectiveWeights,
    Processes,
    Resources,
    Services,
    frozen_array,
)


def build_instance(
    capacity: Sequence[Sequence[int]],
    requirement: Sequence[Sequence[int]],
    service: Sequence[int],
    *,
    safety: Sequence[Sequence[int]] | None = None,
    transient: Sequence[bool] | None = None,
    load_weight: Sequence[int] | None = None,
    neighborhood: Sequence[int] | None = None,
    location: Sequence[int] | None = None,
    machine_move_cost: Sequence[Sequence[int]] | None = None,
    spread_min: Sequence[int] | None = None,
    dependencies: Sequence[Sequence[int]] | None = None,
    process_move_cost: Sequence[int] | None = None,
    balances: Sequence[Balance] = (),
    weights: ObjectiveWeights = ObjectiveWeights(process=1, service=10, machine=100),
    name: str = "built",
) -> Instance:
    capacities = np.array(capacity, dtype=np.int64)
    machines, resources = capacities.shape
    services = max(service) + 1
    return Instance(
        name=name,
        resources=Resources(
            transient=frozen_array(transient if transient is not None else [False] * resources, bool),
            load_weight=frozen_array(load_weight if load_weight is not None else [1] * resources, np.int64),
        ),
        machines=Machines(
            neighborhood=frozen_array(neighborhood if neighborhood is not None else [0] * machines, np.int32),
            location=frozen_array(location if location is not None else range(machines), np.int32),
            capacity=frozen_array(capacities, np.int64),
            safety=frozen_array(safety if safety is not None else capacities, np.int64),
            move_cost=frozen_array(
                machine_move_cost if machine_move_cost is not None else np.zeros((machines, machines)), np.int32
            ),
        ),
        services=Services(
            spread_min=frozen_array(spread_min if spread_min is not None else [0] * services, np.int32),
            dependencies=tuple(tuple(d) for d in (dependencies if dependencies is not None else [()] * services)),
        ),
        processes=Processes(
            service=frozen_array(service, np.int32),
            requirement=frozen_array(np.array(requirement, dtype=np.int64).reshape(len(service), resources), np.int64),
            move_cost=frozen_array(process_move_cost if process_move_cost is not None else [0] * len(service), np.int64),
        ),
        balances=tuple(balances),
        weights=weights,
    )


def toy() -> Instance:
    """The specification's example (§2): 4 machines, 3 processes, 2 resources; M0 = 0 3 0."""
    return build_instance(
        capacity=[[30, 400], [10, 240], [15, 100], [10, 100]],
        safety=[[16, 80], [8, 160], [12, 80], [8, 80]],
        requirement=[[12, 10], [10, 20], [6, 200]],
        service=[0, 0, 1],
        transient=[True, False],
        load_weight=[100, 10],
        neighborhood=[0, 0, 1, 1],
        location=[0, 0, 1, 2],
        machine_move_cost=[[0, 1, 4, 5], [1, 0, 3, 4], [4, 3, 0, 2], [5, 4, 2, 0]],
        spread_min=[2, 1],
        dependencies=[[], [0]],
        process_move_cost=[1000, 100, 1],
        balances=[Balance(first=0, second=1, target=20, weight=10)],
    )


def random_instance(seed: int, machines: int = 8, processes: int = 30, resources: int = 3) -> tuple[Instance, np.ndarray]:
    """A small random instance with every feature switched on (transient resources, balance,
    spread, dependencies, move costs) and a feasible original assignment: capacities, spreadMin
    and dependencies are drawn around that assignment so that it is tight but valid."""
    rng = np.random.default_rng(seed)
    services = max(2, processes // 3, -(-processes // machines))
    service = rng.permutation(np.arange(processes) % services)  # every service has 1..P/S+1 processes
    original = np.empty(processes, dtype=np.int64)
    for s in range(services):  # distinct machines within a service (conflict)
        members = np.flatnonzero(service == s)
        original[members] = rng.choice(machines, size=len(members), replace=False)
    requirement = rng.integers(1, 20, size=(processes, resources))
    usage = np.zeros((machines, resources), dtype=np.int64)
    np.add.at(usage, original, requirement)
    capacity = usage + rng.integers(0, 25, size=(machines, resources))
    location = rng.integers(max(2, machines // 2), size=machines)
    neighborhood = rng.integers(2, size=machines)
    spread_min = [min(len({int(location[m]) for m in original[service == s]}), int(rng.integers(1, 3))) for s in range(services)]
    hoods_of = [{int(neighborhood[m]) for m in original[service == s]} for s in range(services)]
    dependencies = [
        [t for t in range(services) if t != s and hoods_of[s] <= hoods_of[t] and rng.random() < 0.2] for s in range(services)
    ]
    instance = build_instance(
        capacity=capacity.tolist(),
        safety=(capacity * rng.uniform(0.5, 1.0, size=capacity.shape)).astype(np.int64).tolist(),
        requirement=requirement.tolist(),
        service=service.tolist(),
        transient=[True] + [False] * (resources - 1),
        load_weight=rng.integers(1, 5, size=resources).tolist(),
        neighborhood=neighborhood.tolist(),
        location=location.tolist(),
        machine_move_cost=np.where(np.eye(machines, dtype=bool), 0, rng.integers(0, 4, size=(machines, machines))).tolist(),
        spread_min=spread_min,
        dependencies=dependencies,
        process_move_cost=rng.integers(0, 10, size=processes).tolist(),
        balances=[Balance(first=0, second=1, target=2, weight=3)] if resources > 1 else [],
        name=f"random-{seed}",
    )
    return instance, original
