"""Per resource the spread goal weighs, the peak (‰) no placement goes below, keyed as the CP-SAT
model's peak variables are.

These are planner.bounds' `peak_bound`s (the load spread over every host, the biggest unit on the
best host it may use, what pinned VMs hold). An LNS round gains nothing by taking its
neighbourhood's peak below one, nor by leaving fewer hosts at a peak already there; chasing either
only migrates memory. With the floors, a sub-solve at the bound spends its effort on moving less.
"""

from __future__ import annotations

from planner.bounds.lower_bounds import SPREAD_RESOURCES, ExtraSpreadResource, peak_bound
from planner.instance.problem import Problem
from planner.solver.cpsat_model import PEAK_RESOURCES, ExtraResource, Resource, extra_resources

PeakFloors = dict[Resource | ExtraResource, int]


def peak_floors(problem: Problem) -> PeakFloors:
    """The weighed resources' peak bounds (0 where nothing is known, the spread thresholds aside:
    the model applies those itself)."""
    floors: PeakFloors = {}
    for resource, bounded, weight in zip(PEAK_RESOURCES, SPREAD_RESOURCES, problem.spread_weights):
        if weight:
            floors[resource] = peak_bound(problem, bounded, 0)
    for extra, weight in zip(extra_resources(problem), problem.extra_weights):
        if weight:
            floors[extra] = peak_bound(problem, ExtraSpreadResource(extra.index), 0)
    return floors
