"""Each host's hard limits in a problem: what it declares, never below what its fixed units already
hold (no move frees that), and for consolidation the headroom a kept host keeps."""

from __future__ import annotations

import math

import numpy as np

from planner.domain.metrics import usage_by_host
from planner.domain.model import Host
from planner.rules.resolve import RuleSet


def fixed_floored(memory: tuple[int, ...], vcpus: tuple[int, ...], hosts: tuple[Host, ...],
                  resources: tuple[str, ...], held: np.ndarray,
                  ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """The memory, vCPU and extra-resource limits (those declared), each never below what the
    fixed units hold (`held`, UnitArrays.held_by_fixed): a host already over a limit with VMs that
    cannot move keeps what it has (it gets nothing new)."""
    return (_at_least(memory, held[:, 0]), _at_least(vcpus, held[:, 1]),
            tuple(_at_least(declared(hosts, name), held[:, 3 + k]) for k, name in enumerate(resources)))


def _at_least(limits: tuple[int, ...], held: np.ndarray) -> tuple[int, ...]:
    return tuple(np.maximum(np.asarray(limits, dtype=np.int64), held).tolist())


def declared(hosts: tuple[Host, ...], resource: str) -> tuple[int, ...]:
    return tuple(h.resources[resource] for h in hosts)


def headroom_limits(rules: RuleSet, hard_memory: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Kept hosts stay within headroom, or no higher than they already are (never worse)."""
    settings = rules.policy.consolidate
    # What each host holds now: the cluster's usage, worked out once per cluster (the bounds and
    # the write-up read it too) instead of again over every VM.
    held_now = usage_by_host(rules.cluster)
    memory_limit, load_limit = [], []
    for i, host in enumerate(rules.cluster.hosts):
        headroom_memory = math.floor(host.usable_memory_mib * settings.max_memory_percent / 100)
        headroom_load = math.floor(host.cpu_capacity_millicores * settings.max_cpu_percent / 100)
        memory_limit.append(min(hard_memory[i], max(headroom_memory, held_now[host.name].memory_mib)))
        load_limit.append(max(headroom_load, held_now[host.name].cpu_load_millicores))
    return tuple(memory_limit), tuple(load_limit)
