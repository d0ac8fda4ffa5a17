"""N+1 room for one maintenance step, by sums alone: before the planner is asked, do the VMs that
must live on the remaining hosts fit their usable capacity at all, and does the group's largest VM
fit on one of them?

A quick, explainable refusal: it names the shortfall in MiB (or vCPUs) where the planner could only
say "infeasible". Each host's room is what planner/check/validate.py allows it: usable memory and
vCPUs (reserved memory and allocation ratios included), the consolidation headroom when the goal
keeps it, and never less than what the host already holds (a host already over keeps what it has
but takes nothing new).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from planner.domain.errors import InfeasibleError
from planner.domain.metrics import usage_by_host
from planner.domain.model import VM, Cluster, Host, HostState
from planner.domain.policy import Policy

SHOWN_HOSTS = 6


@dataclass(frozen=True)
class _Resource:
    what: str  # "memory"
    unit: str  # "MiB"
    needs: dict[str, int]  # per VM
    room: dict[str, int]  # per receiving host: the most it may hold
    used: dict[str, int]  # per receiving host: what it holds now

    def amount(self, value: int) -> str:
        return f"{value} {self.unit}"

    def short(self, value: int) -> str:
        return self.amount(value) + ("" if self.what == self.unit else f" of {self.what}")


def check_room(cluster: Cluster, policy: Policy, group: Sequence[str], skipped: Collection[str],
               parallel: int) -> None:
    """Raise InfeasibleError when `group` (the hosts out at once) cannot be emptied into the hosts
    that take VMs. `cluster` is the state the step starts from; `policy` the drain's own (its
    drain_hosts include the group); `skipped` names VMs that stay on the group's hosts."""
    receivers = [h for h in cluster.hosts if _receives(h, group, policy)]
    leaving = set(group) | set(policy.drain_hosts) | {h.name for h in cluster.hosts if h.state is HostState.MAINTENANCE}
    names = {h.name for h in receivers}
    placed = [vm for vm in cluster.vms if vm.name not in skipped and (vm.host in names or vm.host in leaving)]
    movers = [vm for vm in placed if vm.host in group]
    if not movers:
        return
    label = _label(group)
    advice = "try --parallel 1 or free memory first" if parallel > 1 else "free memory first"
    resources = _resources(cluster, policy, receivers)
    for resource in resources:
        need = sum(resource.needs[vm.name] for vm in placed)
        usable = sum(resource.room.values())
        if need > usable:
            raise InfeasibleError(
                f"maintenance of {label} cannot fit: {resource.short(need - usable)} short "
                f"(needs {resource.amount(need)}, {resource.amount(usable)} usable on {_hosts(sorted(names))}); "
                f"{advice}")
    _check_largest(movers, label, advice, resources)


def _receives(host: Host, group: Sequence[str], policy: Policy) -> bool:
    return host.state is HostState.ACTIVE and host.name not in group and host.name not in policy.excluded_hosts \
        and host.name not in policy.drain_hosts


def _resources(cluster: Cluster, policy: Policy, receivers: Sequence[Host]) -> list[_Resource]:
    before = usage_by_host(cluster)
    headroom = policy.goal.traits.keeps_headroom
    settings = policy.consolidate
    memory_room, vcpu_room, load_room = {}, {}, {}
    for host in receivers:
        had = before[host.name]
        memory = host.usable_memory_mib
        if headroom:
            memory = min(memory, max(math.floor(host.usable_memory_mib * settings.max_memory_percent / 100),
                                     had.memory_mib))
        memory_room[host.name] = max(memory, had.memory_mib)
        vcpu_room[host.name] = max(host.usable_vcpus, had.vcpus)
        load_room[host.name] = max(math.floor(host.cpu_capacity_millicores * settings.max_cpu_percent / 100),
                                   had.cpu_load_millicores)
    used = {name: before[name] for name in memory_room}
    resources = [
        _Resource("memory", "MiB", {vm.name: vm.memory_mib for vm in cluster.vms}, memory_room,
                  {n: u.memory_mib for n, u in used.items()}),
        _Resource("vCPUs", "vCPUs", {vm.name: vm.vcpus for vm in cluster.vms}, vcpu_room,
                  {n: u.vcpus for n, u in used.items()}),
    ]
    if headroom:
        resources.append(_Resource("CPU load", "milli-cores", {vm.name: vm.cpu_load_millicores for vm in cluster.vms},
                                   load_room, {n: u.cpu_load_millicores for n, u in used.items()}))
    return resources


def _check_largest(movers: Sequence[VM], label: str, advice: str, resources: Sequence[_Resource]) -> None:
    """The group's largest VM must fit whole on one remaining host, as it is now."""
    largest = min(movers, key=lambda vm: (-vm.memory_mib, -vm.vcpus, vm.name))
    hosts = sorted(resources[0].room)
    if any(all(r.used[h] + r.needs[largest.name] <= r.room[h] for r in resources) for h in hosts):
        return
    memory = resources[0]
    free = {h: memory.room[h] - memory.used[h] for h in hosts}
    roomiest = "no host takes VMs"
    if hosts:
        most = min(hosts, key=lambda h: (-free[h], h))
        roomiest = f"most free memory: {free[most]} MiB on {most}"
    raise InfeasibleError(
        f"maintenance of {label} cannot fit: its largest VM {largest.name} ({largest.memory_mib} MiB, "
        f"{largest.vcpus} vCPUs) fits on no remaining host ({roomiest}); {advice}")


def _label(group: Sequence[str]) -> str:
    return group[0] if len(group) == 1 else f"{', '.join(group)} (out together)"


def _hosts(names: Sequence[str]) -> str:
    if not names:
        return "no host"
    shown = ", ".join(names[:SHOWN_HOSTS])
    return shown + (f" and {len(names) - SHOWN_HOSTS} more" if len(names) > SHOWN_HOSTS else "")
