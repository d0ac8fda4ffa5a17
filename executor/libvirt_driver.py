"""The real backend: peer-to-peer live migration over libvirt, with Nova's settings and defaults.

`libvirt` is imported lazily, here only, so everything else works where libvirt-python is not
installed. The decisions (flags, parameters, URIs, the timeout action, progress figures, which
errors are worth a retry) are pure functions at the top of this file, unit-tested without libvirt;
the class below only talks to libvirt.

Per migration: the blocking `migrateToURI3` runs on one connection to the source; a monitor
thread polls `jobStats` on a second connection (as the lab showed is needed), reports progress,
and enforces the completion timeout (abort, or switch to post-copy when permitted).

Two URIs per host, not to be confused: `Host.uri` is how *this tool* reaches the host's libvirtd
(control connections); the migration URI (`Host.migration_uri`, else `live_migration_uri` with the
host's name) is what the *source daemon* opens to reach the destination in peer-to-peer mode —
resolved on the source host, so it may name a host this machine cannot reach at all.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from executor.config import ExecutorConfig, TimeoutAction
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
from executor.libvirt_flags import MIGRATE_FLAGS, PARAM_BANDWIDTH
from planner.errors import RebalanceError
from planner.model import Host

MIB = 1024 * 1024
UNLIMITED_ESTIMATE_MIB_S = 1024  # ETA guess when live_migration_bandwidth is 0 (unlimited)

# virErrorNumber values for failures that are worth a one-second retry (connection trouble).
_TRANSIENT_ERRORS = {"VIR_ERR_NO_CONNECT": 5, "VIR_ERR_SYSTEM_ERROR": 38, "VIR_ERR_RPC": 39,
                     "VIR_ERR_OPERATION_TIMEOUT": 68}
_DOMAIN_PAUSED = 3
_JOB_STATS_COMPLETED = 1  # VIR_DOMAIN_JOB_STATS_COMPLETED
_PAUSED_MIGRATION = 2  # VIR_DOMAIN_PAUSED_MIGRATION: an incoming migration's domain on the destination


# -- pure helpers ------------------------------------------------------------------------------

def host_uri(host: Host, template: str) -> str:
    """The control URI: Host.uri when the inventory gives one, else live_migration_uri with the host name."""
    return host.uri or template.replace("%s", host.name)


def destination_uri(host: Host, template: str) -> str:
    """The migrateToURI3 dconnuri for a migration *to* `host`: its own migration URI, else
    live_migration_uri with its name — never its control URI (a unix socket, an ssh tunnel)."""
    return host.migration_uri or template.replace("%s", host.name)


def completed_timing(stats: Mapping[str, Any]) -> tuple[int, int]:
    """(time_elapsed, downtime) in ms from jobStats(COMPLETED): libvirt's own account of a migration."""
    return int(stats.get("time_elapsed", 0)), int(stats.get("downtime", 0))


def migration_flags(config: ExecutorConfig, constants: Mapping[str, int] = MIGRATE_FLAGS) -> int:
    """live_migration_flag, plus post-copy or auto-converge when permitted (post-copy wins, as in Nova)."""
    flags = 0
    for name in config.live_migration_flag:
        flags |= constants[name]
    if config.live_migration_permit_post_copy:
        flags |= constants["VIR_MIGRATE_POSTCOPY"]
    elif config.live_migration_permit_auto_converge:
        flags |= constants["VIR_MIGRATE_AUTO_CONVERGE"]
    return flags


def migration_params(config: ExecutorConfig) -> dict[str, Any]:
    """migrateToURI3 typed parameters. Bandwidth 0 means unlimited: the parameter is left out."""
    params: dict[str, Any] = {}
    if config.live_migration_bandwidth > 0:
        params[PARAM_BANDWIDTH] = config.live_migration_bandwidth
    return params


class TimeoutStep(str, enum.Enum):
    WAIT = "wait"
    ABORT = "abort"
    POST_COPY = "post-copy"


def timeout_step(elapsed_s: float, timeout_s: float, config: ExecutorConfig, switched_to_post_copy: bool) -> TimeoutStep:
    """What to do about a migration still running after `elapsed_s`."""
    if elapsed_s < timeout_s:
        return TimeoutStep.WAIT
    if config.live_migration_timeout_action is TimeoutAction.FORCE_COMPLETE and config.live_migration_permit_post_copy:
        # Once switched, post-copy always completes: give it the time it needs rather than abort it.
        return TimeoutStep.WAIT if switched_to_post_copy else TimeoutStep.POST_COPY
    return TimeoutStep.ABORT


