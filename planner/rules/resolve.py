"""A policy applied to one cluster: which VMs each rule covers, which hosts each VM may use.

This is where rules that cannot hold on this cluster are caught, before any solving: an unknown
host, a pinned VM on a host that must be drained, an anti-affinity group larger than the number of
places to spread it over. Each is an InputError naming the policy field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from planner.domain.errors import InputError
from planner.rules.host_labels import LabelDomains
from planner.rules.min_spread import (
    MinSpreadGroup,
    broken_at_start,
    check_min_spread_possible,
    min_spread_groups,
)
from planner.domain.model import VM, Cluster, HostState
from planner.rules.move_costs import MoveCostTable, resolve_move_costs
from planner.domain.policy import Goal, Policy, Selector


@dataclass(frozen=True)
class AntiAffinityGroup:
    name: str
    members: tuple[str, ...]
    scope: str
    # host → the value it has for the scope ("rack" → "r1"); hosts lacking the label are their own domain
    domain_of: Mapping[str, str]


@dataclass(frozen=True)
class RuleSet:
    cluster: Cluster
    policy: Policy
    pinned: frozenset[str]  # VMs that never move, with the reason in `pin_reason`
    pin_reason: Mapping[str, str]
    drained: frozenset[str]  # hosts that must end empty
    destinations: frozenset[str]  # hosts that may receive VMs
    excluded: frozenset[str]  # hosts left alone entirely
    anti_affinity: tuple[AntiAffinityGroup, ...]
    affinity: tuple[tuple[str, ...], ...]  # merged groups of VMs that share a host
    allowed_hosts: Mapping[str, frozenset[str]]  # host-group restriction per VM (absent: any host)
    min_spread: tuple[MinSpreadGroup, ...] = ()
    move_costs: MoveCostTable = MoveCostTable()

    def may_host(self, vm: str, host: str) -> bool:
        allowed = self.allowed_hosts.get(vm)
        return host in self.destinations and (allowed is None or host in allowed)


def resolve_rules(cluster: Cluster, policy: Policy) -> RuleSet:
    hosts = cluster.host_by_name
    _check_hosts_known(policy.excluded_hosts, hosts, "excluded_hosts")
    _check_hosts_known(policy.drain_hosts, hosts, "drain_hosts")
    _check_resources_known(policy, cluster)
    overlap = policy.drain_hosts & policy.excluded_hosts
    if overlap:
        raise InputError("drain_hosts", f"{', '.join(sorted(overlap))} cannot be both drained and excluded")

    # A host in `state: maintenance` must end empty under every goal, so it is a host to drain too.
    drained = frozenset(policy.drain_hosts | {h.name for h in cluster.hosts if h.state is HostState.MAINTENANCE})
    if policy.goal is Goal.DRAIN and not drained:
        raise InputError("drain_hosts", "goal drain needs at least one host to drain (--drain HOST, or a host in "
                                         "state: maintenance)")
    excluded = frozenset(policy.excluded_hosts)
    destinations = frozenset(h.name for h in cluster.hosts if h.takes_new_vms) - drained - excluded
    pin_reason = _pins(cluster, policy, excluded)
    anti_affinity = tuple(_anti_affinity_groups(cluster, policy))
    affinity = _affinity_groups(cluster, policy)
    allowed_hosts = _allowed_hosts(cluster, policy)
    min_spread = min_spread_groups(cluster, policy, select_vms)
    for name in _held_by_cooldown(cluster, policy, drained, allowed_hosts, anti_affinity, affinity, min_spread):
        pin_reason.setdefault(name, policy.cooldown[name])
    ruleset = RuleSet(
        cluster=cluster,
        policy=policy,
        pinned=frozenset(pin_reason),
        pin_reason=MappingProxyType(pin_reason),
        drained=drained,
        destinations=destinations,
        excluded=excluded,
        anti_affinity=anti_affinity,
        affinity=affinity,
        allowed_hosts=MappingProxyType(allowed_hosts),
        min_spread=min_spread,
        move_costs=resolve_move_costs(cluster, policy, select_vms),
    )
    _check_pinned_against_rules(ruleset)
    _check_anti_affinity_possible(ruleset)
    check_min_spread_possible(min_spread, cluster, affinity, ruleset.pinned, excluded, drained, destinations,
                              ruleset.allowed_hosts)
    return ruleset


def _check_resources_known(policy: Policy, cluster: Cluster) -> None:
    declared = cluster.resource_names
    for balance in policy.spread.resources:
        if balance.name not in declared:
            known = f"it declares {', '.join(declared)}" if declared else "its hosts declare no extra resources"
            raise InputError(f"spread.resources.{balance.name}", f"the cluster has no resource of that name ({known})")


def _check_hosts_known(names: frozenset[str], hosts: Mapping[str, object], field: str) -> None:
    for name in sorted(names):
        if name not in hosts:
            raise InputError(field, f"unknown host {name!r}")


def select_vms(cluster: Cluster, selector: Selector, field: str) -> tuple[VM, ...]:
    for name in sorted(selector.names):
        if name not in cluster.vm_by_name:
            raise InputError(field, f"unknown VM {name!r}")
    return cluster.select(selector.names, selector.labels)


def _pins(cluster: Cluster, policy: Policy, excluded: frozenset[str]) -> dict[str, str]:
    reasons: dict[str, str] = {}
    for index, pin in enumerate(policy.pins):
        for vm in select_vms(cluster, pin.vms, f"rules.pin[{index}].vms"):
            reasons.setdefault(vm.name, f"pinned by rule {pin.name!r}")
    for vm in cluster.vms:
        if not vm.migratable:
            reasons.setdefault(vm.name, f"not migratable: {vm.unmigratable_reason or 'no reason given'}")
        if vm.host in excluded:
            reasons.setdefault(vm.name, f"on excluded host {vm.host}")
    return reasons


def _held_by_cooldown(cluster: Cluster, policy: Policy, drained: frozenset[str],
                      allowed_hosts: Mapping[str, frozenset[str]], anti_affinity: tuple[AntiAffinityGroup, ...],
                      affinity: tuple[tuple[str, ...], ...], min_spread: tuple[MinSpreadGroup, ...]) -> list[str]:
    """Cooldown VMs that stay put: all but those on a drained host or breaking a hard rule now
    (outside their host group, crowding an anti-affinity domain, apart from their affinity group,
    in a min_spread group spread too thin: any of those may be the one that has to move).
    VMs the cluster no longer has are ignored: the history outlives them."""
    vms = cluster.vm_by_name
    must_move = {name for name, allowed in allowed_hosts.items() if vms[name].host not in allowed}
    for group in anti_affinity:
        seen: dict[str, int] = {}
        for name in group.members:
            domain = group.domain_of[vms[name].host]
            seen[domain] = seen.get(domain, 0) + 1
        must_move.update(n for n in group.members if seen[group.domain_of[vms[n].host]] > 1)
    for members in affinity:
        if len({vms[n].host for n in members}) > 1:
            must_move.update(members)
    for spread in min_spread:
        if broken_at_start(cluster, spread):
            must_move.update(spread.members)
    return [name for name in sorted(policy.cooldown)
            if name in vms and vms[name].host not in drained and name not in must_move]


def _anti_affinity_groups(cluster: Cluster, policy: Policy) -> list[AntiAffinityGroup]:
    groups, domains = [], LabelDomains(cluster)
    for index, rule in enumerate(policy.anti_affinity):
        members = select_vms(cluster, rule.vms, f"rules.anti_affinity[{index}].vms")
        domain_of = domains.of(rule.scope, f"rules.anti_affinity[{index}].scope")
        groups.append(AntiAffinityGroup(rule.name, tuple(v.name for v in members), rule.scope, domain_of))
    return groups


def _affinity_groups(cluster: Cluster, policy: Policy) -> tuple[tuple[str, ...], ...]:
    """Affinity rules that share a VM merge into one group (union-find over VM names)."""
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for index, rule in enumerate(policy.affinity):
        members = select_vms(cluster, rule.vms, f"rules.affinity[{index}].vms")
        for vm in members[1:]:
            parent[find(vm.name)] = find(members[0].name)
        for vm in members[:1]:
            find(vm.name)
    merged: dict[str, list[str]] = {}
    for vm in cluster.vms:
        if vm.name in parent:
            merged.setdefault(find(vm.name), []).append(vm.name)
    return tuple(tuple(group) for group in merged.values() if len(group) > 1)


def _allowed_hosts(cluster: Cluster, policy: Policy) -> dict[str, frozenset[str]]:
    allowed: dict[str, frozenset[str]] = {}
    for index, group in enumerate(policy.host_groups):
        hosts = frozenset(h.name for h in cluster.hosts if group.hosts.matches(h.name, h.labels))
        if not hosts:
            raise InputError(f"rules.host_groups[{index}].hosts", f"selects no host ({group.hosts.describe()})")
        for vm in select_vms(cluster, group.vms, f"rules.host_groups[{index}].vms"):
            # A VM in several groups must satisfy all of them. A VM in one group shares its set:
            # a copy per VM would be one per VM to hash too (build_problem looks units up by it).
            earlier = allowed.get(vm.name)
            allowed[vm.name] = hosts if earlier is None else earlier & hosts
            if not allowed[vm.name]:
                raise InputError(f"rules.host_groups[{index}]", f"VM {vm.name!r} is left with no allowed host")
    return allowed


def _check_pinned_against_rules(rules: RuleSet) -> None:
    vms = rules.cluster.vm_by_name
    for name in sorted(rules.pinned):
        vm = vms[name]
        if vm.host in rules.drained and vm.host not in rules.excluded:
            raise InputError("drain_hosts", f"host {vm.host!r} cannot be drained: VM {name!r} is {rules.pin_reason[name]}")
        allowed = rules.allowed_hosts.get(name)
        if allowed is not None and vm.host not in allowed:
            raise InputError("rules.host_groups", f"VM {name!r} is {rules.pin_reason[name]} but its host group excludes {vm.host!r}")
    for group in rules.affinity:
        pinned_hosts = {vms[n].host for n in group if n in rules.pinned}
        if len(pinned_hosts) > 1:
            raise InputError("rules.affinity", f"VMs {', '.join(group)} must share a host but are pinned on {', '.join(sorted(pinned_hosts))}")


def _check_anti_affinity_possible(rules: RuleSet) -> None:
    vms = rules.cluster.vm_by_name
    together = {name: group for group in rules.affinity for name in group}
    # Groups of one scope share one domain_of mapping (LabelDomains): the destinations' domains are
    # read once per scope, not once per group (at 4,000 groups and 10,000 hosts that was most of
    # resolving the rules, benchmarks.fixed_costs).
    destination_domains: dict[int, frozenset[str]] = {}
    for index, group in enumerate(rules.anti_affinity):
        field = f"rules.anti_affinity[{index}]"
        key = id(group.domain_of)
        if key not in destination_domains:
            destination_domains[key] = frozenset(group.domain_of[h] for h in rules.destinations)
        reachable = destination_domains[key]
        kept_in_place = {group.domain_of[vms[n].host] for n in group.members
                         if n in rules.pinned or vms[n].host in rules.excluded}
        usable = len(reachable) + len(kept_in_place - reachable)
        if len(group.members) > usable:
            raise InputError(field, f"rule {group.name!r} needs {len(group.members)} distinct {group.scope}s "
                                    f"but only {usable} can take VMs")
        pinned_domains: dict[str, str] = {}
        for name in group.members:
            if name in rules.pinned:
                domain = group.domain_of[vms[name].host]
                if domain in pinned_domains:
                    raise InputError(field, f"rule {group.name!r}: pinned VMs {pinned_domains[domain]!r} and {name!r} share {group.scope} {domain!r}")
                pinned_domains[domain] = name
        for a in group.members:
            partner = next((b for b in together.get(a, ()) if b != a and b in group.members), None)
            if partner:
                raise InputError(field, f"rule {group.name!r} keeps {a!r} and {partner!r} apart but an affinity rule puts them together")
