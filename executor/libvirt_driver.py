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
from cluster.bounded_call import NoAnswer, within
from planner.domain.errors import RebalanceError
from planner.domain.model import Host

MIB = 1024 * 1024
UNLIMITED_ESTIMATE_MIB_S = 1024  # ETA guess when live_migration_bandwidth is 0 (unlimited)

# virErrorNumber values for failures that are worth a one-second retry (connection trouble).
_TRANSIENT_ERRORS = {"VIR_ERR_NO_CONNECT": 5, "VIR_ERR_SYSTEM_ERROR": 38, "VIR_ERR_RPC": 39,
                     "VIR_ERR_OPERATION_TIMEOUT": 68}
_DOMAIN_PAUSED = 3
_JOB_STATS_COMPLETED = 1  # VIR_DOMAIN_JOB_STATS_COMPLETED
# An incoming migration's domain on the destination is paused "starting up", then "for migration".
_PAUSED_INCOMING = (2, 11)  # VIR_DOMAIN_PAUSED_MIGRATION, VIR_DOMAIN_PAUSED_STARTING_UP


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


class HostUnresponsive(RebalanceError):
    """A libvirt call did not return within its deadline (a hung daemon or a stopped QEMU)."""


_EVENT_LOOP_LOCK = threading.Lock()
_EVENT_LOOP: list[threading.Thread] = []


def _import_libvirt() -> Any:
    try:
        import libvirt  # noqa: PLC0415 — lazy on purpose: optional dependency
    except ImportError:
        raise LibvirtUnavailable(
            "the libvirt backend needs libvirt-python: pip install 'rebalance[libvirt]' (or use --dry-run)") from None
    libvirt.registerErrorHandler(lambda *_: None, None)  # errors come back as exceptions; no stderr noise
    _start_event_loop(libvirt)
    return libvirt


def _start_event_loop(libvirt: Any) -> None:
    """Keepalive needs a client event loop: libvirt's default one, run by a daemon thread (as Nova does)."""
    with _EVENT_LOOP_LOCK:
        if _EVENT_LOOP:
            return
        libvirt.virEventRegisterDefaultImpl()

        def loop() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        thread = threading.Thread(target=loop, name="libvirt-events", daemon=True)
        thread.start()
        _EVENT_LOOP.append(thread)


def bounded(timeout_s: float, what: str, call: Callable[[], Any]) -> Any:
    """`call()` given up after `timeout_s`: a libvirt call that never returns (a hung daemon, a
    stopped QEMU behind it) must not hang the caller."""
    try:
        return within(timeout_s, call, f"libvirt-{what}")
    except NoAnswer as error:
        raise HostUnresponsive(f"{what}: {error}") from None


