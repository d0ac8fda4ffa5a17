"""Each host's hard limits in a problem: what it declares, never below what its fixed units already
hold (no move frees that), and for consolidation the headroom a kept host keeps."""

from __future__ import annotations

import math
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING

from planner.domain.model import Host
from planner.rules.resolve import RuleSet

if TYPE_CHECKING:
    from planner.instance.problem import Unit


def fixed_floored(memory: tuple[int, ...], vcpus: tuple[int, ...], hosts: tuple[Host, ...],
                  resources: tuple[str, ...], units: tuple[Unit, ...],
                  ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """The memory, vCPU and extra-resource limits (those declared), each never below what the
    fixed `units` hold."""
    return (never_below_fixed(memory, units, attrgetter("memory_mib")),
            never_below_fixed(vcpus, units, attrgetter("vcpus")),
            extra_limits(resources, hosts, units))


def declared(hosts: tuple[Host, ...], resource: str) -> tuple[int, ...]:
    return tuple(h.resources[resource] for h in hosts)


def extra_limits(names: tuple[str, ...], hosts: tuple[Host, ...], units: tuple[Unit, ...]) -> tuple[tuple[int, ...], ...]:
    return tuple(never_below_fixed(declared(hosts, name), units, lambda unit, k=k: unit.extra[k])
                 for k, name in enumerate(names))


def headroom_limits(rules: RuleSet, units: tuple[Unit, ...], hard_memory: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Kept hosts stay within headroom, or no higher than they already are (never worse)."""
    settings = rules.policy.consolidate
    current_memory = [0] * len(hard_memory)
    current_load = [0] * len(hard_memory)
    for unit in units:
        for host, memory, vm in zip(unit.member_hosts, unit.member_memory, unit.vms):
            current_memory[host] += memory
            current_load[host] += rules.cluster.vm_by_name[vm].cpu_load_millicores
    memory_limit, load_limit = [], []
    for i, host in enumerate(rules.cluster.hosts):
        headroom_memory = math.floor(host.usable_memory_mib * settings.max_memory_percent / 100)
        headroom_load = math.floor(host.cpu_capacity_millicores * settings.max_cpu_percent / 100)
        memory_limit.append(min(hard_memory[i], max(headroom_memory, current_memory[i])))
        load_limit.append(max(headroom_load, current_load[i]))
    return tuple(memory_limit), tuple(load_limit)


def never_below_fixed(limits: tuple[int, ...], units: tuple[Unit, ...], size: Callable[[Unit], int]) -> tuple[int, ...]:
    """A host already over a limit with VMs that cannot move keeps what it has (it gets nothing new)."""
    fixed = [0] * len(limits)
    for unit in units:
        if unit.fixed and unit.current is not None:
            fixed[unit.current] += size(unit)
    return tuple(max(limit, used) for limit, used in zip(limits, fixed))
