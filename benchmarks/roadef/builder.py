"""Small instances from plain lists, with permissive defaults: for tests and examples.

Only what a case is about needs spelling out; everything else defaults to "no constraint, no
cost" (one neighbourhood, every machine its own location, spreadMin 0, zero move costs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmarks.roadef.instance import (
    Balance,
    Instance,
    Machines,
    MoveWeights,
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
    weights: MoveWeights = MoveWeights(process=1, service=10, machine=100),
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
