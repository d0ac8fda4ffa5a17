"""The cluster as the planner sees it: hosts, VMs and where each VM runs.

Units (integers everywhere the solver looks): memory in MiB, CPU allocation in vCPUs, measured CPU
load in milli-cores (1000 = one core busy), utilisation in per-mille. Extra named resources (disk
IOPS, network Mbit/s, …) are integers in whatever unit the operator declares them: a host gives a
capacity for each, a VM a demand (0 when it names none).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

from planner.domain.checks import (
    MAX_HOST_CPUS,
    MAX_HOSTS,
    MAX_LOAD_MILLICORES,
    MAX_MEMORY_MIB,
    MAX_TOTAL_VM_MEMORY_MIB,
    MAX_VM_VCPUS,
    MAX_VMS,
    check_int,
    check_labels,
    check_name,
    check_positive_int,
    check_ratio,
    check_resources,
    check_resources_declared,
    check_text,
    quote,
)
from planner.domain.errors import InputError
from planner.domain.measurement import Measurement

EMPTY_LABELS: Mapping[str, str] = MappingProxyType({})
EMPTY_RESOURCES: Mapping[str, int] = MappingProxyType({})


class HostState(str, enum.Enum):
    """An active host takes VMs; maintenance must be emptied; disabled keeps its VMs but takes none."""

    ACTIVE = "active"
    MAINTENANCE = "maintenance"
    DISABLED = "disabled"


@dataclass(frozen=True)
class Host:
    name: str
    cpus: int
    memory_mib: int
    uri: str = ""  # where to connect to control this host's libvirtd
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    reserved_memory_mib: int = 512
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY_LABELS)
    state: HostState = HostState.ACTIVE
    # Where peers send migrations to this host (the dconnuri); "" = the executor's live_migration_uri
    # template with this host's name. It differs from `uri` when control goes over another path.
    migration_uri: str = ""
    resources: Mapping[str, int] = field(default_factory=lambda: EMPTY_RESOURCES)  # capacity per extra resource

    def __post_init__(self) -> None:
        check_name(self.name, "name")
        check_positive_int(self.cpus, "cpus", maximum=MAX_HOST_CPUS)
        object.__setattr__(self, "resources", check_resources(self.resources, "resources"))
        check_positive_int(self.memory_mib, "memory_mib", maximum=MAX_MEMORY_MIB)
        for name in ("uri", "migration_uri"):
            check_text(getattr(self, name), name)
        object.__setattr__(self, "cpu_allocation_ratio", check_ratio(self.cpu_allocation_ratio, "cpu_allocation_ratio"))
        object.__setattr__(self, "ram_allocation_ratio", check_ratio(self.ram_allocation_ratio, "ram_allocation_ratio"))
        check_int(self.reserved_memory_mib, "reserved_memory_mib")
        object.__setattr__(self, "labels", check_labels(self.labels, "labels"))
        try:
            object.__setattr__(self, "state", HostState(self.state))
        except ValueError:
            choices = ", ".join(s.value for s in HostState)
            raise InputError("state", f"must be one of {choices}, got {quote(self.state)}") from None
        if self.reserved_memory_mib >= self.memory_mib or self.usable_memory_mib <= 0:
            raise InputError(
                "reserved_memory_mib",
                f"reserves {self.reserved_memory_mib} MiB of {self.memory_mib} MiB: nothing left for VMs",
            )

    @property
    def usable_memory_mib(self) -> int:
        """memory × ram_allocation_ratio − reserved, as Nova's RAM filter computes it."""
        return math.floor(self.memory_mib * self.ram_allocation_ratio) - self.reserved_memory_mib

    @property
    def usable_vcpus(self) -> int:
        return math.floor(self.cpus * self.cpu_allocation_ratio)

    @property
    def cpu_capacity_millicores(self) -> int:
        """Measured load is bounded by the physical cores, not by the allocation ratio."""
        return self.cpus * 1000

    @property
    def takes_new_vms(self) -> bool:
        return self.state is HostState.ACTIVE


@dataclass(frozen=True)
class VM:
    name: str
    host: str
    vcpus: int
    memory_mib: int
    cpu_load_millicores: int = 0
    uuid: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY_LABELS)
    migratable: bool = True
    unmigratable_reason: str = ""
    resources: Mapping[str, int] = field(default_factory=lambda: EMPTY_RESOURCES)  # demand per extra resource

    def __post_init__(self) -> None:
        check_name(self.name, "name")
        check_name(self.host, "host")
        object.__setattr__(self, "resources", check_resources(self.resources, "resources"))
        check_positive_int(self.vcpus, "vcpus", maximum=MAX_VM_VCPUS)
        check_positive_int(self.memory_mib, "memory_mib", maximum=MAX_MEMORY_MIB)
        check_int(self.cpu_load_millicores, "cpu_load_millicores", maximum=MAX_LOAD_MILLICORES)
        check_text(self.uuid, "uuid", limit=64)
        object.__setattr__(self, "labels", check_labels(self.labels, "labels"))
        if not isinstance(self.migratable, bool):
            raise InputError("migratable", f"must be true or false, got {quote(self.migratable)}")
        check_text(self.unmigratable_reason, "unmigratable_reason")

    def on(self, host: str) -> "VM":
        """This VM as it would be after a move to `host`."""
        return VM(**{**self.__dict__, "host": host})


