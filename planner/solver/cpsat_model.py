"""The CP-SAT model: Booleans x[unit, host] over candidate hosts, then the hard rules, the goal and
the moved-memory cost, each added by one named family of FAMILIES.

Families, in the order the builder adds them:
- one_host_per_unit: `exactly_one` x per unit.
- memory_capacity, vcpu_capacity, cpu_load_capacity, extra_capacity: one linear row per host and
  resource, with the fixed units' usage subtracted (the measured-load row exists only where a limit
  is set: consolidation headroom; extra_capacity covers the cluster's extra named resources).
- anti_affinity: at most one member (counting VMs of affinity groups) per group and domain.
- min_spread: per group a Boolean per domain it may use (true only if a member lands there) and a
  row asking for at_least of them.
- max_moves, max_moved_memory: the policy's limits, counted from where the VMs run now.
- moved_memory_cost: the objective's tie-break, memory migrated weighed by the policy's move costs,
  read off x with no extra variables.
- peak_utilisation (spread, drain): one integer per weighted resource (extra named ones included),
  at least every goal host's utilisation in per-mille; the goal is their weighted sum.
- hosts_in_use (consolidate): a Boolean per host that may end empty, forced on by any unit there;
  the goal is their sum plus the hosts that cannot empty.

The table is what tests/solver/test_model_mutations.py disables one family at a time: every family
must be caught by at least one model test.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter

from ortools.sat.python import cp_model

from planner.domain.metrics import permille
from planner.domain.model import Host
from planner.instance.problem import NO_LIMIT, Problem, Unit
from planner.instance.state import PlacementState
from planner.solver.cpsat_rows import at_most_per_domain, domains_used_at_least, weighted_sum
from planner.solver.fixed_usage import FixedUsage
from planner.solver.model_families import Family, add_families


class Resource(enum.Enum):
    """A per-host quantity the model sums over the units placed there."""

    MEMORY = "memory"  # MiB
    VCPUS = "vcpus"  # allocated vCPUs
    CPU_LOAD = "cpu"  # measured milli-cores

    def sizer(self) -> Callable[[Unit], int]:
        """The unit's size in this resource (resolved once per family: a model asks it per pair)."""
        return attrgetter(_SIZE_FIELDS[self])

    def limits(self, problem: Problem) -> tuple[int, ...]:
        return {Resource.MEMORY: problem.memory_limit, Resource.VCPUS: problem.vcpu_limit,
                Resource.CPU_LOAD: problem.load_limit}[self]

    def fixed(self, usage: FixedUsage) -> list[int]:
        return {Resource.MEMORY: usage.memory, Resource.VCPUS: usage.vcpus, Resource.CPU_LOAD: usage.load}[self]

    def capacity(self, host: Host) -> int:
        """What utilisation is measured against (only for the two resources the spread goal weighs)."""
        return host.usable_memory_mib if self is Resource.MEMORY else host.cpu_capacity_millicores

    def capacity_of(self, problem: Problem) -> tuple[int, ...]:
        return tuple(self.capacity(h) for h in problem.hosts)

    def permille(self, state: PlacementState, host: int) -> int:
        return state.memory_permille(host) if self is Resource.MEMORY else state.cpu_permille(host)


_SIZE_FIELDS = {Resource.MEMORY: "memory_mib", Resource.VCPUS: "vcpus", Resource.CPU_LOAD: "cpu_load"}

# The spread goal's resources, in the order of Problem.spread_weights and spread_floors.
PEAK_RESOURCES = (Resource.CPU_LOAD, Resource.MEMORY)


@dataclass(frozen=True)
class ExtraResource:
    """An extra named resource of the cluster (Problem.resources[index]), with Resource's interface:
    a hard row per host, and a peak in the spread goal weighed as the policy says."""

    index: int
    value: str  # the resource's name, as Resource.value names the built-in ones

    def sizer(self) -> Callable[[Unit], int]:
        index = self.index
        return lambda unit: unit.extra[index]

    def limits(self, problem: Problem) -> tuple[int, ...]:
        return problem.extra_limit[self.index]

    def fixed(self, usage: FixedUsage) -> list[int]:
        return usage.extra[self.index]

    def capacity_of(self, problem: Problem) -> tuple[int, ...]:
        return problem.extra_capacity(self.index)

    def permille(self, state: PlacementState, host: int) -> int:
        return int(state.extra_pm[host, self.index])


