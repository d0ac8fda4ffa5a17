"""A fluid lower bound on the spread goal's CPU peak that knows which hosts a VM fits, for the
memory-tight heterogeneous benchmark (benchmarks/tight.py).

The product's bound (planner/bounds/lower_bounds.py `peak_bound`) spreads the total load over every
host any unit may use, and takes the largest unit on the best host its rules allow. Both ignore
capacity: a 512 GiB VM "fits" a 128 GiB host there, and load that only memory-rich hosts can take
is spread over the CPU-rich ones too. On clusters of mixed host types that bound can sit far below
what any placement reaches, and the gap it prints is then mostly the bound's.

This bound is the linear relaxation of the placement: every movable unit is split fractionally over
the host classes (hosts alike in limits and in which rules admit them) it fits by its own memory
and vCPUs, within each class's memory and vCPU limits minus what fixed units hold there, and the
peak P is minimised with load(class) ≤ P × cores(class) on the hosts the goal looks at. Merging
identical hosts into a class and ignoring anti-affinity only relax it further, so it stays a lower
bound. The largest unit alone on the best host it fits, and the fixed load's own peak, are bounds
too; the result is the largest of these and the product's bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from planner.bounds.lower_bounds import spread_bound
from planner.domain.metrics import permille
from planner.instance.problem import Problem, Unit

LARGEST_UNITS = 64
# Above this many movable units the LP groups loads on a grid (see _unit_kinds).
AGGREGATE_ABOVE = 50_000
LOAD_GRID = 1.005  # 0.5 % apart: the bound is at most that much weaker
CPU_ONLY = (1, 0)


@dataclass(frozen=True)
class HostClass:
    hosts: tuple[int, ...]
    memory: int  # the class's limits, summed, minus what fixed units hold
    vcpus: int
    cores_millicores: int
    fixed_load: int
    in_metric: bool
    unit_memory: int  # the largest unit a host of the class holds by its own limits
    unit_vcpus: int


@dataclass(frozen=True)
class SpreadBounds:
    product: int  # what `rebalance plan` prints (planner.bounds spread_bound)
    fluid: int  # the capacity-aware linear relaxation
    largest_unit: int  # the biggest unit on the best host it fits
    fixed: int  # the hottest host's load that cannot move (pinned VMs)
    best: int  # the largest of all: the bound the benchmark compares against


def spread_bounds(problem: Problem) -> SpreadBounds:
    """Bounds on the CPU peak (‰) of the spread goal; the benchmark's policy balances CPU only."""
    if problem.spread_weights != CPU_ONLY:
        raise ValueError("the tight benchmark's bound is for CPU-only spread (memory weight 0, CPU weight 1)")
    product = spread_bound(problem)
    fixed_load = _fixed_usage(problem, "cpu_load")
    classes = host_classes(problem)
    fluid = _fluid_bound(problem, classes)
    largest = _largest_unit_bound(problem, classes, fixed_load)
    fixed_peak = max([permille(fixed_load[h], problem.hosts[h].cpu_capacity_millicores) for h in problem.metric_hosts] + [0])
    return SpreadBounds(product, fluid, largest, fixed_peak, max(product, fluid, largest, fixed_peak, problem.spread_floors[0]))


def host_classes(problem: Problem) -> list[HostClass]:
    """Hosts grouped by their limits and by which movable units' allowed sets hold them."""
    allowed_sets = sorted({u.allowed for u in problem.units if not u.fixed}, key=lambda s: sorted(s))
    fixed_memory, fixed_vcpus, fixed_load = (_fixed_usage(problem, a) for a in ("memory_mib", "vcpus", "cpu_load"))
    groups: dict[tuple[object, ...], list[int]] = {}
    for h, host in enumerate(problem.hosts):
        key = (problem.memory_limit[h], problem.vcpu_limit[h], host.cpu_capacity_millicores, h in problem.metric_hosts,
               tuple(h in s for s in allowed_sets))
        groups.setdefault(key, []).append(h)
    classes = []
    for (memory, vcpus, cores, in_metric, _), hosts in groups.items():
        classes.append(HostClass(
            hosts=tuple(hosts),
            memory=sum(max(0, memory - fixed_memory[h]) for h in hosts),
            vcpus=sum(max(0, vcpus - fixed_vcpus[h]) for h in hosts),
            cores_millicores=cores * len(hosts),
            fixed_load=sum(fixed_load[h] for h in hosts),
            in_metric=in_metric,
            unit_memory=max(memory - fixed_memory[h] for h in hosts),
            unit_vcpus=max(vcpus - fixed_vcpus[h] for h in hosts),
        ))
    return classes


def fits_class(unit: Unit, host_class: HostClass) -> bool:
    return host_class.hosts[0] in unit.allowed and unit.memory_mib <= host_class.unit_memory \
        and unit.vcpus <= host_class.unit_vcpus


