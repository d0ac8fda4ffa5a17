"""Per resource the spread goal weighs, the peak (‰) no placement goes below, keyed as the CP-SAT
model's peak variables are.

These are planner.bounds' `peak_bound`s (the load spread over every host, the biggest unit on the
best host it may use, what pinned VMs hold). An LNS round gains nothing by taking its
neighbourhood's peak below one, nor by leaving fewer hosts at a peak already there; chasing either
only migrates memory. With the floors, a sub-solve at the bound spends its effort on moving less.
"""

from __future__ import annotations

from planner.bounds.lower_bounds import spread_peak_bounds
from planner.instance.problem import Problem
from planner.instance.state import PlacementState
from planner.solver.cpsat_model import PEAK_RESOURCES, ExtraResource, Resource, extra_resources

PeakFloors = dict[Resource | ExtraResource, int]


def peak_floors(problem: Problem) -> PeakFloors:
    """The weighed resources' peak bounds (never under the goal's thresholds, under which every
    peak counts alike)."""
    keys = (*PEAK_RESOURCES, *extra_resources(problem))
    return {key: bound for key, bound in zip(keys, spread_peak_bounds(problem)) if bound is not None}


def at_floors(state: PlacementState, floors: PeakFloors) -> bool:
    """Is every peak the goal weighs at its floor already? Nothing below it counts."""
    problem = state.problem
    if problem.resources and any(weight > 0 for weight in problem.extra_weights):
        return False
    return all(not weight or peak <= floors.get(resource, -1)
               for resource, weight, peak in zip(PEAK_RESOURCES, problem.spread_weights, state.peaks()))
