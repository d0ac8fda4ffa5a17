"""The placement problem in solver terms: units (unit.py), hosts by index, per-host limits.

Every limit is an integer in the model's units (MiB, vCPUs, milli-cores).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from operator import attrgetter
from types import MappingProxyType

import numpy as np

from planner.domain.goal_metric import extra_weighing, spread_floors
from planner.domain.model import Host
from planner.domain.policy import Goal
from planner.instance.move_cost_matrix import MoveCostMatrix
from planner.instance.rule_groups import AntiAffinityLayout, Membership, SpreadLayout
from planner.instance.unit import MoveWeights, Unit, replaced
from planner.instance.unit_arrays import UnitArrays
from planner.instance.unit_building import UnitBuilder
from planner.instance.drain_only import DrainOnly
from planner.instance.host_limits import declared, fixed_floored, headroom_limits
from planner.rules.resolve import RuleSet

# Unit and MoveWeights are read from here by most of the planner.
__all__ = ["NO_LIMIT", "MoveWeights", "Problem", "Unit", "build_problem", "hosts_allowed_to_any", "with_drain_lifted",
           "with_units"]

NO_LIMIT = 1 << 40


@dataclass(frozen=True)
class Problem:
    goal: Goal
    rules: RuleSet
    hosts: tuple[Host, ...]
    units: tuple[Unit, ...]
    memory_limit: tuple[int, ...]
    vcpu_limit: tuple[int, ...]
    load_limit: tuple[int, ...]  # measured CPU; NO_LIMIT unless consolidating with headroom
    metric_hosts: frozenset[int]  # hosts the goal metric looks at (all but excluded ones)
    index_of_host: Mapping[str, int]
    anti_affinity: tuple[AntiAffinityLayout, ...] = ()  # by group index, as in the RuleSet
    min_spread: tuple[SpreadLayout, ...] = ()  # by group index, as in the RuleSet
    # Any unit with MoveWeights (else every Unit.weighted_cost is its move_cost): PlacementState
    # then keeps the weighed sum beside the plain one.
    weighted_costs: bool = False
    # What every unit's weighted_cost prices a member's move by (one domain and factor 1 when the
    # policy weighs nothing: then a move costs its memory): for pricing many moves at once.
    move_cost_matrix: MoveCostMatrix = MoveCostMatrix.crossing([0], 1)
    # The cluster's extra named resources (sorted) and, per resource, every host's capacity: a hard
    # limit like memory (never below what fixed units already hold there).
    resources: tuple[str, ...] = ()
    extra_limit: tuple[tuple[int, ...], ...] = ()
    # A drain's units kept where they run (DrainOnly), by index: the hosts each may use once freed.
    drain_kept: Mapping[int, frozenset[int]] = field(default_factory=lambda: MappingProxyType({}))

    def extra_capacity(self, resource: int) -> tuple[int, ...]:
        """What utilisation of extra resource `resource` is measured against: the declared capacity."""
        return declared(self.hosts, self.resources[resource])

    @cached_property
    def movable(self) -> tuple[Unit, ...]:
        """The units that may move (kept: a large consolidation asks for them several times)."""
        return tuple(u for u in self.units if not u.fixed)

    @property
    def spread_weights(self) -> tuple[int, int]:
        spread = self.rules.policy.spread
        return spread.cpu_weight, spread.memory_weight

    @property
    def spread_floors(self) -> tuple[int, int]:
        """The thresholds in per-mille: peaks below them count as the threshold."""
        return spread_floors(self.rules.policy.spread)

    # Cached: the greedy and the LNS read these on every step (a frozen dataclass has no slots, so
    # cached_property can store the value).
    @cached_property
    def extra_weights(self) -> tuple[int, ...]:
        """The spread goal's weight of each extra resource, in the order of `resources`."""
        return tuple(weight for weight, _ in extra_weighing(self.rules.policy.spread, self.resources).values())

    @cached_property
    def fixed_sizes(self) -> np.ndarray:
        """What the fixed units hold per host (UnitArrays.held_by_fixed)."""
        return self.unit_arrays.held_by_fixed(len(self.hosts))

    @cached_property
    def unit_arrays(self) -> UnitArrays:
        """The units' sizes, homes and allowed sets as numpy arrays (a problem derived from another
        by with_units or with_drain_lifted gets them derived: _with_arrays)."""
        return UnitArrays.of(self.units, len(self.resources))

    @cached_property
    def limit_rows(self) -> np.ndarray:
        """The hard limits per host as rows of (memory MiB, vCPUs, load, extra resources…), the
        columns of fixed_sizes and UnitArrays.sizes. Read-only: placement states share it."""
        rows = np.array([self.memory_limit, self.vcpu_limit, self.load_limit, *self.extra_limit],
                        dtype=np.int64).reshape(3 + len(self.resources), len(self.hosts)).T
        rows.setflags(write=False)
        return rows

    @cached_property
    def extra_floors(self) -> tuple[int, ...]:
        """Each extra resource's spread threshold in per-mille."""
        return tuple(floor for _, floor in extra_weighing(self.rules.policy.spread, self.resources).values())