@dataclass(frozen=True)
class Cluster:
    """Hosts and VMs with the cross-references checked: unique names, every VM on a known host."""

    hosts: tuple[Host, ...]
    vms: tuple[VM, ...] = field(default=())
    measured: Measurement | None = None  # when and how a live cluster was measured; None for a scenario

    def __post_init__(self) -> None:
        object.__setattr__(self, "hosts", tuple(self.hosts))
        object.__setattr__(self, "vms", tuple(self.vms))
        if not self.hosts:
            raise InputError("hosts", "a cluster needs at least one host")
        _check_scale(self.hosts, self.vms)
        _check_unique(enumerate(h.name for h in self.hosts), "hosts")
        _check_unique(enumerate(v.name for v in self.vms), "vms")
        _check_unique(((i, v.uuid) for i, v in enumerate(self.vms) if v.uuid), "vms", attribute="uuid")
        known = {h.name for h in self.hosts}
        for index, vm in enumerate(self.vms):
            if vm.host not in known:
                raise InputError(f"vms[{index}].host", f"unknown host {quote(vm.host)}")
        check_resources_declared([(h.name, h.resources) for h in self.hosts], [v.resources for v in self.vms], "vms")

    @cached_property
    def resource_names(self) -> tuple[str, ...]:
        """The extra resources every host declares a capacity for, sorted."""
        return tuple(sorted(self.hosts[0].resources))

    @cached_property
    def host_by_name(self) -> Mapping[str, Host]:
        return MappingProxyType({h.name: h for h in self.hosts})

    @cached_property
    def vm_by_name(self) -> Mapping[str, VM]:
        return MappingProxyType({v.name: v for v in self.vms})

    @cached_property
    def vms_by_host(self) -> Mapping[str, tuple[VM, ...]]:
        grouped: dict[str, list[VM]] = {h.name: [] for h in self.hosts}
        for vm in self.vms:
            grouped[vm.host].append(vm)
        return MappingProxyType({name: tuple(vms) for name, vms in grouped.items()})

    @cached_property
    def _label_index(self) -> Mapping[tuple[str, str], frozenset[int]]:
        index: dict[tuple[str, str], set[int]] = {}
        for position, vm in enumerate(self.vms):
            for item in vm.labels.items():
                index.setdefault(item, set()).add(position)
        return {item: frozenset(positions) for item, positions in index.items()}

    @cached_property
    def _position(self) -> Mapping[str, int]:
        return {vm.name: position for position, vm in enumerate(self.vms)}

    def select(self, names: Iterable[str], labels: Mapping[str, str]) -> tuple[VM, ...]:
        """VMs named in `names`, or carrying all of `labels`, in cluster order (indexed: rules over
        20,000 VMs must not scan them all once per rule)."""
        chosen = {self._position[n] for n in names if n in self._position}
        if labels:
            matching = [self._label_index.get(item, frozenset()) for item in labels.items()]
            chosen |= frozenset.intersection(*matching)
        return tuple(self.vms[i] for i in sorted(chosen))

    @property
    def placement(self) -> dict[str, str]:
        """VM name → host name."""
        return {vm.name: vm.host for vm in self.vms}

    def with_placement(self, placement: Mapping[str, str]) -> "Cluster":
        """The same cluster with VMs moved as `placement` says (VMs it omits stay put)."""
        moved = tuple(vm.on(placement[vm.name]) if placement.get(vm.name, vm.host) != vm.host else vm for vm in self.vms)
        return Cluster(self.hosts, moved, self.measured)


def _check_scale(hosts: tuple[Host, ...], vms: tuple[VM, ...]) -> None:
    """Cluster-wide totals within the documented ranges (planner/domain/checks.py), so sums of sizes
    stay far from int64 in the solver."""
    if len(hosts) > MAX_HOSTS:
        raise InputError("hosts", f"at most {MAX_HOSTS:,} hosts, got {len(hosts):,}")
    if len(vms) > MAX_VMS:
        raise InputError("vms", f"at most {MAX_VMS:,} VMs, got {len(vms):,}")
    total = sum(vm.memory_mib for vm in vms)
    if total > MAX_TOTAL_VM_MEMORY_MIB:
        raise InputError("vms", f"the VMs' memory adds up to {total:,} MiB, more than {MAX_TOTAL_VM_MEMORY_MIB:,}")


def _check_unique(names: Iterable[tuple[int, str]], collection: str, attribute: str = "name") -> None:
    seen: dict[str, int] = {}
    for index, name in names:
        if name in seen:
            raise InputError(
                f"{collection}[{index}].{attribute}",
                f"duplicate {attribute} {quote(name)} (first at {collection}[{seen[name]}])",
            )
        seen[name] = index
