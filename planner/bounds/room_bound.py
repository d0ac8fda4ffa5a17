"""How many VMs that need not move must still move aside, so that the VMs that must move find room.

A drain on a memory-tight cluster can be short of room of one shape: 27 drained VMs of 128 GiB and
16 vCPUs, where the hosts with 128 GiB free have no vCPUs free and those with vCPUs free lack the
memory. Then some other VMs must move, and the plan's moves bound is more than the drained VMs.

The counting argument, for any threshold vector s (a size per resource, some left out): on one host a
set of VMs whose demands d_v fit in room G holds at most floor(G_r / s_r) "s-slots" per resource r,
and sum_v min_r floor(d_vr / s_r) <= min_r floor(G_r / s_r), since floor is superadditive. So the
units that must move (D) need sum_v min_r floor(d_vr / s_r) slots, and the receiving hosts offer
sum_h min_r floor(F_hr / s_r) at the start (F: room under the hard limits, with the units that must
leave taken off their hosts). Moving one other unit a (sizes a_r) from host h to h' adds at most
min_r floor(a_r / s_r) + 1 slots at h and takes at least min_r floor(a_r / s_r) at h', so each unit
moved aside gains at most one slot: at least demand - supply of them must move, for every s.

The rules (pins, anti-affinity, spread) and which hosts a unit may use are left out: a relaxation,
so the bound stays a lower bound. Thresholds tried: every (memory, vCPUs) pair of the units that must
move, each alone, and a few quantiles of load and each extra resource alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.instance.problem import Problem, Unit
from planner.instance.state import PlacementState

# Distinct (memory, vCPUs) pairs tried at most (flavours: a few dozen in practice), and quantiles
# of each other resource's demand.
MAX_PAIRS = 256
QUANTILES = 16


@dataclass(frozen=True)
class RoomShortfall:
    """The units moved aside at least (`aside`), and the threshold that shows it: `needing` units'
    worth of slots of `shape` (a size per resource, 0 for one left out) where the hosts offer
    `offered`."""

    aside: int
    shape: tuple[int, ...]
    needing: int
    offered: int


NO_SHORTFALL = RoomShortfall(0, (), 0, 0)


def must_leave(must_move: Sequence[Unit]) -> list[Unit]:
    """Of the units that must move (greedy.units_needing_repair), those that may stay on none of the
    hosts they run on (a drained host's VMs, a VM on a host a rule now forbids): the others may stay
    while another unit moves instead."""
    return [unit for unit in must_move if unit.allowed and not unit.allowed.intersection(unit.member_hosts)]


def room_shortfall(problem: Problem, start: PlacementState, must_move: Sequence[Unit]) -> RoomShortfall:
    """The most units that must move aside for those that must leave to find room (module docstring)."""
    leaving = must_leave(must_move)
    if not leaving:
        return NO_SHORTFALL
    demand = problem.unit_arrays.sizes[[unit.index for unit in leaving]]  # PlacementState.sizes' columns
    room = _room(problem, start, leaving, demand)
    best = NO_SHORTFALL
    for shape in _shapes(demand):
        used = np.flatnonzero(shape)
        needing = int((demand[:, used] // shape[used]).min(axis=1).sum())
        offered = int((room[:, used] // shape[used]).min(axis=1).sum())
        if needing - offered > best.aside:
            best = RoomShortfall(needing - offered, tuple(shape.tolist()), needing, offered)
    return best


def _room(problem: Problem, start: PlacementState, leaving: list[Unit], demand: np.ndarray) -> np.ndarray:
    """Per receiving host (every host but the drained: a VM moved aside may go to any of them, which
    the one-slot argument needs), its room under the hard limits with the leaving units gone (`demand`:
    their sizes, row by row). A unit split over hosts is taken off each of them whole: more room than
    there is, so still a bound."""
    freed = np.zeros_like(start.limits)
    for unit, sizes in zip(leaving, demand):
        for host in set(unit.member_hosts):
            freed[host] += sizes
    room = np.maximum(start.limits - start.sizes + freed, 0)
    drained = problem.rules.drained
    receiving = [index for index, host in enumerate(problem.hosts) if host.name not in drained]
    return room[receiving]


def _shapes(demand: np.ndarray) -> list[np.ndarray]:
    """Threshold vectors: each distinct (memory, vCPUs) pair of `demand`, with each of the two alone,
    and quantiles of every other column alone."""
    columns = demand.shape[1]
    shapes: set[tuple[int, ...]] = set()
    for memory, vcpus in np.unique(demand[:, :2], axis=0)[-MAX_PAIRS:].tolist():
        for kept in ((memory, vcpus), (memory, 0), (0, vcpus)):
            shapes.add(kept + (0,) * (columns - 2))
    for column in range(2, columns):
        for size in np.unique(np.quantile(demand[:, column], np.linspace(0, 1, QUANTILES), method="lower")).tolist():
            shapes.add(tuple(int(size) if c == column else 0 for c in range(columns)))
    return [np.array(shape, dtype=np.int64) for shape in sorted(shapes) if any(shape)]


def room_notes(problem: Problem, short: RoomShortfall) -> tuple[str, ...]:
    """Why the moves bound counts VMs moved aside, for the plan's bounds (none when it does not)."""
    if not short.aside:
        return ()
    return (f"at least {short.aside} other VM(s) must move aside: the VMs that must move need {short.needing} "
            f"places with {_shape_text(problem, short.shape)} free, and the other hosts have {short.offered}",)


def _shape_text(problem: Problem, shape: tuple[int, ...]) -> str:
    names = ("GiB", "vCPUs", "millicores of load", *problem.resources)
    parts = [f"{size / 1024:g} GiB" if column == 0 else f"{size} {names[column]}"
             for column, size in enumerate(shape) if size]
    return " and ".join(parts)