def hosts_allowed_to_any(units: Iterable[Unit]) -> frozenset[int]:
    """Every host some unit may use. Units share a handful of allowed sets (unit_building._SharedHostSets), so each
    distinct set is merged once: a walk of every (unit, host) pair is 20 million at 1,000 hosts."""
    distinct = {id(unit.allowed): unit.allowed for unit in units}
    return frozenset().union(*distinct.values())


def build_problem(rules: RuleSet, goal: Goal | None = None) -> Problem:
    goal = goal or rules.policy.goal
    cluster = rules.cluster
    hosts = cluster.hosts
    index_of_host = {h.name: i for i, h in enumerate(hosts)}
    matrix = _move_cost_matrix(rules)
    domain_ids = _DomainIds(hosts)
    in_place = DrainOnly(rules, index_of_host) if goal.traits.moves_only_drained else None
    units = UnitBuilder(rules, index_of_host, matrix, in_place).units()
    arrays = UnitArrays.of(units, len(cluster.resource_names))
    memory_limit = tuple(h.usable_memory_mib for h in hosts)
    vcpu_limit = tuple(h.usable_vcpus for h in hosts)
    load_limit = tuple(NO_LIMIT for _ in hosts)
    if goal.traits.keeps_headroom:
        memory_limit, load_limit = headroom_limits(rules, memory_limit)
    held = arrays.held_by_fixed(len(hosts))
    memory_limit, vcpu_limit, extra_limit = fixed_floored(memory_limit, vcpu_limit, hosts, cluster.resource_names,
                                                          held)
    return _with_arrays(Problem(
        goal=goal,
        rules=rules,
        hosts=hosts,
        units=units,
        memory_limit=memory_limit,
        vcpu_limit=vcpu_limit,
        load_limit=load_limit,
        metric_hosts=frozenset(i for i, h in enumerate(hosts) if h.name not in rules.excluded),
        index_of_host=MappingProxyType(index_of_host),
        anti_affinity=tuple(
            AntiAffinityLayout(domain_ids(group.domain_of), members) for group, members
            in zip(rules.anti_affinity, _units_per_group(rules.anti_affinity, units, attrgetter("anti_affinity")))),
        min_spread=tuple(
            SpreadLayout(domain_ids(group.domain_of), group.at_least, members) for group, members
            in zip(rules.min_spread, _units_per_group(rules.min_spread, units, attrgetter("min_spread")))),
        weighted_costs=rules.move_costs.weighted,
        move_cost_matrix=matrix,
        resources=cluster.resource_names,
        extra_limit=extra_limit,
        drain_kept=MappingProxyType(in_place.kept) if in_place is not None else MappingProxyType({}),
    ), arrays, held)


