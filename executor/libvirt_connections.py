"""How the libvirt driver reaches each host's libvirtd, and the bound on every call it makes.

A libvirt call that never returns (a hung daemon, a stopped QEMU behind it) must not hang the
caller, so every call goes through `bounded`. The libvirt module itself is loaded by the caller's
`load_module` (executor/libvirt_driver.py, the one executor module allowed to import libvirt).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from cluster.bounded_call import NoAnswer, within
from executor.config import ExecutorConfig
from executor.hypervisor import MigrationRequest
from executor.libvirt_decisions import TRANSIENT_ERRORS, destination_uri, host_uri, is_transient, retrying
from executor.libvirt_flags import MIGRATE_FLAGS
from planner.domain.errors import RebalanceError
from planner.domain.model import Host


class HostUnresponsive(RebalanceError):
    """A libvirt call did not return within its deadline (a hung daemon or a stopped QEMU)."""


def bounded(timeout_s: float, what: str, call: Callable[[], Any]) -> Any:
    """`call()` given up after `timeout_s`: a libvirt call that never returns (a hung daemon, a
    stopped QEMU behind it) must not hang the caller."""
    try:
        return within(timeout_s, call, f"libvirt-{what}")
    except NoAnswer as error:
        raise HostUnresponsive(f"{what}: {error}") from None


def quietly(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception:
        return None


def close(connection: Any) -> None:
    quietly(connection.close)


def _alive(connection: Any) -> bool:
    try:
        return bool(connection.isAlive())
    except Exception:
        return False


class Connections:
    """Connections to the hosts' daemons: a fresh one per migration (migrateToURI3 blocks it) and
    one cached per host for quick queries. `opener` stands in for libvirt.open in tests."""

    def __init__(self, hosts: Mapping[str, Host], config: ExecutorConfig, load_module: Callable[[], Any],
                 opener: Callable[[str], Any] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.hosts = dict(hosts)
        self.config = config
        self.sleep = sleep
        self._opener = opener
        self._load_module = load_module
        self._lock = threading.Lock()
        self._cached: dict[str, Any] = {}
        self._libvirt: Any = None

    def uri(self, host: str) -> str:
        return host_uri(self.hosts[host], self.config.live_migration_uri)

    def destination(self, host: str) -> str:
        return destination_uri(self.hosts[host], self.config.live_migration_uri)

    def flag_values(self) -> Mapping[str, int]:
        """The installed module's flag values where it has them, libvirt's stable ABI values otherwise."""
        module = self._module()
        return {name: getattr(module, name, value) for name, value in MIGRATE_FLAGS.items()}

    def transient(self, error: BaseException) -> bool:
        code = error.get_error_code() if hasattr(error, "get_error_code") else None
        module = self._module()
        return is_transient(code, {k: getattr(module, k, v) for k, v in TRANSIENT_ERRORS.items()})

    def open(self, host: str) -> Any:
        """A connection of its own (the caller closes it), retried on transient failures."""
        uri = self.uri(host)
        return retrying(lambda: self._connect(uri), self.config.live_migration_retry_count, self.transient, self.sleep)

    def shared(self, host: str) -> Any:
        """One cached connection per host for quick queries (never for the blocking migrate call)."""
        with self._lock:
            connection = self._cached.get(host)
        if connection is None or not _alive(connection):
            connection = self._connect(self.uri(host))
            with self._lock:
                self._cached[host] = connection
        return connection

    def lookup(self, connection: Any, request: MigrationRequest) -> Any:
        if request.uuid:
            return connection.lookupByUUIDString(request.uuid)
        return connection.lookupByName(request.vm)

    def _module(self) -> Any:
        if self._libvirt is None and self._opener is None:
            self._libvirt = self._load_module()
        return self._libvirt

    def _connect(self, uri: str) -> Any:
        connection = (self._opener or self._module().open)(uri)
        # A daemon that stops answering is declared dead after interval × count seconds.
        quietly(lambda: connection.setKeepAlive(self.config.keepalive_interval_s, self.config.keepalive_count))
        return connection
