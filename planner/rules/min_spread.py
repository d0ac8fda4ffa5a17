"""min_spread rules applied to one cluster: which VMs each covers, the label value ("domain") of
every host, and whether the rule can hold at all before any solving.

A rule that cannot hold (fewer VMs than distinct values asked for, or fewer values among the hosts
its VMs may use) is an InputError naming the rule, the same way an impossible anti-affinity is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from planner.domain.errors import InputError
from planner.rules.host_labels import LabelDomains
from planner.domain.model import VM, Cluster
from planner.domain.policy import Policy, Selector


@dataclass(frozen=True)
class MinSpreadGroup:
    name: str
    members: tuple[str, ...]
    label: str
    at_least: int
    # host → its value of the label ("rack" → "r1"); a host without the label is its own value
    domain_of: Mapping[str, str]


def min_spread_groups(cluster: Cluster, policy: Policy,
                      select: Callable[[Cluster, Selector, str], tuple[VM, ...]]) -> tuple[MinSpreadGroup, ...]:
    groups, domains = [], LabelDomains(cluster)
    for index, rule in enumerate(policy.min_spread):
        members = select(cluster, rule.vms, f"rules.min_spread[{index}].vms")
        domain_of = domains.of(rule.label, f"rules.min_spread[{index}].label")
        groups.append(MinSpreadGroup(rule.name, tuple(v.name for v in members), rule.label, rule.at_least,
                                     domain_of))
    return tuple(groups)


def broken_at_start(cluster: Cluster, group: MinSpreadGroup) -> bool:
    """Does the current placement spread the group over fewer values than it must?"""
    vms = cluster.vm_by_name
    return len({group.domain_of[vms[n].host] for n in group.members}) < group.at_least


def check_min_spread_possible(groups: tuple[MinSpreadGroup, ...], cluster: Cluster,
                              affinity: tuple[tuple[str, ...], ...], pinned: frozenset[str],
                              excluded: frozenset[str], drained: frozenset[str], destinations: frozenset[str],
                              allowed_hosts: Mapping[str, frozenset[str]]) -> None:
    together = {name: group[0] for group in affinity for name in group}
    for index, group in enumerate(groups):
        field = f"rules.min_spread[{index}]"
        # VMs an affinity rule keeps on one host can only ever cover one value between them.
        places = {together.get(name, name) for name in group.members}
        if len(places) < group.at_least:
            kept = " (affinity rules keep some of them together)" if len(places) < len(group.members) else ""
            raise InputError(field, f"rule {group.name!r} needs {group.at_least} distinct {group.label}s "
                                    f"but selects only {len(places)} VMs that can be apart{kept}")
        usable = set()
        for name in group.members:
            hosts = _hosts_open_to(cluster.vm_by_name[name], pinned, excluded, drained, destinations, allowed_hosts)
            usable.update(group.domain_of[h] for h in hosts)
        if len(usable) < group.at_least:
            raise InputError(field, f"rule {group.name!r} needs {group.at_least} distinct {group.label}s "
                                    f"but the hosts its VMs may use are in only {len(usable)}")


def _hosts_open_to(vm: VM, pinned: frozenset[str], excluded: frozenset[str], drained: frozenset[str],
                   destinations: frozenset[str], allowed_hosts: Mapping[str, frozenset[str]]) -> set[str]:
    """Where `vm` may end: its host if it cannot move, else the destinations its host groups allow
    (and staying where it is, unless that host is drained)."""
    if vm.name in pinned or vm.host in excluded:
        return {vm.host}
    allowed = allowed_hosts.get(vm.name)
    hosts = set(destinations if allowed is None else destinations & allowed)
    if vm.host not in drained and (allowed is None or vm.host in allowed):
        hosts.add(vm.host)
    return hosts