def extra_resources(problem: Problem) -> tuple[ExtraResource, ...]:
    return tuple(ExtraResource(k, name) for k, name in enumerate(problem.resources))


@dataclass
class PlacementModel:
    problem: Problem
    model: cp_model.CpModel
    x: dict[tuple[int, int], cp_model.IntVar]
    goal: cp_model.LinearExprT = 0
    cost: cp_model.LinearExprT = 0  # MiB migrated, weighed by the policy's move costs
    coarse_cost: cp_model.LinearExprT = 0  # the same in GiB (rounded up), for the stage-1 tie-break
    max_coarse_cost: int = 0
    goal_hosts: frozenset[int] = frozenset()
    goal_vars: dict[Resource | ExtraResource, cp_model.IntVar] = field(default_factory=dict)
    used: dict[int, cp_model.IntVar] = field(default_factory=dict)
    spread_used: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)  # (group, domain)

    def hint(self, assignment: list[int], state: PlacementState | None = None) -> None:
        """A complete hint: every x, and the goal variables at their values for that assignment
        (`state`, when given, must hold that assignment: it saves rebuilding one)."""
        self.model.clear_hints()
        for (unit, host), var in self.x.items():
            self.model.add_hint(var, assignment[unit] == host)
        state = state or PlacementState(self.problem, assignment)
        for resource, var in self.goal_vars.items():
            peak = max([resource.permille(state, h) for h in self.goal_hosts] + [0])
            self.model.add_hint(var, max(peak, _lower_bound(var)))
        for host, var in self.used.items():
            self.model.add_hint(var, bool(state.units_on[host]))
        for (group, domain), var in self.spread_used.items():
            self.model.add_hint(var, domain in state.spread_occupancy[group])

    def read(self, solver: cp_model.CpSolver, fallback: list[int]) -> list[int]:
        assignment = list(fallback)
        for (unit, host), var in self.x.items():
            if solver.boolean_value(var):
                assignment[unit] = host
        return assignment


def _lower_bound(var: cp_model.IntVar) -> int:
    return var.proto.domain[0]


@dataclass
class ModelParts:
    """What every family reads (and the PlacementModel it fills in)."""

    placement: PlacementModel
    candidates: dict[int, tuple[int, ...]]
    by_unit: dict[int, list[cp_model.IntVar]]
    by_host: dict[int, list[tuple[Unit, cp_model.IntVar]]]
    fixed: FixedUsage
    # Per peak resource, a level no placement goes below (peak_floors.py): its peak variable starts
    # there, so the goal gains nothing below it.
    peak_floors: Mapping[Resource | ExtraResource, int] = field(default_factory=dict)

    @property
    def problem(self) -> Problem:
        return self.placement.problem

    @property
    def model(self) -> cp_model.CpModel:
        return self.placement.model


def build_model(problem: Problem, candidates: dict[int, tuple[int, ...]], fixed_at: list[int],
                goal_hosts: frozenset[int] | None = None, state: PlacementState | None = None,
                peak_floors: Mapping[Resource | ExtraResource, int] | None = None) -> PlacementModel:
    """`fixed_at[u]` is where a unit without a choice sits (fixed units, and units with one candidate).

    `goal_hosts` are the hosts whose utilisation (or use) the goal counts: all metric hosts for a
    whole solve, only the neighbourhood's for an LNS sub-solve. `state`, when given, holds
    `fixed_at`: the fixed usage is then read off it instead of summed over every unit.
    `peak_floors`: per peak resource, a level the goal counts any lower peak as (peak_floors.py).
    """
    goal_hosts = problem.metric_hosts if goal_hosts is None else goal_hosts
    fixed = FixedUsage.from_state(state, candidates) if state is not None else FixedUsage.of(problem, candidates, fixed_at)
    placement = PlacementModel(problem, cp_model.CpModel(), {}, goal_hosts=goal_hosts)
    parts = ModelParts(placement, candidates, defaultdict(list), defaultdict(list), fixed, peak_floors or {})
    units = [problem.units[u] for u in candidates] if state is not None else problem.units
    for unit in units:
        hosts = candidates.get(unit.index, ())
        if len(hosts) <= 1:
            continue
        for host in hosts:
            var = placement.model.new_bool_var(f"x_{unit.index}_{host}")
            placement.x[unit.index, host] = var
            parts.by_host[host].append((unit, var))
            parts.by_unit[unit.index].append(var)
    add_families(FAMILIES, parts)
    return placement


