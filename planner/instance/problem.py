"""The placement problem in solver terms: units, hosts by index, per-host limits.

A *unit* is what moves as one: a single VM, or an affinity group (its members must end on one
host). Units that may not move for this goal (pinned, or not involved in a drain) are *fixed*: they
only add to their host's usage. Every limit is an integer in the model's units (MiB, vCPUs,
milli-cores).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from operator import attrgetter
from types import MappingProxyType

import numpy as np

from planner.domain.goal_metric import extra_weighing, spread_floors
from planner.domain.model import VM, Host
from planner.domain.policy import Goal
from planner.instance.move_cost_matrix import MoveCostMatrix
from planner.instance.rule_groups import AntiAffinityLayout, Membership, SpreadLayout
from planner.instance.unit_arrays import UnitArrays
from planner.rules.min_spread import MinSpreadGroup
from planner.instance.drain_only import DrainOnly
from planner.instance.host_limits import declared, fixed_floored, headroom_limits
from planner.rules.resolve import AntiAffinityGroup, RuleSet

NO_LIMIT = 1 << 40


@dataclass(frozen=True)
class MoveWeights:
    """What a unit's migration weighs under the policy's move costs (absent: plain memory)."""

    member_weight: tuple[int, ...]  # per member, like member_memory: its memory × the VM's factor
    matrix: MoveCostMatrix  # shared by all units: × cross_factor between cross-label values


@dataclass(frozen=True)
class Unit:
    index: int
    vms: tuple[str, ...]
    member_hosts: tuple[int, ...]  # where each member runs now
    member_memory: tuple[int, ...]
    vcpus: int
    memory_mib: int
    cpu_load: int
    allowed: frozenset[int]  # hosts this unit may end on
    fixed: bool
    anti_affinity: tuple[Membership, ...]  # the anti-affinity groups a member belongs to, by index
    min_spread: tuple[Membership, ...] = ()  # the same for min_spread groups
    weights: MoveWeights | None = None
    extra: tuple[int, ...] = ()  # demand per extra resource, in the order of Problem.resources

    @property
    def current(self) -> int | None:
        """The host all members share now, or None for an affinity group split over hosts. Not a
        cached_property: Python 3.11 takes a lock to fill one, 7 µs per unit, most of building a
        100,000-VM drain; the one-VM case below costs a tenth of that each time."""
        hosts = self.member_hosts
        first = hosts[0]
        if len(hosts) == 1:
            return first
        return first if all(h == first for h in hosts) else None

    def move_cost(self, host: int) -> int:
        """MiB of memory that must migrate for this unit to end on `host`."""
        if len(self.member_hosts) == 1:  # most units are one VM; the greedy asks this millions of times
            return 0 if self.member_hosts[0] == host else self.memory_mib
        return sum(m for h, m in zip(self.member_hosts, self.member_memory) if h != host)

    def weighted_cost(self, host: int) -> int:
        """move_cost weighed by the policy's move costs: what the solver's tie-break minimises."""
        weights = self.weights
        if weights is None:
            return self.move_cost(host)
        cost = weights.matrix.cost
        return sum(cost(weight, h, host) for h, weight in zip(self.member_hosts, weights.member_weight))

    @property
    def weighted_memory(self) -> int:
        """Memory × VM factors: the cost of moving every member within its cross-label value."""
        weights = self.weights
        if weights is None:
            return self.memory_mib
        return sum(weights.member_weight)

    def moved_vms(self, host: int) -> int:
        return sum(1 for h in self.member_hosts if h != host)


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

    @property
    def movable(self) -> tuple[Unit, ...]:
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
        """Per host, what its fixed units hold: rows of (memory MiB, vCPUs, load, extras…), as
        PlacementState.sizes. No move frees that much on a host."""
        columns = 3 + len(self.resources)
        sizes = np.zeros((len(self.hosts), columns), dtype=np.int64)
        fixed = [unit for unit in self.units if unit.fixed and unit.current is not None]
        # Summed by numpy from one list of rows: adding each unit's row to its host's was 0.45 s
        # for a 200,000-VM drain, where nearly every unit is fixed.
        rows = np.array([(u.memory_mib, u.vcpus, u.cpu_load, *u.extra) for u in fixed], dtype=np.int64)
        np.add.at(sizes, [u.current for u in fixed], rows.reshape(len(fixed), columns))
        return sizes

    @cached_property
    def unit_arrays(self) -> UnitArrays:
        """The units' sizes, homes and allowed sets as numpy arrays."""
        return UnitArrays.of(self.units, len(self.resources))

    @cached_property
    def extra_floors(self) -> tuple[int, ...]:
        """Each extra resource's spread threshold in per-mille."""
        return tuple(floor for _, floor in extra_weighing(self.rules.policy.spread, self.resources).values())


