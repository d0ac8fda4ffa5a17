"""An in-memory cluster that migrates on a scaled clock, with injectable faults.

Migration time = memory / bandwidth in simulated seconds; `time_scale` real seconds pass per
simulated second (0: instantly), so tests and dry runs are fast while the runner still sees real
concurrency. The live state starts as a snapshot (normally the plan's own cluster).
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
from planner.model import Cluster

DEFAULT_BANDWIDTH_MIB_S = 1024  # about a 10 Gbit/s migration network
PROGRESS_REPORTS = 4  # progress callbacks per migration


class SimulatedBackend:
    def __init__(self, cluster: Cluster, bandwidth_mib_s: float = DEFAULT_BANDWIDTH_MIB_S,
                 time_scale: float = 0.0, faults: Iterable[Fault] = ()) -> None:
        if bandwidth_mib_s <= 0:
            raise ValueError("bandwidth_mib_s must be positive")
        self.bandwidth_mib_s = bandwidth_mib_s
        self.time_scale = time_scale
        self._hosts = {h.name: h for h in cluster.hosts}
        self._sizes = {vm.name: (vm.memory_mib, vm.vcpus) for vm in cluster.vms}
        self._where: dict[str, str] = cluster.placement
        self._faults = tuple(faults)
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
            self.attempted_migrations.append((request.vm, request.source, request.destination))
            refusal = self._refusal(request)
            aborted = self._aborts.setdefault(request.vm, threading.Event())
            aborted.clear()
        if refusal:
            return MigrationResult(MigrationOutcome.FAILED, 0.0, refusal)
        duration = float("inf") if self._has(FaultKind.HANG, vm=request.vm) else self.estimate_s(request.memory_mib)
        ran = self._run_clock(request, min(duration, request.timeout_s), aborted, progress)
        if aborted.is_set():
            return MigrationResult(MigrationOutcome.ABORTED, ran, "aborted on request")
        if duration > request.timeout_s:
            return MigrationResult(MigrationOutcome.TIMED_OUT, ran,
                                   f"did not complete within {request.timeout_s:.0f} s; aborted")
        if self._has(FaultKind.FAIL, vm=request.vm):
            return MigrationResult(MigrationOutcome.FAILED, ran, "simulated failure: migration job failed")
        return self._complete(request, ran)

    def abort(self, vm: str) -> None:
        with self._lock:
            event = self._aborts.get(vm)
        if event:
            event.set()

    def locate(self, vm: str) -> str | None:
        with self._lock:
            return self._visible().get(vm)

    def runs_on(self, host: str, vm: str) -> bool:
        return self.locate(vm) == host

    def host_status(self, host: str) -> HostStatus:
        with self._lock:
            if host not in self._hosts:
                return HostStatus(host, False, reason="unknown host")
            if self._down(host):
                return HostStatus(host, False, reason="host unreachable (simulated)")
            residents = [vm for vm, where in self._present().items() if where == host]
        return HostStatus(host, True, sum(self._sizes[v][0] for v in residents), sum(self._sizes[v][1] for v in residents))

    def inventory(self) -> LiveState:
        with self._lock:
            visible = self._visible()
            down = frozenset(h for h in self._hosts if self._down(h))
        vms = {vm: LiveVM(vm, host, *self._sizes[vm]) for vm, host in visible.items()}
        return LiveState(vms, down)

    # -- test and dry-run helpers --------------------------------------------------------------

    def placement(self) -> dict[str, str]:
        """Where every existing VM is (down hosts included): the ground truth tests compare with."""
        with self._lock:
            return dict(self._present())

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

    def _complete(self, request: MigrationRequest, ran: float) -> MigrationResult:
        with self._lock:
            refusal = self._refusal(request)  # the world may have changed while it ran
            if refusal:
                return MigrationResult(MigrationOutcome.FAILED, ran, refusal)
            self._where[request.vm] = request.destination
            self.completed_migrations.append((request.vm, request.source, request.destination))
            crash = self._crash_due()
        if crash:
            raise SimulatedCrash(f"simulated crash after {len(self.completed_migrations)} migrations")
        return MigrationResult(MigrationOutcome.COMPLETED, ran)

    def _refusal(self, request: MigrationRequest) -> str:
        for host in (request.source, request.destination):
            if host not in self._hosts or self._down(host):
                return f"cannot connect to {host}: host unreachable"
        if self._present().get(request.vm) != request.source:
            return f"domain {request.vm!r} not found on {request.source}"
        return ""

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

    def _present(self) -> dict[str, str]:
        return {vm: host for vm, host in self._where.items() if not self._has(FaultKind.VANISH, vm=vm)}

    def _visible(self) -> dict[str, str]:
        return {vm: host for vm, host in self._present().items() if not self._down(host)}
