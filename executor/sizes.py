"""What a VM holds on a host while the executor orders and runs migrations, as one vector:
(memory MiB, vCPUs, then each of the cluster's extra named resources in Cluster.resource_names
order). Every dimension follows one rule: a migrating VM holds it on its source and its destination
until the migration completes, so a host never exceeds any declared capacity at any instant."""

from __future__ import annotations

from collections.abc import Sequence

from planner.domain.model import VM, Host

Size = tuple[int, ...]


def host_capacity(host: Host, resources: Sequence[str]) -> Size:
    return (host.usable_memory_mib, host.usable_vcpus, *(host.resources[name] for name in resources))


def vm_extra(vm: VM, resources: Sequence[str]) -> tuple[int, ...]:
    """The VM's demand of each extra resource (0 where it names none)."""
    return tuple(vm.resources.get(name, 0) for name in resources)


def zero(dimensions: int) -> list[int]:
    return [0] * dimensions


def fits(used: Sequence[int], size: Sequence[int], capacity: Sequence[int]) -> bool:
    return all(u + s <= c for u, s, c in zip(used, size, capacity))


def shift(used: list[int], size: Sequence[int], sign: int = 1) -> None:
    for d, amount in enumerate(size):
        used[d] += sign * amount