def progress_from_stats(vm: str, stats: Mapping[str, Any]) -> MigrationProgress:
    """jobStats() → progress. Figures are bytes and milliseconds there."""
    total = int(stats.get("data_total", stats.get("memory_total", 0)))
    remaining = int(stats.get("data_remaining", stats.get("memory_remaining", total)))
    return MigrationProgress(vm, stats.get("time_elapsed", 0) / 1000, total // MIB, remaining // MIB)


def is_transient(error_code: int | None, codes: Mapping[str, int] = _TRANSIENT_ERRORS) -> bool:
    return error_code in set(codes.values())


def retrying(call: Callable[[], Any], retries: int, transient: Callable[[BaseException], bool],
             sleep: Callable[[float], None] = time.sleep) -> Any:
    """live_migration_retry_count one-second retries of transient failures; others raise at once."""
    attempt = 0
    while True:
        try:
            return call()
        except Exception as error:
            if attempt >= retries or not transient(error):
                raise
            attempt += 1
            sleep(1.0)


# -- the backend -------------------------------------------------------------------------------

class LibvirtUnavailable(RebalanceError):
    """libvirt-python is not installed: `pip install 'rebalance[libvirt]'`."""


def _import_libvirt() -> Any:
    try:
        import libvirt  # noqa: PLC0415 — lazy on purpose: optional dependency
    except ImportError:
        raise LibvirtUnavailable(
            "the libvirt backend needs libvirt-python: pip install 'rebalance[libvirt]' (or use --dry-run)") from None
    libvirt.registerErrorHandler(lambda *_: None, None)  # errors come back as exceptions; no stderr noise
    return libvirt


class LibvirtBackend:
    def __init__(self, hosts: Mapping[str, Host], config: ExecutorConfig,
                 opener: Callable[[str], Any] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self._hosts = dict(hosts)
        self._config = config
        self._opener = opener
        self._sleep = sleep
        self._lock = threading.Lock()
        self._connections: dict[str, Any] = {}
        self._abort_requested: dict[str, threading.Event] = {}
        self._libvirt: Any = None

    # -- Hypervisor protocol -------------------------------------------------------------------

    def estimate_s(self, memory_mib: int) -> float:
        return memory_mib / (self._config.live_migration_bandwidth or UNLIMITED_ESTIMATE_MIB_S)

    def migrate(self, request: MigrationRequest, progress: ProgressCallback) -> MigrationResult:
        began = time.monotonic()
        abort = threading.Event()
        with self._lock:
            self._abort_requested[request.vm] = abort
        try:
            control = self._open(request.source)  # its own connection: migrateToURI3 blocks it
        except Exception as error:
            return MigrationResult(MigrationOutcome.FAILED, time.monotonic() - began, f"cannot connect: {error}")
        try:
            domain = self._lookup(control, request)
        except Exception as error:
            _close(control)
            return MigrationResult(MigrationOutcome.FAILED, time.monotonic() - began, f"cannot find the VM: {error}")
        monitor = _Monitor(self, request, progress, abort)
        monitor.start()
        try:
            retrying(lambda: domain.migrateToURI3(self.destination(request.destination),
                                                  migration_params(self._config),
                                                  migration_flags(self._config, self._flag_values())),
                     self._config.live_migration_retry_count, self._transient, self._sleep)
            outcome, message = MigrationOutcome.COMPLETED, ""
        except Exception as error:
            outcome, message = self._failure(monitor, abort, error)
        finally:
            monitor.stop()
            with self._lock:
                self._abort_requested.pop(request.vm, None)
            _close(control)
        elapsed_ms, downtime_ms = self._timing(request) if outcome is MigrationOutcome.COMPLETED else (0, 0)
        return MigrationResult(outcome, time.monotonic() - began, message, elapsed_ms, downtime_ms)

    def abort(self, vm: str) -> None:
        with self._lock:
            requested = self._abort_requested.get(vm)
        if requested:
            requested.set()  # the monitor thread calls abortJob on its own connection

    def locate(self, vm: str) -> str | None:
        for name in self._hosts:
            if self.runs_on(name, vm):
                return name
        return None

    def runs_on(self, host: str, vm: str) -> bool:
        try:
            domain = self._shared(host).lookupByName(vm)
            return bool(domain.isActive()) and not _incoming(domain)
        except Exception:
            return False

    def host_status(self, host: str) -> HostStatus:
        try:
            domains = self._running_domains(host)
        except Exception as error:
            return HostStatus(host, False, reason=str(error))
        return HostStatus(host, True, sum(d.memory_mib for d in domains), sum(d.vcpus for d in domains))

    def inventory(self) -> LiveState:
        found: dict[str, LiveVM] = {}
        unreachable = set()
        for name in self._hosts:
            try:
                for domain in self._running_domains(name):
                    found[domain.name] = domain
            except Exception:
                unreachable.add(name)
        return LiveState(found, frozenset(unreachable))

    # -- helpers -------------------------------------------------------------------------------

    def uri(self, host: str) -> str:
        return host_uri(self._hosts[host], self._config.live_migration_uri)

    def destination(self, host: str) -> str:
        return destination_uri(self._hosts[host], self._config.live_migration_uri)

    def _timing(self, request: MigrationRequest) -> tuple[int, int]:
        """The completed job as the destination recorded it; (0, 0) when it cannot say."""
        def ask() -> Mapping[str, Any]:
            return self._lookup(self._shared(request.destination), request).jobStats(_JOB_STATS_COMPLETED)
        return completed_timing(_quietly(ask) or {})

    def _module(self) -> Any:
        if self._libvirt is None and self._opener is None:
            self._libvirt = _import_libvirt()
        return self._libvirt

    def _flag_values(self) -> Mapping[str, int]:
        module = self._module()
        return {name: getattr(module, name, value) for name, value in MIGRATE_FLAGS.items()}

    def _transient(self, error: BaseException) -> bool:
        code = error.get_error_code() if hasattr(error, "get_error_code") else None
        module = self._module()
        return is_transient(code, {k: getattr(module, k, v) for k, v in _TRANSIENT_ERRORS.items()})

    def _open(self, host: str) -> Any:
        opener = self._opener or self._module().open
        uri = self.uri(host)
        return retrying(lambda: opener(uri), self._config.live_migration_retry_count, self._transient, self._sleep)

    def _shared(self, host: str) -> Any:
        """One cached connection per host for quick queries (never for the blocking migrate call)."""
        with self._lock:
            connection = self._connections.get(host)
        if connection is None or not _alive(connection):
            connection = (self._opener or self._module().open)(self.uri(host))
            with self._lock:
                self._connections[host] = connection
        return connection

    def _lookup(self, connection: Any, request: MigrationRequest) -> Any:
        if request.uuid:
            return connection.lookupByUUIDString(request.uuid)
        return connection.lookupByName(request.vm)

    def _running_domains(self, host: str) -> list[LiveVM]:
        found = []
        for domain in self._shared(host).listAllDomains(1):  # VIR_CONNECT_LIST_DOMAINS_ACTIVE
            if _incoming(domain):
                continue  # an incoming migration: its memory is the ledger's reservation, not a resident
            info = domain.info()  # [state, maxMem KiB, memory KiB, vCPUs, cpuTime]
            found.append(LiveVM(domain.name(), host, info[1] // 1024, info[3]))
        return found

    def _failure(self, monitor: "_Monitor", abort: threading.Event, error: Exception) -> tuple[MigrationOutcome, str]:
        if monitor.timed_out:
            return MigrationOutcome.TIMED_OUT, f"did not complete within {monitor.timeout_s:.0f} s; aborted ({error})"
        if abort.is_set():
            return MigrationOutcome.ABORTED, f"aborted on request ({error})"
        return MigrationOutcome.FAILED, str(error)


class _Monitor:
    """Polls jobStats on a second connection: progress, the completion timeout, abort requests."""

    def __init__(self, backend: LibvirtBackend, request: MigrationRequest, progress: ProgressCallback,
                 abort: threading.Event) -> None:
        self.backend = backend
        self.request = request
        self.progress = progress
        self.abort = abort
        self.timeout_s = request.timeout_s
        self.timed_out = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"watch-{request.vm}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        try:
            connection = self.backend._open(self.request.source)
            domain = self.backend._lookup(connection, self.request)
        except Exception:
            return  # no monitoring possible; the migration itself still reports its outcome
        began = time.monotonic()
        switched = False
        interval = self.backend._config.progress_interval_s
        try:
            while not self._done.wait(interval):
                if self.abort.is_set():
                    _quietly(domain.abortJob)
                    continue
                stats = _quietly(domain.jobStats) or {}
                if stats:
                    self.progress(progress_from_stats(self.request.vm, stats))
                step = timeout_step(time.monotonic() - began, self.timeout_s, self.backend._config, switched)
                if step is TimeoutStep.POST_COPY:
                    switched = _quietly(lambda: domain.migrateStartPostCopy(0) or True) is True
                    if not switched:
                        self.timed_out = True
                        _quietly(domain.abortJob)
                elif step is TimeoutStep.ABORT:
                    self.timed_out = True
                    _quietly(domain.abortJob)
        finally:
            _close(connection)


def _incoming(domain: Any) -> bool:
    try:
        state, reason = domain.state()
    except Exception:
        return False
    return state == _DOMAIN_PAUSED and reason == _PAUSED_MIGRATION


def _alive(connection: Any) -> bool:
    try:
        return bool(connection.isAlive())
    except Exception:
        return False


def _close(connection: Any) -> None:
    _quietly(connection.close)


def _quietly(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception:
        return None
