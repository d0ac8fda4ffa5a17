"""The real backend: peer-to-peer live migration over libvirt, with Nova's settings and defaults.

`libvirt` is imported lazily, here only, so everything else works where libvirt-python is not
installed. The pieces, each testable without libvirt:
- executor/libvirt_decisions.py: flags, parameters, URIs, the timeout action, progress figures,
  which errors are worth a retry (pure functions);
- executor/libvirt_connections.py: reaching each host's daemon, every call bounded;
- executor/libvirt_migration.py: one migration, watched by a monitor on a second connection;
- executor/libvirt_live.py: what the hosts hold right now.
This class ties them into the Hypervisor protocol.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from executor.config import ExecutorConfig
from executor.hypervisor import HostStatus, LiveState, MigrationRequest, MigrationResult, ProgressCallback
from executor.libvirt_connections import Connections, HostUnresponsive
from executor.libvirt_decisions import UNLIMITED_ESTIMATE_MIB_S
from executor.libvirt_live import LiveReader
from executor.libvirt_migration import run_migration
from planner.domain.errors import RebalanceError
from planner.domain.model import Host


class LibvirtUnavailable(RebalanceError):
    """libvirt-python is not installed: `pip install 'rebalance[libvirt]'`."""


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


class LibvirtBackend:
    def __init__(self, hosts: Mapping[str, Host], config: ExecutorConfig,
                 opener: Callable[[str], Any] | None = None, sleep: Callable[[float], None] = time.sleep,
                 reserve_inactive: Mapping[str, bool] | None = None) -> None:
        self._config = config
        self._links = Connections(hosts, config, _import_libvirt, opener, sleep)
        self._live = LiveReader(self._links, reserve_inactive or {})
        self._lock = threading.Lock()
        self._abort_requested: dict[str, threading.Event] = {}

    def estimate_s(self, memory_mib: int) -> float:
        return memory_mib / (self._config.live_migration_bandwidth or UNLIMITED_ESTIMATE_MIB_S)

    def migrate(self, request: MigrationRequest, progress: ProgressCallback) -> MigrationResult:
        """Blocks until the migration ends, or until libvirt has outlived every deadline (UNKNOWN)."""
        began = time.monotonic()
        abort = threading.Event()
        with self._lock:
            self._abort_requested[request.vm] = abort
        try:
            return run_migration(self._links, request, progress, abort, began)
        finally:
            with self._lock:
                self._abort_requested.pop(request.vm, None)

    def abort(self, vm: str) -> None:
        with self._lock:
            requested = self._abort_requested.get(vm)
        if requested:
            requested.set()  # the monitor thread calls abortJob on its own connection

    def locate(self, vm: str) -> str | None:
        return self._live.locate(vm)

    def runs_on(self, host: str, vm: str) -> bool:
        try:
            return self._live.runs_on_or_raise(host, vm)
        except HostUnresponsive:
            return False

    def host_status(self, host: str) -> HostStatus:
        return self._live.host_status(host)

    def inventory(self) -> LiveState:
        return self._live.inventory()
