"""The libvirt backend's migrate loop against a stand-in connection (no libvirt needed): progress
from jobStats, the completion timeout, abort requests, and the flags and URI it passes on."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from executor.config import ExecutorConfig, TimeoutAction
from executor.hypervisor import MigrationOutcome, MigrationProgress, MigrationRequest
from executor.libvirt_connections import HostUnresponsive, bounded
from executor.libvirt_driver import LibvirtBackend
from planner.domain.model import Host

MIB = 2**20


class StandInDomain:
    """Migrates when `finish` is set; fails with 'operation aborted' when abortJob is called."""

    def __init__(self, xml: str = "<domain type='kvm'><name>web</name></domain>") -> None:
        self.xml = xml
        self.finish = threading.Event()
        self.aborted = threading.Event()
        self.post_copy = threading.Event()
        self.calls: list[tuple[str, dict[str, Any], int]] = []

    def migrateToURI3(self, uri: str, params: dict[str, Any], flags: int) -> None:
        self.calls.append((uri, params, flags))
        while not self.finish.wait(0.005):
            if self.aborted.is_set():
                raise RuntimeError("operation aborted: job 'migration out' canceled by client")
            if self.post_copy.is_set():
                return

    def XMLDesc(self, flags: int) -> str:
        return self.xml

    def jobStats(self) -> dict[str, int]:
        return {"time_elapsed": 500, "data_total": 64 * MIB, "data_remaining": 48 * MIB}

    def abortJob(self) -> None:
        self.aborted.set()

    def migrateStartPostCopy(self, flags: int) -> None:
        self.post_copy.set()


class StandInConnection:
    def __init__(self, domain: StandInDomain) -> None:
        self.domain = domain

    def lookupByUUIDString(self, uuid: str) -> StandInDomain:
        return self.domain

    def close(self) -> None:
        pass


def backend(domain: StandInDomain, **settings: Any) -> tuple[LibvirtBackend, list[str]]:
    opened: list[str] = []

    def opener(uri: str) -> StandInConnection:
        opened.append(uri)
        return StandInConnection(domain)

    hosts = {"a": Host("a", 8, 8192), "b": Host("b", 8, 8192, uri="qemu+unix:///system?socket=/lab/b")}
    return LibvirtBackend(hosts, ExecutorConfig(progress_interval_s=0.01, **settings), opener=opener), opened


REQUEST = MigrationRequest("web", "uuid-web", "a", "b", 64, timeout_s=5.0)


def test_completed_migration_reports_progress_and_uses_the_destination_uri() -> None:
    domain = StandInDomain()
    driver, opened = backend(domain, live_migration_bandwidth=100)
    seen: list[MigrationProgress] = []

    def progress(update: MigrationProgress) -> None:
        seen.append(update)
        domain.finish.set()

    result = driver.migrate(REQUEST, progress)
    assert result.outcome is MigrationOutcome.COMPLETED
    assert seen[0].fraction == 0.25
    # The dconnuri is b's migration URI (live_migration_uri), not its control socket: the source opens it.
    assert domain.calls == [("qemu+tcp://b/system", {"bandwidth": 100}, 1 | 2 | 8 | 16)]
    assert "qemu+tcp://a/system" in opened  # the control and monitor connections go to the source


def test_a_domain_with_nova_metadata_is_never_migrated_whatever_asked_for_it() -> None:
    nova = ("<domain type='kvm'><name>instance-0000002a</name><metadata>"
            "<nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'><nova:name>web-1</nova:name>"
            "</nova:instance></metadata></domain>")
    domain = StandInDomain(nova)
    domain.finish.set()  # it would complete at once if it were started
    driver, _ = backend(domain)

    result = driver.migrate(REQUEST, lambda update: None)

    assert result.outcome is MigrationOutcome.FAILED
    assert result.message == ("refused: managed by OpenStack Nova: migrate through Nova "
                              "(openstack server migrate --live-migration)")
    assert domain.calls == []  # migrateToURI3 never called


def test_migration_past_the_completion_timeout_is_aborted() -> None:
    domain = StandInDomain()
    driver, _ = backend(domain)
    slow = MigrationRequest("web", "uuid-web", "a", "b", 64, timeout_s=0.05)
    result = driver.migrate(slow, lambda update: None)
    assert result.outcome is MigrationOutcome.TIMED_OUT
    assert domain.aborted.is_set()


def test_force_complete_switches_to_post_copy_when_permitted() -> None:
    domain = StandInDomain()
    driver, _ = backend(domain, live_migration_timeout_action=TimeoutAction.FORCE_COMPLETE,
                        live_migration_permit_post_copy=True)
    slow = MigrationRequest("web", "uuid-web", "a", "b", 64, timeout_s=0.05)
    result = driver.migrate(slow, lambda update: None)
    assert result.outcome is MigrationOutcome.COMPLETED
    assert domain.post_copy.is_set() and not domain.aborted.is_set()


def test_abort_request_cancels_the_running_job() -> None:
    domain = StandInDomain()
    driver, _ = backend(domain)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(driver.migrate(REQUEST, lambda update: None)))
    worker.start()
    while not domain.calls:
        threading.Event().wait(0.005)
    driver.abort("web")
    worker.join(5)
    assert result[0].outcome is MigrationOutcome.ABORTED


class DeafDomain(StandInDomain):
    """A migration whose libvirt call never returns, abort or not (a stopped destination QEMU)."""

    def migrateToURI3(self, uri: str, params: dict[str, Any], flags: int) -> None:
        self.calls.append((uri, params, flags))
        threading.Event().wait(60)


def test_a_migration_libvirt_never_returns_from_ends_unknown_after_the_timeout_and_the_abort_grace() -> None:
    domain = DeafDomain()
    driver, _ = backend(domain, abort_grace_s=1.0)
    request = MigrationRequest("web", "uuid-web", "a", "b", 64, timeout_s=0.3)

    result = driver.migrate(request, lambda update: None)

    assert result.outcome is MigrationOutcome.UNKNOWN
    assert domain.aborted.is_set()  # the timeout's abort was tried first
    assert 1.0 <= result.duration_s < 5.0  # timeout 0.3 s, then at most the 1 s grace (plus polling)
    assert "did not return" in result.message


def test_an_abort_request_that_libvirt_ignores_ends_unknown_after_the_grace_not_the_timeout() -> None:
    domain = DeafDomain()
    driver, _ = backend(domain, abort_grace_s=1.0)
    request = MigrationRequest("web", "uuid-web", "a", "b", 64, timeout_s=600.0)
    threading.Timer(0.2, lambda: driver.abort("web")).start()

    result = driver.migrate(request, lambda update: None)

    assert result.outcome is MigrationOutcome.UNKNOWN
    assert result.duration_s < 5.0


def test_a_bounded_call_that_hangs_raises_instead_of_hanging() -> None:
    with pytest.raises(HostUnresponsive, match="no answer within 0.2 s"):
        bounded(0.2, "list a", lambda: threading.Event().wait(30))
    assert bounded(1.0, "quick", lambda: 42) == 42
