"""Re-checks any placement against capacity and the policy's rules, without the solver.

Deliberately written from the model and the policy alone (selectors, host limits) rather than
from the solver's compiled problem, so a bug in the solver's view of a rule cannot hide itself.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from planner.domain.metrics import HostUsage, usage_by_host
from planner.domain.model import Cluster, HostState
from planner.domain.policy import HOST_SCOPE, Policy


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.subject}: {self.message}"


def validate_placement(cluster: Cluster, policy: Policy, placement: Mapping[str, str]) -> list[Violation]:
    """Every broken hard rule or limit of `placement` (VM → host), relative to where VMs run now."""
    found: list[Violation] = []
    for vm in cluster.vms:
        host = placement.get(vm.name)
        if host is None:
            found.append(Violation("placement", vm.name, "has no host"))
        elif host not in cluster.host_by_name:
            found.append(Violation("placement", vm.name, f"placed on unknown host {host!r}"))
    if found:
        return found
    for check in (_movement, _anti_affinity, _min_spread, _affinity, _host_groups, _limits):
        found.extend(check(cluster, policy, placement))
    # Usage per host once for both checks that read it: 0.4 s a time at 100,000 VMs.
    usage = _Usage(usage_by_host(cluster), usage_by_host(cluster, placement), _receivers(cluster, placement))
    found[:0] = _capacity(cluster, usage)
    found.extend(_headroom(cluster, policy, usage))
    return found


@dataclass(frozen=True)
class _Usage:
    """Usage per host where the VMs run now and as placed, and the hosts that receive a VM."""

    before: Mapping[str, HostUsage]
    after: Mapping[str, HostUsage]
    receivers: set[str]


def _moved(cluster: Cluster, placement: Mapping[str, str]) -> list[str]:
    return [vm.name for vm in cluster.vms if placement[vm.name] != vm.host]


def _receivers(cluster: Cluster, placement: Mapping[str, str]) -> set[str]:
    return {placement[name] for name in _moved(cluster, placement)}


def _capacity(cluster: Cluster, usages: _Usage) -> list[Violation]:
    """Hard limits hold on every host that receives a VM (a host already over keeps what it had)."""
    found = []
    for host in cluster.hosts:
        usage, was = usages.after[host.name], usages.before[host.name]
        grew = host.name in usages.receivers
        extra = [(name, usage.extra.get(name, 0), capacity, was.extra.get(name, 0))
                 for name, capacity in host.resources.items()]
        for what, used, limit, had in (
            ("memory", usage.memory_mib, host.usable_memory_mib, was.memory_mib),
            ("vCPUs", usage.vcpus, host.usable_vcpus, was.vcpus),
            *extra,
        ):
            if used > limit and (grew or used > had):
                found.append(Violation("capacity", host.name, f"{what} {used} > usable {limit}"))
    return found


def _pinned(cluster: Cluster, policy: Policy) -> dict[str, str]:
    pinned = {vm.name: "not migratable" for vm in cluster.vms if not vm.migratable}
    for pin in policy.pins:
        pinned.update({vm.name: f"pin {pin.name!r}" for vm in cluster.select(pin.vms.names, pin.vms.labels)})
    return pinned


def _movement(cluster: Cluster, policy: Policy, placement: Mapping[str, str]) -> list[Violation]:
    found = []
    pinned = _pinned(cluster, policy)
    drained = set(policy.drain_hosts) | {h.name for h in cluster.hosts if h.state is HostState.MAINTENANCE}
    closed = {h.name for h in cluster.hosts if h.state is not HostState.ACTIVE} | drained | set(policy.excluded_hosts)
    for name in _moved(cluster, placement):
        vm = cluster.vm_by_name[name]
        if name in pinned:
            found.append(Violation("pin", name, f"moved although {pinned[name]}"))
        if vm.host in policy.excluded_hosts:
            found.append(Violation("excluded", name, f"moved off excluded host {vm.host}"))
        if placement[name] in closed:
            found.append(Violation("destination", name, f"moved to {placement[name]}, which takes no VMs"))
    for vm in cluster.vms:
        if placement[vm.name] in drained and vm.name not in pinned:
            found.append(Violation("drain", vm.name, f"still on drained host {placement[vm.name]}"))
    return found


def _label_value(cluster: Cluster, host: str, label: str) -> str:
    """The host's value of `label` (`host` names the host itself); a host without the label is a
    value of its own, `host:<name>`. Restated here so the validator shares no code with the solver."""
    if label == HOST_SCOPE:
        return host
    return cluster.host_by_name[host].labels.get(label, f"host:{host}")


def _anti_affinity(cluster: Cluster, policy: Policy, placement: Mapping[str, str]) -> list[Violation]:
    found = []
    for rule in policy.anti_affinity:
        members = cluster.select(rule.vms.names, rule.vms.labels)
        crowded = Counter(_label_value(cluster, placement[vm.name], rule.scope) for vm in members)
        for where, count in crowded.items():
            if count > 1:
                found.append(Violation("anti-affinity", rule.name, f"{count} members share {rule.scope} {where}"))
    return found


def _min_spread(cluster: Cluster, policy: Policy, placement: Mapping[str, str]) -> list[Violation]:
    """Each rule's VMs end on at least `at_least` distinct values of its label (a host without the
    label is a value of its own, `host:<name>`)."""
    found = []
    for rule in policy.min_spread:
        members = cluster.select(rule.vms.names, rule.vms.labels)
        values = {_label_value(cluster, placement[vm.name], rule.label) for vm in members}
        if len(values) < rule.at_least:
            found.append(Violation("min-spread", rule.name, f"on {len(values)} distinct {rule.label}s "
                                                            f"({', '.join(sorted(values)) or 'none'}), needs {rule.at_least}"))
    return found


def _affinity(cluster: Cluster, policy: Policy, placement: Mapping[str, str]) -> list[Violation]:
    found = []
    for rule in policy.affinity:
        hosts = {placement[vm.name] for vm in cluster.select(rule.vms.names, rule.vms.labels)}
        if len(hosts) > 1:
            found.append(Violation("affinity", rule.name, f"members on {', '.join(sorted(hosts))}"))
    return found


def _host_groups(cluster: Cluster, policy: Policy, placement: Mapping[str, str]) -> list[Violation]:
    found = []
    for group in policy.host_groups:
        for vm in cluster.select(group.vms.names, group.vms.labels):
            host = cluster.host_by_name[placement[vm.name]]
            if not group.hosts.matches(host.name, host.labels):
                found.append(Violation("host group", group.name, f"{vm.name} on {host.name}"))
    return found


def _limits(cluster: Cluster, policy: Policy, placement: Mapping[str, str]) -> list[Violation]:
    found = []
    moved = _moved(cluster, placement)
    limits = policy.limits
    if limits.max_moves is not None and len(moved) > limits.max_moves:
        found.append(Violation("limits", "max_moves", f"{len(moved)} moves > {limits.max_moves}"))
    memory = sum(cluster.vm_by_name[n].memory_mib for n in moved)
    if limits.max_moved_memory_mib is not None and memory > limits.max_moved_memory_mib:
        found.append(Violation("limits", "max_moved_memory", f"{memory} MiB > {limits.max_moved_memory_mib}"))
    return found


def _headroom(cluster: Cluster, policy: Policy, usages: _Usage) -> list[Violation]:
    """Consolidation: a host that receives VMs ends within headroom, or no fuller than it was."""
    if not policy.goal.traits.keeps_headroom:
        return []
    found = []
    after, before = usages.after, usages.before
    settings = policy.consolidate
    for name in sorted(usages.receivers):
        host = cluster.host_by_name[name]
        cpu_cap = max(math.floor(host.cpu_capacity_millicores * settings.max_cpu_percent / 100),
                      before[name].cpu_load_millicores)
        memory_cap = max(math.floor(host.usable_memory_mib * settings.max_memory_percent / 100), before[name].memory_mib)
        if after[name].cpu_load_millicores > cpu_cap:
            found.append(Violation("headroom", name, f"CPU load {after[name].cpu_load_millicores} > {cpu_cap} milli-cores"))
        if after[name].memory_mib > memory_cap:
            found.append(Violation("headroom", name, f"memory {after[name].memory_mib} > {memory_cap} MiB"))
    return found