def hosts_allowed_to_any(units: Iterable[Unit]) -> frozenset[int]:
    """Every host some unit may use. Units share a handful of allowed sets (_SharedHostSets), so each
    distinct set is merged once: a walk of every (unit, host) pair is 20 million at 1,000 hosts."""
    distinct = {id(unit.allowed): unit.allowed for unit in units}
    return frozenset().union(*distinct.values())


def build_problem(rules: RuleSet, goal: Goal | None = None) -> Problem:
    goal = goal or rules.policy.goal
    cluster = rules.cluster
    hosts = cluster.hosts
    index_of_host = {h.name: i for i, h in enumerate(hosts)}
    vm_groups = _groups_of_vms(rules.anti_affinity)
    vm_spreads = _groups_of_vms(rules.min_spread)
    shared = _SharedHostSets(rules, index_of_host)
    matrix = _move_cost_matrix(rules)
    weights = _weights_factory(rules, matrix)
    domain_ids = _DomainIds(hosts)
    in_place = DrainOnly(rules, index_of_host) if goal.traits.moves_only_drained else None
    units = tuple(
        _make_unit(i, names, rules, index_of_host, vm_groups, vm_spreads, shared, weights, in_place)
        for i, names in enumerate(_unit_members(rules))
    )
    memory_limit = tuple(h.usable_memory_mib for h in hosts)
    vcpu_limit = tuple(h.usable_vcpus for h in hosts)
    load_limit = tuple(NO_LIMIT for _ in hosts)
    if goal.traits.keeps_headroom:
        memory_limit, load_limit = headroom_limits(rules, units, memory_limit)
    memory_limit, vcpu_limit, extra_limit = fixed_floored(memory_limit, vcpu_limit, hosts, cluster.resource_names,
                                                          units)
    return Problem(
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
    )


def with_units(problem: Problem, replacing: Mapping[int, Unit]) -> Problem:
    """`problem` with some units replaced by index (the same VMs, other allowed hosts or fixedness:
    units of the same rules built with other VMs movable), its limits following what stays fixed.
    Rebuilding the problem instead costs seconds at 200,000 VMs. Not for goals that keep headroom:
    their limits depend on more than what is fixed."""
    if problem.goal.traits.keeps_headroom:
        raise ValueError("with_units does not recompute headroom limits")
    units = tuple(replacing.get(unit.index, unit) for unit in problem.units)
    hosts = problem.hosts
    usable = (tuple(h.usable_memory_mib for h in hosts), tuple(h.usable_vcpus for h in hosts))
    memory, vcpus, extra = fixed_floored(*usable, hosts, problem.resources, units)
    return replace(problem, units=units, memory_limit=memory, vcpu_limit=vcpus, extra_limit=extra)


def _units_per_group(groups: Sequence[object], units: tuple[Unit, ...],
                     memberships: Callable[[Unit], tuple[Membership, ...]]) -> list[tuple[int, ...]]:
    """Per group, in the groups' order: the indexes of the units with a member in it, ascending."""
    per_group: list[list[int]] = [[] for _ in groups]
    for unit in units:
        for membership in memberships(unit):
            per_group[membership.group].append(unit.index)
    return [tuple(indexes) for indexes in per_group]


def _groups_of_vms(groups: Sequence[AntiAffinityGroup | MinSpreadGroup]) -> dict[str, list[int]]:
    """VM name → indexes of the groups it is a member of."""
    of: dict[str, list[int]] = {}
    for g, group in enumerate(groups):
        for name in group.members:
            of.setdefault(name, []).append(g)
    return of


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


def _weights_factory(rules: RuleSet, matrix: MoveCostMatrix) -> Callable[[tuple[str, ...]], MoveWeights | None]:
    """names → the unit's MoveWeights; None for every unit when the policy weighs nothing."""
    table = rules.move_costs
    if not table.weighted:
        return lambda names: None
    vm_by_name = rules.cluster.vm_by_name
    return lambda names: MoveWeights(tuple(vm_by_name[n].memory_mib * table.factor_of.get(n, 1) for n in names), matrix)


def _unit_members(rules: RuleSet) -> list[tuple[str, ...]]:
    grouped = {name for group in rules.affinity for name in group}
    singles = [(vm.name,) for vm in rules.cluster.vms if vm.name not in grouped]
    return singles + list(rules.affinity)