class LibvirtBackend:
    def __init__(self, hosts: Mapping[str, Host], config: ExecutorConfig,
                 opener: Callable[[str], Any] | None = None, sleep: Callable[[float], None] = time.sleep,
                 reserve_inactive: Mapping[str, bool] | None = None) -> None:
        self._hosts = dict(hosts)
        self._config = config
        self._opener = opener
        self._sleep = sleep
        self._reserve_inactive = dict(reserve_inactive or {})  # host → shut-off guests keep their memory there
        self._lock = threading.Lock()
        self._connections: dict[str, Any] = {}
        self._abort_requested: dict[str, threading.Event] = {}
        self._libvirt: Any = None

    # -- Hypervisor protocol -------------------------------------------------------------------

    def estimate_s(self, memory_mib: int) -> float:
        return memory_mib / (self._config.live_migration_bandwidth or UNLIMITED_ESTIMATE_MIB_S)

    def migrate(self, request: MigrationRequest, progress: ProgressCallback) -> MigrationResult:
        """Runs the blocking migrateToURI3 in a daemon thread and waits for it at most the completion
        timeout plus the abort grace (from the abort, if one was asked for earlier): past that,
        libvirt is not answering and the outcome is UNKNOWN."""
        began = time.monotonic()
        abort = threading.Event()
        with self._lock:
            self._abort_requested[request.vm] = abort
        try:
            return self._migrate(request, progress, abort, began)
        finally:
            with self._lock:
                self._abort_requested.pop(request.vm, None)

    def _migrate(self, request: MigrationRequest, progress: ProgressCallback, abort: threading.Event,
                 began: float) -> MigrationResult:
        try:
            control = bounded(self._config.call_timeout_s, f"connect {request.source}",
                              lambda: self._open(request.source))  # its own connection: migrateToURI3 blocks it
            domain = bounded(self._config.call_timeout_s, f"find {request.vm}", lambda: self._lookup(control, request))
        except Exception as error:
            return MigrationResult(MigrationOutcome.FAILED, time.monotonic() - began, f"cannot start: {error}")
        monitor = _Monitor(self, request, progress, abort)
        monitor.start()
        finished = threading.Event()
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                retrying(lambda: domain.migrateToURI3(self.destination(request.destination),
                                                      migration_params(self._config),
                                                      migration_flags(self._config, self._flag_values())),
                         self._config.live_migration_retry_count, self._transient, self._sleep)
            except Exception as error:  # noqa: BLE001 — judged below
                outcome["error"] = error
            finally:
                finished.set()

        threading.Thread(target=run, name=f"migrateToURI3-{request.vm}", daemon=True).start()
        answered = self._wait(finished, abort, monitor, request.timeout_s, began)
        monitor.stop()
        if not answered:
            # Leave `control` open: closing it under a blocked call is not safe; the process exit ends it.
            return MigrationResult(MigrationOutcome.UNKNOWN, time.monotonic() - began,
                                   f"libvirt did not return within {time.monotonic() - began:.0f} s, not even after "
                                   f"an abort (a hung QEMU or daemon on {request.source} or {request.destination}?)")
        _close(control)
        if "error" in outcome:
            kind, message = self._failure(monitor, abort, outcome["error"])
            return MigrationResult(kind, time.monotonic() - began, message)
        elapsed_ms, downtime_ms = self._timing(request)
        return MigrationResult(MigrationOutcome.COMPLETED, time.monotonic() - began, "", elapsed_ms, downtime_ms)

    def _wait(self, finished: threading.Event, abort: threading.Event, monitor: "_Monitor", timeout_s: float,
              began: float) -> bool:
        """True once migrateToURI3 returned; False when it outlived every deadline."""
        grace = self._config.abort_grace_s
        aborted_at: float | None = None
        while not finished.wait(0.05):
            now = time.monotonic()
            if aborted_at is None and (abort.is_set() or monitor.timed_out):
                aborted_at = now
            limit = began + timeout_s + grace
            if aborted_at is not None:
                limit = min(limit, aborted_at + grace)
            if now > limit:
                return False
        return True

    def abort(self, vm: str) -> None:
        with self._lock:
            requested = self._abort_requested.get(vm)
        if requested:
            requested.set()  # the monitor thread calls abortJob on its own connection

    def locate(self, vm: str) -> str | None:
        """The host running `vm`; raises HostUnresponsive when it is on no host that answered and some
        host did not answer (then nobody can say it is gone)."""
        silent = []
        for name in self._hosts:
            try:
                if self._runs_on(name, vm):
                    return name
            except HostUnresponsive as error:
                silent.append(str(error))
        if silent:
            raise HostUnresponsive("; ".join(silent))
        return None

    def runs_on(self, host: str, vm: str) -> bool:
        try:
            return self._runs_on(host, vm)
        except HostUnresponsive:
            return False

    def _runs_on(self, host: str, vm: str) -> bool:
        def ask() -> bool:
            try:
                domain = self._shared(host).lookupByName(vm)
                return bool(domain.isActive()) and not _incoming(domain)
            except Exception as error:
                if isinstance(error, HostUnresponsive):
                    raise
                return False
        return bool(bounded(self._config.call_timeout_s, f"ask {host} about {vm}", ask))

    def host_status(self, host: str) -> HostStatus:
        try:
            held = bounded(self._config.call_timeout_s, f"list {host}", lambda: self._held(host))
        except Exception as error:
            return HostStatus(host, False, reason=str(error))
        return HostStatus(host, True, sum(d.memory_mib for d in held), sum(d.vcpus for d in held),
                          domains=frozenset(d.name for d in held))

    def inventory(self) -> LiveState:
        found: dict[str, LiveVM] = {}
        shadowed: list[LiveVM] = []
        unreachable = set()
        for name, listed in self._list_every_host().items():
            if isinstance(listed, BaseException):
                unreachable.add(name)
                continue
            for domain in listed:
                earlier = found.get(domain.name)
                if earlier is None or (domain.active and not earlier.active):  # a running copy is where it is
                    found[domain.name] = domain
                    domain = earlier
                if domain is not None:
                    shadowed.append(domain)
        return LiveState(found, frozenset(unreachable), tuple(shadowed))

    # -- helpers -------------------------------------------------------------------------------

    def _list_every_host(self) -> dict[str, list[LiveVM] | BaseException]:
        """Every host's residents, read at once: a silent host costs one call timeout, not one each."""
        results: dict[str, list[LiveVM] | BaseException] = {}

        def read(host: str) -> None:
            try:
                results[host] = bounded(self._config.call_timeout_s, f"list {host}", lambda: self._residents(host))
            except Exception as error:  # noqa: BLE001 — the host is unreachable for this picture
                results[host] = error

        threads = [threading.Thread(target=read, args=(name,), daemon=True) for name in self._hosts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()  # each returns within its own bound
        return {name: results[name] for name in self._hosts}

    def uri(self, host: str) -> str:
        return host_uri(self._hosts[host], self._config.live_migration_uri)

    def destination(self, host: str) -> str:
        return destination_uri(self._hosts[host], self._config.live_migration_uri)

    def _timing(self, request: MigrationRequest) -> tuple[int, int]:
        """The completed job as the destination recorded it; (0, 0) when it cannot say."""
        def ask() -> Mapping[str, Any]:
            return self._lookup(self._shared(request.destination), request).jobStats(_JOB_STATS_COMPLETED)
        return completed_timing(_quietly(lambda: bounded(self._config.call_timeout_s, "job stats", ask)) or {})

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

    def _connect(self, uri: str) -> Any:
        connection = (self._opener or self._module().open)(uri)
        # A daemon that stops answering is declared dead after interval × count seconds.
        _quietly(lambda: connection.setKeepAlive(self._config.keepalive_interval_s, self._config.keepalive_count))
        return connection

    def _open(self, host: str) -> Any:
        uri = self.uri(host)
        return retrying(lambda: self._connect(uri), self._config.live_migration_retry_count, self._transient,
                        self._sleep)

    def _shared(self, host: str) -> Any:
        """One cached connection per host for quick queries (never for the blocking migrate call)."""
        with self._lock:
            connection = self._connections.get(host)
        if connection is None or not _alive(connection):
            connection = self._connect(self.uri(host))
            with self._lock:
                self._connections[host] = connection
        return connection

    def _lookup(self, connection: Any, request: MigrationRequest) -> Any:
        if request.uuid:
            return connection.lookupByUUIDString(request.uuid)
        return connection.lookupByName(request.vm)

    def _domains(self, host: str) -> list[tuple[LiveVM, bool]]:
        """Every domain defined on the host as (figures, is the destination half of a migration)."""
        found = []
        for domain in self._shared(host).listAllDomains(0):  # active and inactive
            info = domain.info()  # [state, maxMem KiB, memory KiB, vCPUs, cpuTime]
            active = bool(domain.isActive())
            found.append((LiveVM(domain.name(), host, info[1] // 1024, info[3], active),
                          active and _incoming(domain)))
        return found

    def _residents(self, host: str) -> list[LiveVM]:
        """Guests that live here: running or shut off, but not another host's guest arriving."""
        return [vm for vm, incoming in self._domains(host) if not incoming]

    def _held(self, host: str) -> list[LiveVM]:
        """Domains that hold room here: running, arriving, and shut off while their memory stays reserved."""
        reserve = self._reserve_inactive.get(host, True)
        return [vm for vm, _ in self._domains(host) if vm.active or reserve]

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
        self._thread.join(timeout=1)  # a monitor stuck in a hung libvirt call is abandoned (a daemon thread)

    def _watch(self) -> None:
        try:
            connection = self.backend._open(self.request.source)
            domain = self.backend._lookup(connection, self.request)
        except Exception:
            # No progress can be watched, but the timeout must still hold: the waiter in
            # LibvirtBackend._wait gives up at the completion timeout plus the abort grace.
            return
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
    return state == _DOMAIN_PAUSED and reason in _PAUSED_INCOMING


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
