"""What the units without a choice already use, so each model row only sums the free units.

A unit is fixed for the model when it is pinned, when the goal does not move it, or when it has a
single candidate host; an LNS sub-solve also fixes every unit outside its neighbourhood.
"""

from __future__ import annotations

from collections import defaultdict

from planner.instance.problem import Problem, Unit
from planner.instance.state import PlacementState


class FixedUsage:
    """Per host: memory, vCPUs, measured load and extra resources of the fixed units; per rule domain: their members;
    and what their moves already cost (weighed for the objective, plain for the limits)."""

    def __init__(self, problem: Problem) -> None:
        hosts = len(problem.hosts)
        self.memory = [0] * hosts
        self.vcpus = [0] * hosts
        self.load = [0] * hosts
        self.extra = [[0] * hosts for _ in problem.resources]  # per extra resource, per host
        self.members: dict[tuple[int, int], int] = defaultdict(int)  # (group, domain) → members there
        self.spread_members: dict[tuple[int, int], int] = defaultdict(int)  # the same for min_spread groups
        self.cost = 0  # weighed by the policy's move costs
        self.moved_mib = 0  # plain memory, as max_moved_memory counts it
        self.moved_vms = 0
        self.problem = problem

    @classmethod
    def of(cls, problem: Problem, candidates: dict[int, tuple[int, ...]], fixed_at: list[int]) -> "FixedUsage":
        fixed = cls(problem)
        for unit in problem.units:
            hosts = candidates.get(unit.index, ())
            if len(hosts) <= 1:
                fixed.add(unit, hosts[0] if hosts else fixed_at[unit.index])
        return fixed

    @classmethod
    def from_state(cls, state: PlacementState, candidates: dict[int, tuple[int, ...]]) -> "FixedUsage":
        """The state's usage minus the free units': an LNS round then costs O(neighbourhood), not O(all VMs)."""
        fixed = cls(state.problem)
        fixed.memory, fixed.vcpus, fixed.load = list(state.memory), list(state.vcpus), list(state.load)
        fixed.extra = [state.sizes[:, 3 + k].tolist() for k in range(len(state.problem.resources))]
        fixed.cost, fixed.moved_mib, fixed.moved_vms = state.move_cost, state.moved_mib, state.moved_vms
        for group, occupancy in enumerate(state.occupancy):
            for domain, count in occupancy.items():
                fixed.members[group, domain] = count
        for group, occupancy in enumerate(state.spread_occupancy):
            for domain, count in occupancy.items():
                fixed.spread_members[group, domain] = count
        for index, hosts in candidates.items():
            if len(hosts) > 1:
                fixed.add(state.problem.units[index], state.assignment[index], sign=-1)
        return fixed

    def add(self, unit: Unit, host: int, sign: int = 1) -> None:
        self.memory[host] += sign * unit.memory_mib
        self.vcpus[host] += sign * unit.vcpus
        self.load[host] += sign * unit.cpu_load
        for used, amount in zip(self.extra, unit.extra):
            used[host] += sign * amount
        self.cost += sign * unit.weighted_cost(host)
        self.moved_mib += sign * unit.move_cost(host)
        self.moved_vms += sign * unit.moved_vms(host)
        for m in unit.anti_affinity:
            self.members[m.group, self.problem.anti_affinity[m.group].domain_of_host[host]] += sign * m.members
        for m in unit.min_spread:
            self.spread_members[m.group, self.problem.min_spread[m.group].domain_of_host[host]] += sign * m.members
