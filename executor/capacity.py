"""The capacity ledger: hard resources per host, with in-flight migrations counted on both ends.

A migrating VM holds memory and vCPUs on its source and its destination until it completes: the
destination reserves on start, the source frees on completion. The ledger refuses a start that would
take a destination over its usable capacity. A host that starts over capacity therefore takes
nothing until moves out bring it under; it can only get better, never worse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from planner.domain.model import Cluster


@dataclass(frozen=True)
class Demand:
    """What a VM holds on a host: the two hard resources."""

    memory_mib: int
    vcpus: int


@dataclass(frozen=True)
class HostCapacity:
    memory_mib: int
    vcpus: int


def capacities(cluster: Cluster) -> dict[str, HostCapacity]:
    return {h.name: HostCapacity(h.usable_memory_mib, h.usable_vcpus) for h in cluster.hosts}


class CapacityLedger:
    """Mutable usage per host; the single place where 'does it fit' is decided at run time."""

    def __init__(self, limits: Mapping[str, HostCapacity], resident: Iterable[tuple[str, Demand]]) -> None:
        self._limits = dict(limits)
        self._memory = {name: 0 for name in self._limits}
        self._vcpus = {name: 0 for name in self._limits}
        for host, demand in resident:
            self._add(host, demand)

    @classmethod
    def from_placement(cls, cluster: Cluster, placement: Mapping[str, str | None]) -> "CapacityLedger":
        """Usage with the cluster's VMs where `placement` says (None: the VM is gone, it holds nothing)."""
        resident = []
        for vm in cluster.vms:
            host = placement.get(vm.name, vm.host)
            if host is not None:
                resident.append((host, Demand(vm.memory_mib, vm.vcpus)))
        return cls(capacities(cluster), resident)

    def fits(self, host: str, demand: Demand) -> bool:
        limit = self._limits[host]
        return (self._memory[host] + demand.memory_mib <= limit.memory_mib
                and self._vcpus[host] + demand.vcpus <= limit.vcpus)

    def used(self, host: str) -> Demand:
        return Demand(self._memory[host], self._vcpus[host])

    def limit(self, host: str) -> HostCapacity:
        return self._limits[host]

    def reserve(self, destination: str, demand: Demand) -> None:
        """A migration starts: the destination holds the VM from now on."""
        self._add(destination, demand)

    def complete(self, source: str, demand: Demand) -> None:
        """A migration completed: the source no longer holds the VM."""
        self._add(source, Demand(-demand.memory_mib, -demand.vcpus))

    def release(self, destination: str, demand: Demand) -> None:
        """A migration failed or was aborted: the destination's reservation goes away."""
        self._add(destination, Demand(-demand.memory_mib, -demand.vcpus))

    def _add(self, host: str, demand: Demand) -> None:
        if host not in self._limits:  # a VM found on a host the plan does not know: not ours to count
            return
        self._memory[host] += demand.memory_mib
        self._vcpus[host] += demand.vcpus
