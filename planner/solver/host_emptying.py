"""Consolidation's greedy: empty hosts, lightest first, into the hosts that stay on.

Each VM of the host being emptied goes to the staying host it fills best (best fit, so big holes
stay for big VMs). Where memory is tight no hole is big enough for the larger VMs, and emptying
stopped at the first of them: at fill 0.85 of the usable memory that freed 3 of 1,000 hosts. So a
VM that fits nowhere may *eject* one to three smaller VMs from a roomy staying host to other
staying hosts (an ejected VM that fits nowhere may eject in turn, once), then take their place: a
short chain of moves, tried on the live state with its own checks and rolled back when it fails.
A host whose VMs cannot all leave keeps them (everything it moved is undone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.instance.problem import Unit
from planner.instance.state import PlacementState
from planner.solver.greedy_budget import GreedyBudget
from planner.solver.lowest_accepted import lowest_accepted

# Per VM that fits no staying host, the roomiest staying hosts it may take a place on; an ejected
# VM that fits nowhere either may in turn eject from the number of hosts the next entry says (so
# the length is how deep a chain goes). Measured on the tight 1000x20000 clusters (seed 1), hosts
# in use after this greedy at fills 0.80 / 0.85 / 0.90 (bounds 753 / 837 / 965): no ejection
# 871 / 997 / 999; one level of 32 hosts 813 / 927 / 997 (9,267 of 10,000 hosts in 9 s, bound
# 8,175); (4, 4) 849 / 882 / 997; (8, 4, 4) 869 at 0.85; (16, 4) 808 / 880 / 997 in 0.7-1.8 s;
# (32, 4) 807 / 880 / 997 in 1.3-3.8 s.
EJECTION_REACH = (16, 4)
# A host's single VMs tried (smallest first) before the few largest together, and the most VMs
# one ejection moves: up to 2, 936 hosts at fill 0.85; 3, 927; 5, 926 (one level of 32 hosts).
EJECTED_TRIED = 4
MOST_EJECTED = 3


def consolidate_hosts(state: PlacementState, budget: GreedyBudget | None = None) -> list[int]:
    """Empty hosts, cheapest first, into hosts that stay on; returns the hosts freed. With a
    `budget`, no new host is started once it is spent (each scan over the hosts is charged)."""
    problem = state.problem
    freed: list[int] = []
    in_use = [h for h in problem.metric_hosts if state.units_on[h]]
    order = sorted(in_use, key=lambda h: (state.memory[h], len(state.units_on[h]), h))
    # Hosts in use that stay on: units only ever move onto these, so the set only shrinks as
    # sources empty.
    staying = np.array([bool(on) for on in state.units_on], dtype=bool)
    for source in order:
        if budget is not None and budget.spent():
            break
        units = [problem.units[i] for i in state.units_on[source]]
        if any(u.fixed for u in units):
            continue
        mark = len(state.moves)
        staying[source] = False
        work = EmptyingWork()
        if _empty_host(state, units, staying, work):
            freed.append(source)
        else:
            state.undo_to(mark)
            staying[source] = True
        if budget is not None:
            budget.host_emptying(work.scans, work.targets, work.moves, len(problem.hosts))
    return freed


@dataclass
class EmptyingWork:
    """What emptying one host did, as its work is charged (GreedyBudget.host_emptying): array
    passes over every host, roomy hosts looked at for an ejection (their VMs listed and sorted),
    and moves made (undone ones included)."""

    scans: int = 0
    targets: int = 0
    moves: int = 0

    def move(self, state: PlacementState, unit: Unit, host: int) -> None:
        state.move(unit, host)
        self.moves += 1


def _empty_host(state: PlacementState, units: list[Unit], open_hosts: np.ndarray, work: EmptyingWork) -> bool:
    """Move every unit of a host to one of `open_hosts`, largest first, directly or by ejecting
    smaller VMs. Sizes are checked for every host at once: a scan of fits() per (unit, host) was
    most of a 1000-host consolidation."""
    for unit in sorted(units, key=lambda u: (-u.memory_mib, -u.vcpus)):
        work.scans += 1
        target = _tightest(state, unit, np.flatnonzero(open_hosts & state.allowed_mask(unit) & state.room_for(unit)))
        if target is not None:
            work.move(state, unit, target)
        elif not _eject_and_take(state, unit, open_hosts, work, EJECTION_REACH):
            return False
    return True


def _tightest(state: PlacementState, unit: Unit, hosts: np.ndarray) -> int | None:
    """Best fit: among `hosts` (all with room for `unit`), the one left with the least free memory
    after taking it (then the lowest index) that passes every check."""
    left = state.limits[hosts, 0] - state.sizes[hosts, 0]
    best = lowest_accepted(left, lambda i: state.fits(unit, int(hosts[i])) and state.within_budget(unit, int(hosts[i])))
    return None if best is None else int(hosts[best])


def _eject_and_take(state: PlacementState, unit: Unit, open_hosts: np.ndarray, work: EmptyingWork,
                    reach: tuple[int, ...]) -> bool:
    """Make room for `unit` on one of the `reach[0]` roomiest open hosts by moving a few of that
    host's VMs (each smaller than `unit`) to other open hosts, ejecting in turn as `reach[1:]`
    allows, then move `unit` there. True if done; False leaves the state as it was."""
    work.scans += 1
    # Room in every dimension but memory: freeing memory is then enough (the hosts with the
    # most free memory are often out of vCPUs).
    takers = open_hosts & state.allowed_mask(unit) & state.room_for(unit, memory=False)
    for target in _roomiest(state, takers, reach[0]).tolist():
        work.targets += 1
        for ejected in _ejections(state, unit, target):
            mark = len(state.moves)
            work.scans += len(ejected)
            if _land_all(state, ejected, open_hosts, target, work, reach[1:]) and state.fits(unit, target) \
                    and state.within_budget(unit, target):
                work.move(state, unit, target)
                return True
            state.undo_to(mark)
    return False


def _land_all(state: PlacementState, units: list[Unit], open_hosts: np.ndarray, target: int, work: EmptyingWork,
              reach: tuple[int, ...]) -> bool:
    """Move each of `units` to its tightest open host other than `target`, or, where none has room,
    eject for it within `reach` (never onto `target`); False at the first that finds no place (the
    caller undoes the others)."""
    elsewhere = open_hosts.copy()
    elsewhere[target] = False
    for unit in units:
        landing = _tightest(state, unit, np.flatnonzero(elsewhere & state.allowed_mask(unit) & state.room_for(unit)))
        if landing is not None:
            work.move(state, unit, landing)
        elif not (reach and _eject_and_take(state, unit, elsewhere, work, reach)):
            return False
    return True


def _roomiest(state: PlacementState, open_hosts: np.ndarray, count: int) -> np.ndarray:
    """The `count` open hosts with the most free memory, most first (ties: lower index). Only the
    hosts at least as roomy as the count-th are sorted: sorting every open host was most of an
    ejection's time at 10,000 hosts."""
    hosts = np.flatnonzero(open_hosts)
    free = state.limits[hosts, 0] - state.sizes[hosts, 0]
    if len(hosts) > count:
        threshold = np.partition(free, len(free) - count)[len(free) - count]
        roomy = free >= threshold  # ties at the threshold all kept: the lower index wins among them
        hosts, free = hosts[roomy], free[roomy]
    return hosts[np.lexsort((hosts, -free))][:count]


def _ejections(state: PlacementState, unit: Unit, host: int) -> list[list[Unit]]:
    """Sets of movable VMs on `host`, each smaller than `unit` (so the chain does not just move the
    problem), whose leaving frees enough memory for it: single VMs, smallest first, then the
    fewest largest VMs that together make the room (flavors come in powers of two, so a hole
    of 50 GiB often has no single VM between 50 and 64 GiB to give)."""
    problem = state.problem
    short = unit.memory_mib - int(state.limits[host, 0] - state.sizes[host, 0])
    smaller = sorted((u for u in (problem.units[i] for i in state.units_on[host])
                      if not u.fixed and u.memory_mib < unit.memory_mib), key=lambda u: (u.memory_mib, u.index))
    ejections = [[u] for u in smaller if u.memory_mib >= short][:EJECTED_TRIED]
    several: list[Unit] = []
    freed = 0
    for candidate in reversed(smaller):
        if freed >= short or len(several) == MOST_EJECTED:
            break
        several.append(candidate)
        freed += candidate.memory_mib
    if len(several) > 1 and freed >= short:
        ejections.append(several)
    return ejections
