"""Swap moves for the spread greedy: when no VM on a peak host fits anywhere below the peak, a
cooler host may still take it in exchange for one of its own smaller VMs.

VMs are coarse next to the headroom left once a cluster is nearly flat (a 4-core VM is 60 ‰ of a
64-core host), so single moves stall a few per-mille above the fluid bound; swaps get further.
Anti-affinity is checked on the current placement for each half of the swap: conservative (a
swap that would only work because the partner leaves is refused), never wrong.
"""

from __future__ import annotations

from planner.metrics import permille
from planner.placement.problem import Unit
from planner.placement.state import PlacementState

SWAP_TARGETS = 64  # coolest hosts searched for a partner


def swap_relief(state: PlacementState, source: int, caps: tuple[int, int], targets: list[int],
                on_cpu_peak: bool, on_mem_peak: bool) -> list[tuple[Unit, int]]:
    """The cheapest (unit → target, partner → source) pair that takes `source` off its peak(s)."""
    problem = state.problem
    best: tuple[float, Unit, int, Unit] | None = None
    cpu_now, mem_now = state.cpu_permille(source), state.memory_permille(source)
    outgoing = [problem.units[i] for i in state.units_on[source] if _swappable(problem.units[i])]
    for target in targets:
        if target == source:
            continue
        partners = [problem.units[i] for i in state.units_on[target] if _swappable(problem.units[i])]
        for unit in outgoing:
            if target not in unit.allowed:
                continue
            for partner in partners:
                if source not in partner.allowed or partner.cpu_load >= unit.cpu_load and on_cpu_peak:
                    continue
                if not _swap_fits(state, unit, source, partner, target, caps, (cpu_now, mem_now),
                                  on_cpu_peak, on_mem_peak):
                    continue
                cost = unit.move_cost(target) - unit.move_cost(source) + partner.move_cost(source) - partner.move_cost(target)
                if best is None or cost < best[0]:
                    best = (cost, unit, target, partner)
    if best is None:
        return []
    _, unit, target, partner = best
    return [(unit, target), (partner, source)]


def _swappable(unit: Unit) -> bool:
    return not unit.fixed


def _swap_fits(state: PlacementState, unit: Unit, source: int, partner: Unit, target: int,
               caps: tuple[int, int], source_now: tuple[int, int], on_cpu_peak: bool, on_mem_peak: bool) -> bool:
    problem = state.problem
    for host, gains, loses in ((target, unit, partner), (source, partner, unit)):
        memory = state.memory[host] + gains.memory_mib - loses.memory_mib
        if memory > problem.memory_limit[host]:
            return False
        if state.vcpus[host] + gains.vcpus - loses.vcpus > problem.vcpu_limit[host]:
            return False
        load = state.load[host] + gains.cpu_load - loses.cpu_load
        if load > problem.load_limit[host]:
            return False
        cpu = permille(load, problem.hosts[host].cpu_capacity_millicores)
        mem = permille(memory, problem.hosts[host].usable_memory_mib)
        if host == target and (cpu > caps[0] or mem > caps[1]):
            return False
        if host == source and ((on_cpu_peak and cpu >= source_now[0]) or (on_mem_peak and mem >= source_now[1])
                               or cpu > max(caps[0], source_now[0]) or mem > max(caps[1], source_now[1])):
            return False
    if (unit.anti_affinity and not state.anti_affinity_ok(unit, target)) or \
            (partner.anti_affinity and not state.anti_affinity_ok(partner, source)):
        return False
    if state.problem.rules.policy.limits.max_moves is not None or state.problem.rules.policy.limits.max_moved_memory_mib is not None:
        return _swap_within_budget(state, unit, target, partner, source)
    return True


def _swap_within_budget(state: PlacementState, unit: Unit, target: int, partner: Unit, source: int) -> bool:
    limits = state.problem.rules.policy.limits
    moves = state.moved_vms + unit.moved_vms(target) - unit.moved_vms(source) + partner.moved_vms(source) - partner.moved_vms(target)
    memory = state.moved_mib + unit.move_cost(target) - unit.move_cost(source) + partner.move_cost(source) - partner.move_cost(target)
    return (limits.max_moves is None or moves <= limits.max_moves) and \
        (limits.max_moved_memory_mib is None or memory <= limits.max_moved_memory_mib)
