"""The capacity ledger: hard resources per host, with in-flight migrations counted on both ends.

A migrating VM holds memory, vCPUs and any extra named resource on its source and its destination
until it completes: the destination reserves on start, the source frees on completion. The ledger
refuses a start that would take a destination over any usable capacity. A host that starts over
capacity therefore takes nothing until moves out bring it under; it can only get better, never worse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from executor.sizes import Size, fits, host_capacity, shift, vm_extra, zero
from planner.domain.model import Cluster


@dataclass(frozen=True)
class Demand:
    """What a VM holds on a host: the two hard resources, and the extra named ones (in
    Cluster.resource_names order)."""

    memory_mib: int
    vcpus: int
    extra: tuple[int, ...] = ()

    @property
    def size(self) -> Size:
        return (self.memory_mib, self.vcpus, *self.extra)


def capacities(cluster: Cluster) -> dict[str, Size]:
    return {h.name: host_capacity(h, cluster.resource_names) for h in cluster.hosts}


class CapacityLedger:
    """Mutable usage per host; the single place where 'does it fit' is decided at run time."""

    def __init__(self, limits: Mapping[str, Size], resident: Iterable[tuple[str, Demand]]) -> None:
        self._limits = {host: tuple(limit) for host, limit in limits.items()}
        self._used = {host: zero(len(limit)) for host, limit in self._limits.items()}
        for host, demand in resident:
            self._add(host, demand.size)

    @classmethod
    def from_placement(cls, cluster: Cluster, placement: Mapping[str, str | None]) -> "CapacityLedger":
        """Usage with the cluster's VMs where `placement` says (None: the VM is gone, it holds nothing)."""
        resident = []
        for vm in cluster.vms:
            host = placement.get(vm.name, vm.host)
            if host is not None:
                resident.append((host, Demand(vm.memory_mib, vm.vcpus, vm_extra(vm, cluster.resource_names))))
        return cls(capacities(cluster), resident)

    def fits(self, host: str, demand: Demand) -> bool:
        return fits(self._used[host], demand.size, self._limits[host])

    def used(self, host: str) -> Demand:
        memory, vcpus, *extra = self._used[host]
        return Demand(memory, vcpus, tuple(extra))

    def limit(self, host: str) -> Size:
        return self._limits[host]

    def reserve(self, destination: str, demand: Demand) -> None:
        """A migration starts: the destination holds the VM from now on."""
        self._add(destination, demand.size)

    def complete(self, source: str, demand: Demand) -> None:
        """A migration completed: the source no longer holds the VM."""
        self._add(source, demand.size, -1)

    def release(self, destination: str, demand: Demand) -> None:
        """A migration failed or was aborted: the destination's reservation goes away."""
        self._add(destination, demand.size, -1)

    def _add(self, host: str, size: Size, sign: int = 1) -> None:
        if host not in self._limits:  # a VM found on a host the plan does not know: not ours to count
            return
        shift(self._used[host], size, sign)