class _SharedHostSets:
    """One frozenset per distinct allowed-host set: 20,000 units mostly share a handful."""

    def __init__(self, rules: RuleSet, index_of_host: Mapping[str, int]) -> None:
        self.rules = rules
        self.index_of_host = index_of_host
        self.cache: dict[tuple[frozenset[str], frozenset[str] | None], frozenset[int]] = {}
        self.of_one: dict[tuple[str, frozenset[str] | None], frozenset[int]] = {}

    def allowed_one(self, name: str, host: str) -> frozenset[int]:
        """allowed() for a unit of one VM, looked up by what decides it (its host, its allowed-host
        rule): most units, and working each out took a second of building a 200,000-VM problem."""
        key = (host, self.rules.allowed_hosts.get(name))
        found = self.of_one.get(key)
        if found is None:
            found = self.of_one[key] = self.allowed((name,), frozenset({host}))
        return found

    def allowed(self, names: tuple[str, ...], current: frozenset[str]) -> frozenset[int]:
        groups = [self.rules.allowed_hosts[n] for n in names if n in self.rules.allowed_hosts]
        restriction = frozenset.intersection(*groups) if groups else None
        # Staying put is allowed on a disabled host, but a split affinity group only joins active hosts.
        staying = current if len(current) == 1 and not current & self.rules.drained else frozenset()
        staying = staying - self.rules.destinations
        key = (staying, restriction)
        if key not in self.cache:
            hosts = set(self.rules.destinations) | staying
            if restriction is not None:
                hosts &= restriction
            self.cache[key] = frozenset(self.index_of_host[h] for h in hosts)
        return self.cache[key]


def _freedom(vms: Sequence[VM], rules: RuleSet, index_of_host: Mapping[str, int],
             shared: _SharedHostSets) -> tuple[frozenset[int], bool]:
    """The hosts a unit of `vms` may end on, and whether it is fixed, the goal aside (a drain fixes
    more: DrainOnly)."""
    if len(vms) == 1 and vms[0].name not in rules.pinned:
        return shared.allowed_one(vms[0].name, vms[0].host), False
    pinned_hosts = {vm.host for vm in vms if vm.name in rules.pinned}
    if pinned_hosts:
        return frozenset(index_of_host[h] for h in pinned_hosts), all(vm.host in pinned_hosts for vm in vms)
    return shared.allowed(tuple(vm.name for vm in vms), frozenset(vm.host for vm in vms)), False


def with_drain_lifted(problem: Problem) -> Problem:
    """A drain's `problem` with the units it keeps where they run free to move as any other goal
    would have them (pins still hold); its limits stay. The same units as building the problem for
    another goal, with the drain's limits and the units it must move as they are."""
    units = list(problem.units)
    for index, allowed in problem.drain_kept.items():
        units[index] = _freed(units[index], allowed)
    return replace(problem, units=tuple(units), drain_kept=MappingProxyType({}))


def _freed(unit: Unit, allowed: frozenset[int]) -> Unit:
    """`unit` movable to `allowed`: dataclasses.replace without its __init__, a sixth of the time
    (a drain frees up to 200,000 units at once); the copy is as frozen as the unit."""
    twin = object.__new__(Unit)
    twin.__dict__.update(vars(unit), allowed=allowed, fixed=False)
    return twin


def _make_unit(index: int, names: tuple[str, ...], rules: RuleSet, index_of_host: Mapping[str, int],
               vm_groups: Mapping[str, list[int]], vm_spreads: Mapping[str, list[int]], shared: _SharedHostSets,
               weights: Callable[[tuple[str, ...]], MoveWeights | None], in_place: DrainOnly | None) -> Unit:
    vms = [rules.cluster.vm_by_name[n] for n in names]
    member_hosts = tuple(index_of_host[vm.host] for vm in vms)
    allowed, fixed = _freedom(vms, rules, index_of_host, shared)
    if in_place is not None and not fixed:
        stays = in_place.stays(index, names, member_hosts, allowed)
        if stays is not None:
            allowed, fixed = stays, True
    return Unit(
        index=index,
        vms=names,
        member_hosts=member_hosts,
        member_memory=tuple(vm.memory_mib for vm in vms),
        vcpus=sum(vm.vcpus for vm in vms),
        memory_mib=sum(vm.memory_mib for vm in vms),
        cpu_load=sum(vm.cpu_load_millicores for vm in vms),
        allowed=allowed,
        fixed=fixed,
        anti_affinity=_memberships(names, vm_groups),
        min_spread=_memberships(names, vm_spreads),
        weights=weights(names),
        extra=tuple(sum(vm.resources.get(name, 0) for vm in vms) for name in rules.cluster.resource_names),
    )


def _memberships(names: tuple[str, ...], groups_of_vm: Mapping[str, list[int]]) -> tuple[Membership, ...]:
    """The groups the unit's VMs belong to, in index order, with how many of its VMs are in each."""
    if len(names) == 1:  # most units: their VM's groups, listed in index order by _groups_of_vms
        groups_of_one = groups_of_vm.get(names[0])
        return tuple(Membership(g, 1) for g in groups_of_one) if groups_of_one else ()
    groups = sorted({g for n in names for g in groups_of_vm.get(n, ())})
    return tuple(Membership(g, sum(1 for n in names if g in groups_of_vm.get(n, ()))) for g in groups)


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