def with_units(problem: Problem, replacing: Mapping[int, Unit]) -> Problem:
    """`problem` with some units replaced by index (the same VMs, other allowed hosts or fixedness:
    units of the same rules built with other VMs movable), its limits following what stays fixed.
    Rebuilding the problem instead costs seconds at 200,000 VMs. Not for goals that keep headroom:
    their limits depend on more than what is fixed."""
    if problem.goal.traits.keeps_headroom:
        raise ValueError("with_units does not recompute headroom limits")
    for index, unit in replacing.items():
        _check_same_vms(problem.units[index], unit)
    units = tuple(replacing.get(unit.index, unit) for unit in problem.units)
    arrays = problem.unit_arrays.refreed(list(replacing.values()))
    held = arrays.held_by_fixed(len(problem.hosts))
    hosts = problem.hosts
    usable = (tuple(h.usable_memory_mib for h in hosts), tuple(h.usable_vcpus for h in hosts))
    memory, vcpus, extra = fixed_floored(*usable, hosts, problem.resources, held)
    return _with_arrays(replace(problem, units=units, memory_limit=memory, vcpu_limit=vcpus, extra_limit=extra),
                        arrays, held)


def _check_same_vms(old: Unit, new: Unit) -> None:
    """with_units replaces a unit's freedom, never what it is: its arrays are derived, not rebuilt."""
    if new.index != old.index or replaced(new, allowed=old.allowed, fixed=old.fixed) != old:
        raise ValueError(f"with_units: unit {old.index} may change only its allowed hosts or fixedness")


def _with_arrays(problem: Problem, arrays: UnitArrays, held: np.ndarray | None = None) -> Problem:
    """`problem` with its unit arrays (and what its fixed units hold, if known) already worked out:
    the cached properties' own slots, filled as reading them would."""
    problem.__dict__["unit_arrays"] = arrays
    if held is not None:
        problem.__dict__["fixed_sizes"] = held
    return problem


def _units_per_group(groups: Sequence[object], units: tuple[Unit, ...],
                     memberships: Callable[[Unit], tuple[Membership, ...]]) -> list[tuple[int, ...]]:
    """Per group, in the groups' order: the indexes of the units with a member in it, ascending."""
    per_group: list[list[int]] = [[] for _ in groups]
    for unit in units:
        for membership in memberships(unit):
            per_group[membership.group].append(unit.index)
    return [tuple(indexes) for indexes in per_group]


def _move_cost_matrix(rules: RuleSet) -> MoveCostMatrix:
    """× cross_factor between the hosts' cross-label values (a host without the label is a value
    of its own: rules.move_costs names it so)."""
    table = rules.move_costs
    if not table.weighted:
        return MoveCostMatrix.crossing([0] * len(rules.cluster.hosts), 1)
    domain_of = table.domain_of or {}
    ids: dict[str, int] = {}
    host_domain = [ids.setdefault(domain_of.get(h.name, ""), len(ids)) for h in rules.cluster.hosts]
    return MoveCostMatrix.crossing(host_domain, table.cross_factor)


def with_drain_lifted(problem: Problem) -> Problem:
    """A drain's `problem` with the units it keeps where they run free to move as any other goal
    would have them (pins still hold); its limits stay. The same units as building the problem for
    another goal, with the drain's limits and the units it must move as they are."""
    units = list(problem.units)
    for index, allowed in problem.drain_kept.items():
        units[index] = replaced(units[index], allowed=allowed, fixed=False)
    arrays = problem.unit_arrays.refreed([units[index] for index in problem.drain_kept])
    return _with_arrays(replace(problem, units=tuple(units), drain_kept=MappingProxyType({})), arrays)


class _DomainIds:
    """Each host's domain as a small integer, per label mapping: numbered once per distinct
    mapping (rules of one label share theirs, host_labels.LabelDomains), not once per group."""

    def __init__(self, hosts: tuple[Host, ...]) -> None:
        self.hosts = hosts
        self._numbered: dict[int, tuple[Mapping[str, str], tuple[int, ...]]] = {}

    def __call__(self, domain_of: Mapping[str, str]) -> tuple[int, ...]:
        # Keyed by identity, with the mapping kept alive beside its numbering so the id stays its own.
        if id(domain_of) not in self._numbered:
            ids: dict[str, int] = {}
            self._numbered[id(domain_of)] = (domain_of, tuple(ids.setdefault(domain_of[h.name], len(ids))
                                                              for h in self.hosts))
        return self._numbered[id(domain_of)][1]
