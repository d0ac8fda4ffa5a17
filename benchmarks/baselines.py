"""Baselines operators use today, re-implemented from their public descriptions.

first_fit_decreasing: the textbook consolidation — ignore where VMs run, sort them by memory
(largest first) and put each on the first host (largest hosts first) where it fits within the same
headroom and rules our planner honours. It usually packs well and moves almost everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.placement.problem import Problem, Unit


@dataclass(frozen=True)
class BaselineResult:
    name: str
    assignment: tuple[int, ...]
    hosts_in_use: int
    moves: int
    moved_memory_mib: int


def first_fit_decreasing(problem: Problem) -> BaselineResult | None:
    """None when FFD cannot place every VM (it does not backtrack)."""
    hosts = len(problem.hosts)
    memory, vcpus, load = [0] * hosts, [0] * hosts, [0] * hosts
    occupied: set[tuple[int, int]] = set()  # (anti-affinity group, domain)
    assignment = [-1] * len(problem.units)
    order = sorted(problem.metric_hosts, key=lambda h: (-problem.memory_limit[h], h))

    def place(unit: Unit, host: int) -> None:
        memory[host] += unit.memory_mib
        vcpus[host] += unit.vcpus
        load[host] += unit.cpu_load
        occupied.update((g, problem.domains[g][host]) for g in unit.anti_affinity)
        assignment[unit.index] = host

    def fits(unit: Unit, host: int) -> bool:
        return (host in unit.allowed
                and memory[host] + unit.memory_mib <= problem.memory_limit[host]
                and vcpus[host] + unit.vcpus <= problem.vcpu_limit[host]
                and load[host] + unit.cpu_load <= problem.load_limit[host]
                and not any((g, problem.domains[g][host]) in occupied for g in unit.anti_affinity))

    for unit in problem.units:
        if unit.fixed:
            place(unit, unit.current if unit.current is not None else unit.member_hosts[0])
    for unit in sorted((u for u in problem.units if not u.fixed), key=lambda u: (-u.memory_mib, u.index)):
        host = next((h for h in order if fits(unit, h)), None)
        if host is None:
            return None
        place(unit, host)
    moves = sum(u.moved_vms(h) for u, h in zip(problem.units, assignment))
    moved = sum(u.move_cost(h) for u, h in zip(problem.units, assignment))
    in_use = len({h for h in assignment if h in problem.metric_hosts})
    return BaselineResult("first-fit-decreasing", tuple(assignment), in_use, moves, moved)
