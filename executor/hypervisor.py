"""The backend seen by the runner: migrate, abort, locate, and what a host looks like right now.

Two implementations: `libvirt_driver.LibvirtBackend` (real) and `simulated.SimulatedBackend`
(in memory, for --dry-run and tests). The runner knows nothing else about either.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class MigrationRequest:
    vm: str
    uuid: str
    source: str
    destination: str
    memory_mib: int
    timeout_s: float  # live_migration_completion_timeout scaled by the VM's memory


@dataclass(frozen=True)
class MigrationProgress:
    vm: str
    elapsed_s: float
    data_total_mib: int
    data_remaining_mib: int

    @property
    def fraction(self) -> float:
        if self.data_total_mib <= 0:
            return 0.0
        return min(1.0, max(0.0, 1 - self.data_remaining_mib / self.data_total_mib))


class MigrationOutcome(str, enum.Enum):
    COMPLETED = "completed"
    FAILED = "failed"  # the hypervisor refused or the migration broke; the VM should be on the source
    ABORTED = "aborted"  # cancelled (timeout, Ctrl-C with abort); the VM should be on the source
    TIMED_OUT = "timed-out"  # ran past the completion timeout and was aborted
    UNKNOWN = "unknown"  # libvirt did not return even after an abort: the VM may be on either host, or both


@dataclass(frozen=True)
class MigrationResult:
    outcome: MigrationOutcome
    duration_s: float
    message: str = ""
    time_elapsed_ms: int = 0  # the hypervisor's own figures for a completed migration (0: unknown)
    downtime_ms: int = 0

    @property
    def completed(self) -> bool:
        return self.outcome is MigrationOutcome.COMPLETED


@dataclass(frozen=True)
class HostStatus:
    """A host as it is now. Usage is None when the backend cannot tell (then only the ledger decides).

    Usage counts every domain that holds room on the host: running and paused guests, the
    destination half of any incoming migration (ours or anyone's), and defined-but-shut-off guests
    whose memory stays reserved. `domains` names them, so a caller can add its own in-flight
    migrations without counting one twice.
    """

    name: str
    reachable: bool
    memory_used_mib: int | None = None
    vcpus_used: int | None = None
    reason: str = ""
    domains: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LiveVM:
    name: str
    host: str
    memory_mib: int
    vcpus: int
    active: bool = True  # False: defined on `host` but shut off (it still counts there; it never "runs" there)


@dataclass(frozen=True)
class LiveState:
    """Every VM the backend sees on the reachable hosts, and the hosts it could not reach."""

    vms: Mapping[str, LiveVM] = field(default_factory=dict)
    unreachable: frozenset[str] = frozenset()
    # Shut-off definitions of a VM that also exists elsewhere (a migration's leftover source copy):
    # not where the VM is, yet they keep their host from being empty.
    shadowed: tuple[LiveVM, ...] = ()

    def defined_on(self, host: str) -> tuple[LiveVM, ...]:
        """Every domain defined on `host`, running or not."""
        return tuple(vm for vm in (*self.vms.values(), *self.shadowed) if vm.host == host)

    def location(self, vm: str) -> str | None:
        found = self.vms.get(vm)
        return found.host if found else None


ProgressCallback = Callable[[MigrationProgress], None]


@runtime_checkable
class Hypervisor(Protocol):
    def migrate(self, request: MigrationRequest, progress: ProgressCallback) -> MigrationResult:
        """Live-migrate and block until done, reporting progress; never raises for a failed migration."""
        ...

    def abort(self, vm: str) -> None:
        """Cancel the running migration of `vm` (its `migrate` call then returns ABORTED)."""
        ...

    def locate(self, vm: str) -> str | None:
        """The host running `vm`, or None if no reachable host does."""
        ...

    def runs_on(self, host: str, vm: str) -> bool:
        ...

    def host_status(self, host: str) -> HostStatus:
        ...

    def inventory(self) -> LiveState:
        ...

    def estimate_s(self, memory_mib: int) -> float:
        """Rough duration of a migration of this size, for ETAs."""
        ...
