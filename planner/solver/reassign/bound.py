"""The aggregate lower bound of a reassignment instance: what no assignment can cost less than.

Both soft costs are sums over machines of max(0, x(m)), and such a sum is never below max(0, sum of
x(m)). Over all machines the sums no longer depend on the assignment: the total usage of a resource
is the total requirement, wherever each process runs. So pooling every machine into one gives

* load: weightLoadCost(r) * max(0, total requirement(r) - total safety capacity(r)) per resource;
* balance: weight * max(0, target * total available(first) - total available(second)), available =
  capacity - requirement;
* move costs: 0 (the original assignment moves nothing).

It is weak where capacity is tight or a few machines carry the cost, and reached where every
machine sits at or above its safety capacity on every resource and every balance term is positive
before its max(0, ·). It equals the `aggregate_lb` column of the challenge data's instances.csv on
every instance; computed here so that the solver can report its gap while it works.
"""

from __future__ import annotations

import numpy as np

from planner.solver.reassign.instance import Instance


def aggregate_lower_bound(instance: Instance) -> int:
    required = instance.processes.requirement.sum(axis=0)
    load = np.maximum(required - instance.machines.safety.sum(axis=0), 0) @ instance.resources.load_weight
    available = instance.machines.capacity.sum(axis=0) - required
    balance = sum(b.weight * max(0, b.target * int(available[b.first]) - int(available[b.second]))
                  for b in instance.balances)
    return int(load) + int(balance)
