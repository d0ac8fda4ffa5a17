"""What production KVM fleets are made of, for the generator: host types, VM flavors, and Nova's
allocation ratios and reservations. The scenario writer uses the same defaults, so a generated
host line names only what differs from them."""

from __future__ import annotations

from dataclasses import dataclass

URI_TEMPLATE = "qemu+tcp://%s/system"
CPU_ALLOCATION_RATIO = 4.0
RAM_ALLOCATION_RATIO = 1.0
RESERVED_MEMORY_MIB = 8192
HOSTS_PER_RACK = 20


@dataclass(frozen=True)
class HostType:
    cpus: int
    memory_mib: int
    share: float


@dataclass(frozen=True)
class Flavor:
    vcpus: int
    memory_mib: int
    weight: float  # popularity before tilting: small flavors are the common ones


HOST_TYPES = (
    HostType(32, 256 * 1024, 0.3),
    HostType(48, 384 * 1024, 0.4),
    HostType(64, 512 * 1024, 0.3),
)

FLAVORS = (
    Flavor(1, 2 * 1024, 10),
    Flavor(2, 4 * 1024, 14),
    Flavor(2, 8 * 1024, 10),
    Flavor(4, 8 * 1024, 12),
    Flavor(4, 16 * 1024, 12),
    Flavor(8, 16 * 1024, 8),
    Flavor(8, 32 * 1024, 8),
    Flavor(16, 32 * 1024, 4),
    Flavor(16, 64 * 1024, 4),
)