def _one_host_per_unit(parts: ModelParts) -> None:
    for row in parts.by_unit.values():
        parts.model.add_exactly_one(row)


def _extra_capacity(parts: ModelParts) -> None:
    """One row per host and extra named resource, like memory."""
    for resource in extra_resources(parts.problem):
        _capacity(resource)(parts)


def _capacity(resource: Resource | ExtraResource) -> Callable[[ModelParts], None]:
    def add(parts: ModelParts) -> None:
        limits, used, size = resource.limits(parts.problem), resource.fixed(parts.fixed), resource.sizer()
        for host, entries in parts.by_host.items():
            if limits[host] < NO_LIMIT:
                parts.model.add(weighted_sum((size(u), v) for u, v in entries) <= limits[host] - used[host])
    return add


def _anti_affinity(parts: ModelParts) -> None:
    problem, model = parts.problem, parts.model
    rows: dict[tuple[int, int], list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
    for host, entries in parts.by_host.items():
        for unit, var in entries:
            for m in unit.anti_affinity:
                rows[m.group, problem.anti_affinity[m.group].domain_of_host[host]].append((m.members, var))
    at_most_per_domain(model, rows, lambda key: 1 - parts.fixed.members[key])


def _min_spread(parts: ModelParts) -> None:
    """used[g, d] ≤ Σ x over the group's free units on hosts of domain d; a domain holding a fixed
    member is used anyway. At least at_least domains used per group."""
    problem, model, fixed = parts.problem, parts.model, parts.fixed
    terms: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
    for host, entries in parts.by_host.items():
        for unit, var in entries:
            for m in unit.min_spread:
                terms[m.group, problem.min_spread[m.group].domain_of_host[host]].append(var)
    for group, layout in enumerate(problem.min_spread):
        at_least = layout.at_least
        settled = sum(1 for (g, _), count in fixed.spread_members.items() if g == group and count > 0)
        open_domains = [d for (g, d) in terms if g == group and fixed.spread_members.get((g, d), 0) <= 0]
        if settled >= at_least or not open_domains:
            continue  # the fixed members already cover it (or nothing here can change it)
        there = {domain: terms[group, domain] for domain in sorted(open_domains)}
        for domain, var in domains_used_at_least(model, there, at_least - settled, f"spread_{group}").items():
            parts.placement.spread_used[group, domain] = var


def _max_moves(parts: ModelParts) -> None:
    limit = parts.problem.rules.policy.limits.max_moves
    if limit is not None:
        units = parts.problem.units
        moved = weighted_sum((units[u].moved_vms(h), var) for (u, h), var in parts.placement.x.items())
        parts.model.add(moved + parts.fixed.moved_vms <= limit)


def _max_moved_memory(parts: ModelParts) -> None:
    limit = parts.problem.rules.policy.limits.max_moved_memory_mib
    if limit is not None:
        units = parts.problem.units
        moved = weighted_sum((units[u].move_cost(h), var) for (u, h), var in parts.placement.x.items())
        parts.model.add(moved + parts.fixed.moved_mib <= limit)


def _moved_memory_cost(parts: ModelParts) -> None:
    """The exact cost for stage 2, and a GiB version small enough to sit under the goal in stage 1."""
    placement, units = parts.placement, parts.problem.units
    costs = {(u, h): units[u].weighted_cost(h) for (u, h) in placement.x}
    coarse = {key: -(-c // 1024) for key, c in costs.items()}
    placement.cost = weighted_sum((c, placement.x[key]) for key, c in costs.items()) + parts.fixed.cost
    placement.coarse_cost = weighted_sum((c, placement.x[key]) for key, c in coarse.items())
    placement.max_coarse_cost = sum(max(coarse[u, h] for h in hosts)
                                    for u, hosts in parts.candidates.items() if len(hosts) > 1)


def _peak_utilisation(parts: ModelParts) -> None:
    """peak[r] ≥ every goal host's utilisation of r (per-mille); goal = Σ weight[r] · peak[r]."""
    problem = parts.problem
    if problem.goal.minimises_hosts:
        return
    goal = 0
    for resource, weight, floor in zip(PEAK_RESOURCES, problem.spread_weights, problem.spread_floors):
        if weight:
            goal += weight * _peak(parts, resource, floor)
    for resource, weight, floor in zip(extra_resources(problem), problem.extra_weights, problem.extra_floors):
        if weight:
            goal += weight * _peak(parts, resource, floor)
    parts.placement.goal = goal


def _peak(parts: ModelParts, resource: Resource | ExtraResource, floor: int) -> cp_model.IntVar:
    problem, model, hosts = parts.problem, parts.model, parts.placement.goal_hosts
    used, size = resource.fixed(parts.fixed), resource.sizer()
    capacity = resource.capacity_of(problem)
    # The variable's domain: no lower than any host that cannot shed load (nor the floor the caller
    # knows no placement goes below), no higher than every free unit that may go to a host landing there.
    lowest = max([floor, parts.peak_floors.get(resource, 0)] + [permille(used[h], capacity[h]) for h in hosts])
    highest = max([lowest] + [permille(used[h] + sum(size(u) for u, _ in parts.by_host.get(h, ())),
                                       capacity[h]) for h in hosts])
    peak = model.new_int_var(lowest, highest, f"peak_{resource.value}")
    for host in hosts:
        entries = parts.by_host.get(host)
        if entries and capacity[host] > 0:  # no capacity: utilisation is 0 by definition (metrics.permille)
            model.add(1000 * (weighted_sum((size(u), v) for u, v in entries) + used[host]) <= peak * capacity[host])
    parts.placement.goal_vars[resource] = peak
    return peak


def _hosts_in_use(parts: ModelParts) -> None:
    """used[h] ⇐ any x on h, and h's memory row only opens on a used host (a tighter relaxation)."""
    problem, model, fixed, placement = parts.problem, parts.model, parts.fixed, parts.placement
    if not problem.goal.minimises_hosts:
        return
    always_on = 0
    goal = 0
    for host in placement.goal_hosts:
        entries = parts.by_host.get(host, [])
        if fixed.memory[host] or fixed.vcpus[host]:
            always_on += 1
            continue
        if not entries:
            continue
        used = model.new_bool_var(f"used_{host}")
        placement.used[host] = used
        model.add(weighted_sum((u.memory_mib, v) for u, v in entries) <= problem.memory_limit[host] * used)
        for _, var in entries:
            model.add_implication(var, used)
        goal += used
    placement.goal = goal + always_on


FAMILIES: tuple[Family[ModelParts], ...] = (
    Family("one_host_per_unit", _one_host_per_unit),
    Family("memory_capacity", _capacity(Resource.MEMORY)),
    Family("vcpu_capacity", _capacity(Resource.VCPUS)),
    Family("cpu_load_capacity", _capacity(Resource.CPU_LOAD)),
    Family("extra_capacity", _extra_capacity),
    Family("anti_affinity", _anti_affinity),
    Family("min_spread", _min_spread),
    Family("max_moves", _max_moves),
    Family("max_moved_memory", _max_moved_memory),
    Family("moved_memory_cost", _moved_memory_cost),
    Family("peak_utilisation", _peak_utilisation),
    Family("hosts_in_use", _hosts_in_use),
)