def _fixed_usage(problem: Problem, attribute: str) -> list[int]:
    used = [0] * len(problem.hosts)
    for unit in problem.units:
        if unit.fixed:
            for host, vm_share in _member_shares(unit, attribute):
                used[host] += vm_share
    return used


def _member_shares(unit: Unit, attribute: str) -> Sequence[tuple[int, int]]:
    # A fixed unit stays where it is: a whole unit on its current host, else its first member's.
    host = unit.current if unit.current is not None else unit.member_hosts[0]
    return [(host, getattr(unit, attribute))]


def _fluid_bound(problem: Problem, classes: Sequence[HostClass]) -> int:
    """min P over fractional placements (GLOP), in ‰ rounded up but never above the true optimum."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    peak = solver.NumVar(0.0, solver.infinity(), "peak")
    memory_rows = [solver.Constraint(-solver.infinity(), c.memory / 1024) for c in classes]
    vcpu_rows = [solver.Constraint(-solver.infinity(), c.vcpus) for c in classes]
    # load − P × cores ≤ −fixed load; loads in cores keep the coefficients of similar size.
    load_rows = [solver.Constraint(-solver.infinity(), -c.fixed_load / 1000) if c.in_metric else None for c in classes]
    for c, row in zip(classes, load_rows):
        if row is not None:
            row.SetCoefficient(peak, -c.cores_millicores / 1000)
    kinds = _unit_kinds(problem, classes)
    if kinds is None:
        return 0  # a unit fits nowhere: the instance is infeasible, no fluid statement to make
    for (memory, vcpus, load, targets), count in kinds.items():
        assigned = solver.Constraint(count, count)
        for i in targets:
            share = solver.NumVar(0.0, count, "")
            assigned.SetCoefficient(share, 1.0)
            memory_rows[i].SetCoefficient(share, memory / 1024)
            vcpu_rows[i].SetCoefficient(share, vcpus)
            if load_rows[i] is not None:
                load_rows[i].SetCoefficient(share, load / 1000)
    solver.Minimize(peak)
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return 0
    # The LP's tolerance may put the optimum a hair above its true value: never round that up.
    return max(0, math.ceil(1000 * peak.solution_value() - 1e-3))


def _unit_kinds(problem: Problem, classes: Sequence[HostClass]) -> dict[tuple[int, int, int, tuple[int, ...]], int] | None:
    """How many movable units there are of each (memory, vCPUs, load, classes they fit); None when
    one fits no class. Units alike in all four are one variable per class in the LP, which changes
    nothing in it. Above AGGREGATE_ABOVE units each load is first rounded down to a geometric grid
    (LOAD_GRID apart): less load only lowers the optimum, so the bound stays a bound, at most that
    share weaker, and 200,000 VMs become a few thousand kinds (one variable per VM and class took
    GLOP past ten minutes at 10,000 hosts)."""
    coarse = sum(1 for unit in problem.units if not unit.fixed) > AGGREGATE_ABOVE
    kinds: dict[tuple[int, int, int, tuple[int, ...]], int] = {}
    for unit in problem.units:
        if unit.fixed:
            continue
        targets = tuple(i for i, c in enumerate(classes) if fits_class(unit, c))
        if not targets:
            return None
        load = _grid_floor(unit.cpu_load) if coarse else unit.cpu_load
        key = (unit.memory_mib, unit.vcpus, load, targets)
        kinds[key] = kinds.get(key, 0) + 1
    return kinds


def _grid_floor(load: int) -> int:
    """The largest ⌈LOAD_GRID^k⌉ at or below `load` (0 stays 0)."""
    if load <= 0:
        return load
    step = math.floor(math.log(load) / math.log(LOAD_GRID))
    value = math.ceil(LOAD_GRID ** step)
    while value > load:  # floating-point guard: never round up
        step -= 1
        value = math.ceil(LOAD_GRID ** step)
    return value


def _largest_unit_bound(problem: Problem, classes: Sequence[HostClass], fixed_load: Sequence[int]) -> int:
    """Wherever the biggest unit goes, that host carries at least its load (and what is fixed there)."""
    metric_classes = [c for c in classes if c.in_metric]
    if len(metric_classes) != len(classes):
        return 0  # a unit may escape to a host the goal ignores
    biggest = sorted((u for u in problem.units if not u.fixed), key=lambda u: u.cpu_load, reverse=True)[:LARGEST_UNITS]
    best = 0
    for unit in biggest:
        options = [permille(fixed_load[h] + unit.cpu_load, problem.hosts[h].cpu_capacity_millicores)
                   for c in classes if fits_class(unit, c) for h in c.hosts]
        if options:
            best = max(best, min(options))
    return best
