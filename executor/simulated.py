"""An in-memory cluster that migrates on a scaled clock, with injectable faults and foreign changes.

Migration time = memory / bandwidth in simulated seconds; `time_scale` real seconds pass per
simulated second (0: instantly), so tests and dry runs are fast while the runner still sees real
concurrency. The live state starts as a snapshot (normally the plan's own cluster) and lives in a
`World` (executor/sim_world.py), which also applies the foreign changes among the faults (boot,
stop, delete, foreign-move) and logs every event for an independent checker.

Like libvirt, `host_status` counts every domain that holds room on the host (shut-off ones and
the destination half of incoming migrations too), while `locate` and `runs_on` see only running
guests. With `arrivals_visible=False` it omits our own incoming migrations, as a destination does
before its incoming domain is set up: the runner must count its own arrivals.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from executor.faults import Fault, FaultKind, SimulatedCrash
from executor.hypervisor import (
    HostStatus,
    LiveState,
    LiveVM,
    MigrationOutcome,
    MigrationProgress,
    MigrationRequest,
    MigrationResult,
    ProgressCallback,
)
from executor.sim_world import World, WorldEvent
from planner.domain.model import Cluster

DEFAULT_BANDWIDTH_MIB_S = 1024  # about a 10 Gbit/s migration network
PROGRESS_REPORTS = 4  # progress callbacks per migration


class SimulatedBackend:
    def __init__(self, cluster: Cluster, bandwidth_mib_s: float = DEFAULT_BANDWIDTH_MIB_S,
                 time_scale: float = 0.0, faults: Iterable[Fault] = (), arrivals_visible: bool = True) -> None:
        if bandwidth_mib_s <= 0:
            raise ValueError("bandwidth_mib_s must be positive")
        self.bandwidth_mib_s = bandwidth_mib_s
        self.time_scale = time_scale
        self.arrivals_visible = arrivals_visible  # False: host_status omits our incoming migrations (not yet set up)
        self._hosts = {h.name: h for h in cluster.hosts}
        faults = tuple(faults)
        self._faults = tuple(f for f in faults if not f.is_foreign_change)
        self._world = World(cluster, [f for f in faults if f.is_foreign_change])
        self._crashed = False
        self._lock = threading.Lock()
        self._aborts: dict[str, threading.Event] = {}
        self.completed_migrations: list[tuple[str, str, str]] = []  # (vm, source, destination), in order
        self.attempted_migrations: list[tuple[str, str, str]] = []

    # -- the Hypervisor protocol ---------------------------------------------------------------

    def estimate_s(self, memory_mib: int) -> float:
        return memory_mib / self.bandwidth_mib_s

    def migrate(self, request: MigrationRequest, progress: ProgressCallback) -> MigrationResult:
        with self._lock:
            self._apply_vanishes()
            self.attempted_migrations.append((request.vm, request.source, request.destination))
            refusal = self._unreachable(request)
            if refusal:
                self._world.refuse(request.vm, request.source, request.destination, refusal)
            else:
                refusal = self._world.start_migration(request.vm, request.source, request.destination)
            aborted = self._aborts.setdefault(request.vm, threading.Event())
            aborted.clear()
        if refusal:
            return MigrationResult(MigrationOutcome.FAILED, 0.0, refusal)
        duration = float("inf") if self._has(FaultKind.HANG, vm=request.vm) else self.estimate_s(request.memory_mib)
        ran = self._run_clock(request, min(duration, request.timeout_s), aborted, progress)
        if aborted.is_set():
            return self._fail(request, MigrationOutcome.ABORTED, ran, "aborted on request")
        if duration > request.timeout_s:
            return self._fail(request, MigrationOutcome.TIMED_OUT, ran,
                              f"did not complete within {request.timeout_s:.0f} s; aborted")
        if self._has(FaultKind.FAIL, vm=request.vm):
            return self._fail(request, MigrationOutcome.FAILED, ran, "simulated failure: migration job failed")
        return self._complete(request, ran)

    def abort(self, vm: str) -> None:
        with self._lock:
            event = self._aborts.get(vm)
        if event:
            event.set()

    def locate(self, vm: str) -> str | None:
        with self._lock:
            self._apply_vanishes()
            host = self._world.defined().get(vm)
            return host if host is not None and self._world.running(vm) and not self._down(host) else None

    def runs_on(self, host: str, vm: str) -> bool:
        return self.locate(vm) == host

    def host_status(self, host: str) -> HostStatus:
        with self._lock:
            self._apply_vanishes()
            if host not in self._hosts:
                return HostStatus(host, False, reason="unknown host")
            if self._down(host):
                return HostStatus(host, False, reason="host unreachable (simulated)")
            self._world.read(host, len(self.completed_migrations), self._down_hosts())
            usage = self._world.usage(host, our_arrivals=self.arrivals_visible)
        return HostStatus(host, True, usage.memory_mib, usage.vcpus, domains=usage.domains)

    def inventory(self) -> LiveState:
        with self._lock:
            self._apply_vanishes()
            down = self._down_hosts()
            self._world.read(None, len(self.completed_migrations), down)
            vms = {vm: LiveVM(vm, host, *self._world.size(vm), active=self._world.running(vm))
                   for vm, host in self._world.defined().items() if host not in down}
        return LiveState(vms, down)

    # -- test and dry-run helpers --------------------------------------------------------------

    def placement(self) -> dict[str, str]:
        """Where every existing domain is defined (down hosts included): the ground truth tests compare with."""
        with self._lock:
            self._apply_vanishes()
            return self._world.defined()

    def claim(self, vm: str, destination: str) -> None:
        """The executor announced the migration of `vm` into `destination`: polite foreign changes
        leave room for it (see executor/sim_world.py)."""
        with self._lock:
            self._world.claim(vm, destination)

    def withdraw(self, vm: str) -> None:
        with self._lock:
            self._world.withdraw(vm)

    def quiesce(self) -> None:
        """The run is over: foreign migrations complete; changes that never landed are logged."""
        with self._lock:
            self._world.quiesce()

    def events(self) -> tuple[WorldEvent, ...]:
        with self._lock:
            return tuple(self._world.events)

    # -- internals -----------------------------------------------------------------------------

    def _run_clock(self, request: MigrationRequest, simulated_s: float, aborted: threading.Event,
                   progress: ProgressCallback) -> float:
        """Let `simulated_s` pass (scaled), reporting progress, until done or aborted."""
        total = request.memory_mib
        tick = simulated_s / PROGRESS_REPORTS if simulated_s != float("inf") else 1.0
        elapsed = 0.0
        while elapsed < simulated_s and not aborted.is_set():
            step = min(tick, simulated_s - elapsed)
            if self.time_scale > 0:
                aborted.wait(step * self.time_scale)
            elapsed += step
            remaining = max(0, int(total - elapsed * self.bandwidth_mib_s))
            progress(MigrationProgress(request.vm, elapsed, total, remaining))
        return elapsed

    def _fail(self, request: MigrationRequest, outcome: MigrationOutcome, ran: float, message: str) -> MigrationResult:
        with self._lock:
            self._world.end_migration(request.vm, succeed=False, reason=message)
        return MigrationResult(outcome, ran, message)

    def _complete(self, request: MigrationRequest, ran: float) -> MigrationResult:
        with self._lock:
            self._apply_vanishes()
            refusal = self._unreachable(request)  # the world may have changed while it ran
            refusal = self._world.end_migration(request.vm, succeed=not refusal, reason=refusal)
            if refusal:
                return MigrationResult(MigrationOutcome.FAILED, ran, refusal)
            self.completed_migrations.append((request.vm, request.source, request.destination))
            crash = self._crash_due()
        if crash:
            raise SimulatedCrash(f"simulated crash after {len(self.completed_migrations)} migrations")
        return MigrationResult(MigrationOutcome.COMPLETED, ran)

    def _unreachable(self, request: MigrationRequest) -> str:
        for host in (request.source, request.destination):
            if host not in self._hosts or self._down(host):
                return f"cannot connect to {host}: host unreachable"
        return ""

    def _apply_vanishes(self) -> None:
        for fault in self._faults:
            if fault.kind is FaultKind.VANISH and len(self.completed_migrations) >= fault.after:
                self._world.remove(fault.vm, f"vanish fault after {fault.after}")

    def _crash_due(self) -> bool:
        for fault in self._faults:
            if fault.kind is FaultKind.CRASH and not self._crashed and len(self.completed_migrations) >= fault.after:
                self._crashed = True  # a crash happens once: the resumed run must be able to finish
                return True
        return False

    def _has(self, kind: FaultKind, vm: str = "") -> bool:
        return any(f.kind is kind and f.vm == vm and len(self.completed_migrations) >= f.after for f in self._faults)

    def _down(self, host: str) -> bool:
        return any(f.kind is FaultKind.HOST_DOWN and f.host == host and len(self.completed_migrations) >= f.after
                   for f in self._faults)

    def _down_hosts(self) -> frozenset[str]:
        return frozenset(h for h in self._hosts if self._down(h))
