"""The problem's units, built from the rules: one per VM outside any affinity group and one per
group, each with where it may end, whether it is fixed for the goal, its rule memberships and
its move weights.

A 200,000-VM cluster is 200,000 units: building them is most of building a problem, and a drain
builds one before its time limit starts to buy anything. So the common unit, one VM, takes a path
of its own (no sums over members) and every unit is filled in without the frozen dataclass's
per-field __init__ (unit.unit_from).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from planner.domain.model import VM
from planner.instance.drain_only import DrainOnly
from planner.instance.move_cost_matrix import MoveCostMatrix
from planner.instance.rule_groups import Membership
from planner.instance.unit import MoveWeights, Unit, unit_from
from planner.rules.min_spread import MinSpreadGroup
from planner.rules.resolve import AntiAffinityGroup, RuleSet


class UnitBuilder:
    """Builds the units of `rules` for a problem whose hosts are numbered by `index_of_host`;
    `in_place`, for a drain, fixes the units it keeps where they run."""

    def __init__(self, rules: RuleSet, index_of_host: Mapping[str, int], matrix: MoveCostMatrix,
                 in_place: DrainOnly | None) -> None:
        self.rules = rules
        self.index_of_host = index_of_host
        self.vm_by_name = rules.cluster.vm_by_name
        self.resource_names = rules.cluster.resource_names
        self.vm_groups = _groups_of_vms(rules.anti_affinity)
        self.vm_spreads = _groups_of_vms(rules.min_spread)
        self.shared = _SharedHostSets(rules, index_of_host)
        self.weights = _weights_factory(rules, matrix)
        self.in_place = in_place

    def units(self) -> tuple[Unit, ...]:
        one_vm = self._one_vm_units()
        return tuple(one_vm(index, names) if len(names) == 1 else self._unit(index, names)
                     for index, names in enumerate(_unit_members(self.rules)))

    def _one_vm_units(self) -> Callable[[int, tuple[str, ...]], Unit]:
        """_unit for a unit of one VM, with everything it reads bound once and each VM's
        memberships made once: 200,000 such units are most of building a large problem."""
        vm_by_name, index_of_host, pinned = self.vm_by_name, self.index_of_host, self.rules.pinned
        allowed_one, weights, in_place, resources = self.shared.allowed_one, self.weights, self.in_place, \
            self.resource_names
        anti_affinity, min_spread = _one_vm_memberships(self.vm_groups), _one_vm_memberships(self.vm_spreads)

        def unit(index: int, names: tuple[str, ...]) -> Unit:
            name = names[0]
            if name in pinned:
                return self._unit(index, names)
            vm = vm_by_name[name]
            host, memory = index_of_host[vm.host], vm.memory_mib
            allowed, fixed = allowed_one(name, vm.host), False
            if in_place is not None:
                stays = in_place.stays(index, names, (host,), allowed)
                if stays is not None:
                    allowed, fixed = stays, True
            extra = tuple(vm.resources.get(resource, 0) for resource in resources) if resources else ()
            return unit_from((index, names, (host,), (memory,), vm.vcpus, memory, vm.cpu_load_millicores, allowed,
                              fixed, anti_affinity.get(name, ()), min_spread.get(name, ()), weights(names), extra))
        return unit

    def _unit(self, index: int, names: tuple[str, ...]) -> Unit:
        vms = [self.vm_by_name[name] for name in names]
        if len(vms) == 1:
            vm = vms[0]
            member_hosts = (self.index_of_host[vm.host],)
            member_memory = (vm.memory_mib,)
            vcpus, load = vm.vcpus, vm.cpu_load_millicores
            extra = tuple(vm.resources.get(name, 0) for name in self.resource_names) if self.resource_names else ()
        else:
            member_hosts = tuple(self.index_of_host[vm.host] for vm in vms)
            member_memory = tuple(vm.memory_mib for vm in vms)
            vcpus, load = sum(vm.vcpus for vm in vms), sum(vm.cpu_load_millicores for vm in vms)
            extra = tuple(sum(vm.resources.get(name, 0) for vm in vms) for name in self.resource_names)
        allowed, fixed = self._freedom(index, names, vms, member_hosts)
        return unit_from((index, names, member_hosts, member_memory, vcpus, sum(member_memory), load, allowed, fixed,
                          _memberships(names, self.vm_groups), _memberships(names, self.vm_spreads),
                          self.weights(names), extra))

    def _freedom(self, index: int, names: tuple[str, ...], vms: list[VM],
                 member_hosts: tuple[int, ...]) -> tuple[frozenset[int], bool]:
        """Where the unit may end and whether it is fixed, the drain's keeping included."""
        allowed, fixed = _freedom(vms, self.rules, self.index_of_host, self.shared)
        if self.in_place is not None and not fixed:
            stays = self.in_place.stays(index, names, member_hosts, allowed)
            if stays is not None:
                return stays, True
        return allowed, fixed


def _unit_members(rules: RuleSet) -> list[tuple[str, ...]]:
    grouped = {name for group in rules.affinity for name in group}
    singles = [(vm.name,) for vm in rules.cluster.vms if vm.name not in grouped]
    return singles + list(rules.affinity)


def _groups_of_vms(groups: Sequence[AntiAffinityGroup | MinSpreadGroup]) -> dict[str, list[int]]:
    """VM name → indexes of the groups it is a member of."""
    of: dict[str, list[int]] = {}
    for g, group in enumerate(groups):
        for name in group.members:
            of.setdefault(name, []).append(g)
    return of


def _one_vm_memberships(groups_of_vm: Mapping[str, list[int]]) -> dict[str, tuple[Membership, ...]]:
    """_memberships of each one-VM unit, by its VM's name."""
    return {name: tuple(Membership(g, 1) for g in groups) for name, groups in groups_of_vm.items()}


def _memberships(names: tuple[str, ...], groups_of_vm: Mapping[str, list[int]]) -> tuple[Membership, ...]:
    """The groups the unit's VMs belong to, in index order, with how many of its VMs are in each."""
    if len(names) == 1:  # most units: their VM's groups, listed in index order by _groups_of_vms
        groups_of_one = groups_of_vm.get(names[0])
        return tuple(Membership(g, 1) for g in groups_of_one) if groups_of_one else ()
    groups = sorted({g for n in names for g in groups_of_vm.get(n, ())})
    return tuple(Membership(g, sum(1 for n in names if g in groups_of_vm.get(n, ()))) for g in groups)


def _weights_factory(rules: RuleSet, matrix: MoveCostMatrix) -> Callable[[tuple[str, ...]], MoveWeights | None]:
    """names → the unit's MoveWeights; None for every unit when the policy weighs nothing."""
    table = rules.move_costs
    if not table.weighted:
        return lambda names: None
    vm_by_name = rules.cluster.vm_by_name
    return lambda names: MoveWeights(tuple(vm_by_name[n].memory_mib * table.factor_of.get(n, 1) for n in names), matrix)


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

