"""libvirt → Cluster: measure every host of an inventory, concurrently, each within a timeout.

Per host: CPU count, memory total (`getMemoryStats`: `getInfo` reports one NUMA node on some
machines), how busy the host's CPUs were over a sampling interval (`getCPUStats`), and per domain
defined there — running, paused, arriving by migration or shut off (cluster/domain_presence.py) —
its uuid, name, vCPUs, memory, CPU load in milli-cores from the cpu time it used over the same
interval (`getAllDomainStats`), and whether it can be live-migrated at all (from its XML), and
from its metadata its labels and whether Nova manages it (cluster/domain_metadata.py; a Nova
domain is never migratable here).
A domain seen on two hosts (a migration in flight) goes into the snapshot once and holds room on
both (cluster/sightings.py).

`libvirt` is imported here (lazily) and in executor/libvirt_driver.py only. The arithmetic and the
XML reading are pure functions at the top, unit-tested without libvirt.
"""

from __future__ import annotations

import math
import os
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from cluster.domain_presence import (  # noqa: F401 — DomainSample and is_incoming are the collector's vocabulary too
    DOMAIN_PAUSED,
    DOMAIN_SHUTOFF,
    DomainSample,
    Presence,
    is_incoming,
    is_migrating_out,
    presence_of,
)
from cluster.bounded_call import within
from cluster.domain_metadata import NOVA_REASON, read_metadata
from cluster.vm_labels import VMLabelRule, plain
from cluster.vm_resources import VMResourceRule, demands_of
from cluster.guest_memory import used_memory_mib
from planner.domain.errors import InputError, RebalanceError
from cluster.inventory import Inventory, InventoryHost
from planner.domain.measurement import Measurement
from planner.domain.model import VM, Cluster, Host
from cluster.sightings import PLACEHOLDER_LABEL, DomainConflict, Placed, Sighting, place

KIB_PER_MIB = 1024
NS_PER_MILLICORE_SECOND = 1_000_000  # 1 ms of CPU time per second = one milli-core

# libvirt's stable ABI values, so the pure helpers work without the module.
STATS_STATE, STATS_CPU_TOTAL, STATS_BALLOON, STATS_VCPU = 1, 2, 4, 8
LIST_ALL = 0  # no VIR_CONNECT_GET_ALL_DOMAINS_STATS_* filter: active and inactive domains
NO_DOMAIN = 42  # VIR_ERR_NO_DOMAIN: the domain left between two calls (a migration finished)
NODE_ALL = -1  # VIR_NODE_CPU_STATS_ALL_CPUS / VIR_NODE_MEMORY_STATS_ALL_CELLS


class CollectError(RebalanceError):
    """A host could not be measured (and --skip-unreachable was not given)."""


# -- pure helpers ------------------------------------------------------------------------------

def millicores(cpu_time_before_ns: int, cpu_time_after_ns: int, elapsed_s: float) -> int:
    """CPU load from two cpu.time readings: ns of CPU per second of wall time / 10⁶, rounded up
    (the planner must not under-count load). A counter that went backwards (a restarted guest) is 0."""
    if elapsed_s <= 0 or cpu_time_after_ns <= cpu_time_before_ns:
        return 0
    return math.ceil((cpu_time_after_ns - cpu_time_before_ns) / elapsed_s / NS_PER_MILLICORE_SECOND)


def busy_fraction(before: Mapping[str, int], after: Mapping[str, int]) -> float:
    """Share of host CPU time spent busy between two `getCPUStats(ALL_CPUS)` readings (0..1)."""
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in ("user", "kernel", "idle", "iowait")}
    busy = delta["user"] + delta["kernel"]
    total = busy + delta["idle"] + delta["iowait"]
    return min(1.0, max(0.0, busy / total)) if total > 0 else 0.0


def migratability(domain_xml: str, shared_path: str) -> tuple[bool, str]:
    """(migratable, reason): a disk on local storage or a host device pins a guest to its host.

    Disks under `shared_path` (Nova's instances_path on shared storage) and network disks (rbd,
    iscsi, nbd) are visible to every host; an empty CD-ROM has nothing to move.
    """
    root = ET.fromstring(domain_xml)
    reasons = [*_local_disks(root, shared_path), *_host_devices(root)]
    return (not reasons, "; ".join(reasons))


def _local_disks(root: ET.Element, shared_path: str) -> list[str]:
    found = []
    for disk in root.findall("./devices/disk"):
        kind, source = disk.get("type", "file"), disk.find("source")
        if source is None or kind == "network":
            continue
        if kind == "file":
            path = source.get("file", "")
            if path and not _under(path, shared_path):
                found.append(f"local disk {path} (not under the shared {shared_path})")
        elif kind == "block":
            found.append(f"local block device {source.get('dev', '?')}")
        elif kind == "volume":
            found.append(f"local storage volume {source.get('pool', '?')}/{source.get('volume', '?')}")
        elif kind == "dir":
            found.append(f"local directory disk {source.get('dir', '?')}")
    return found


def _host_devices(root: ET.Element) -> list[str]:
    found = []
    for device in root.findall("./devices/hostdev"):
        address = device.find("./source/address")
        where = " ".join(f"{k}={v}" for k, v in sorted(address.attrib.items())) if address is not None else ""
        found.append(f"host device {device.get('type', '?')} {where}".rstrip())
    for interface in root.findall("./devices/interface[@type='hostdev']"):
        found.append("host device (SR-IOV interface)")
    return found


def _under(path: str, directory: str) -> bool:
    """True when `path` lies inside `directory` (not merely a string prefix of it)."""
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    return os.path.commonpath([path, directory]) == directory


# -- samples -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HostSample:
    name: str
    cpus: int  # as libvirt reports them (the inventory may override them for planning)
    memory_mib: int
    cpu_busy_fraction: float
    domains: tuple[DomainSample, ...]
    memory_used_mib: Mapping[str, int] = field(default_factory=dict)  # by UUID, where the balloon reports it


@dataclass(frozen=True)
class Unreachable:
    name: str
    uri: str
    reason: str


@dataclass(frozen=True)
class Collection:
    cluster: Cluster
    samples: tuple[HostSample, ...]
    skipped: tuple[Unreachable, ...] = ()
    notes: tuple[str, ...] = ()  # migrations in flight, shut-off domains left out of the snapshot

    @property
    def measurement(self) -> Measurement:  # collect() stamps every cluster it returns
        return self.cluster.measured or Measurement(datetime.now(timezone.utc), 0.0)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(f"host {u.name} ({u.uri}) unreachable, left out of the snapshot: {u.reason}"
                     for u in self.skipped) + self.notes

    @property
    def shut_off(self) -> tuple[tuple[str, str], ...]:
        """(host, domain) for every defined-but-shut-off domain, whether the snapshot holds it or not."""
        return tuple((sample.name, domain.name) for sample in self.samples for domain in sample.domains
                     if domain.presence is Presence.SHUT_OFF)


# -- libvirt -----------------------------------------------------------------------------------

def libvirt_module() -> Any:
    try:
        import libvirt  # noqa: PLC0415 — optional dependency, imported only when a cluster is measured
    except ImportError:
        raise RebalanceError("measuring a cluster needs libvirt-python: pip install 'rebalance[libvirt]'") from None
    libvirt.registerErrorHandler(lambda *_: None, None)  # errors arrive as exceptions; no stderr noise
    return libvirt


def connect(uri: str, timeout_s: float = 10.0) -> Any:
    """An open libvirt connection to `uri` (for the collector and for `rebalance doctor`)."""
    module = libvirt_module()
    return within(timeout_s, lambda: module.open(uri), uri)


def close(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 — closing a dead connection is not news
        pass


def sample_host(host: InventoryHost, interval_s: float) -> HostSample:
    """Measure one host: two readings `interval_s` apart over one connection."""
    connection = libvirt_module().open(host.uri)
    try:
        cpus = int(connection.getInfo()[2])
        memory_mib = int(connection.getMemoryStats(NODE_ALL)["total"]) // KIB_PER_MIB
        node_before, domains_before, began = _reading(connection)
        time.sleep(interval_s)
        node_after, domains_after, ended = _reading(connection)
        cpu_before = {domain.UUIDString(): int(stats["cpu.time"]) for domain, stats in domains_before
                      if "cpu.time" in stats}
        found = (_sample_if_present(domain, stats, cpu_before, ended - began, host.instances_path)
                 for domain, stats in domains_after)
        samples = tuple(sample for sample in found if sample is not None)
        used = {domain.UUIDString(): mib for domain, stats in domains_after
                if (mib := used_memory_mib(stats)) is not None}
        return HostSample(host.name, cpus, memory_mib, busy_fraction(node_before, node_after), samples, used)
    finally:
        close(connection)


def _reading(connection: Any) -> tuple[Mapping[str, int], list[tuple[Any, Mapping[str, Any]]], float]:
    """Host CPU counters and every defined domain's stats, as close together in time as we can.

    Only running domains are measured in bulk: libvirt (9.0, seen in the lab) holds any statistic
    of an incoming migration's half but its state until the migration ends, however long that
    takes — and that half is paused, first "starting up", then "for migration". A paused or
    shut-off domain burns no CPU anyway; those are sized from `domain.info()`, which answers.
    """
    node = connection.getCPUStats(NODE_ALL)
    states = connection.getAllDomainStats(STATS_STATE, LIST_ALL)
    running = [domain for domain, stats in states if _measurable(stats)]
    measured = connection.domainListGetStats(running, STATS_CPU_TOTAL | STATS_BALLOON | STATS_VCPU, 0) if running else []
    taken = time.monotonic()
    by_uuid = {domain.UUIDString(): stats for domain, stats in measured}  # a domain gone meanwhile is left out
    return node, [(domain, {**stats, **by_uuid.get(domain.UUIDString(), {})}) for domain, stats in states], taken


def _measurable(stats: Mapping[str, Any]) -> bool:
    return stats.get("state.state") not in (DOMAIN_PAUSED, DOMAIN_SHUTOFF)


def _sample_if_present(domain: Any, stats: Mapping[str, Any], before: Mapping[str, int], elapsed_s: float,
                       shared_path: str) -> DomainSample | None:
    """None when the domain left the host since it was listed (a migration finished: its other half
    is on the destination)."""
    try:
        return _domain_sample(domain, stats, before, elapsed_s, shared_path)
    except Exception as error:
        code = error.get_error_code() if hasattr(error, "get_error_code") else None
        if code == NO_DOMAIN:
            return None
        raise


def _domain_sample(domain: Any, stats: Mapping[str, Any], before: Mapping[str, int], elapsed_s: float,
                   shared_path: str) -> DomainSample:
    uuid = domain.UUIDString()
    info = None if "balloon.maximum" in stats and "vcpu.current" in stats else domain.info()
    memory_kib = int(stats["balloon.maximum"]) if info is None else int(info[1])
    vcpus = int(stats["vcpu.current"]) if info is None else int(info[3])
    state, reason = int(stats.get("state.state", 0)), int(stats.get("state.reason", 0))
    migrating_out = _migrating_out(domain, state)
    presence = presence_of(state, reason, migrating_out)
    # A domain that started (or arrived) during the interval has no earlier reading: no load to
    # report yet. Neither has a paused or shut-off one (not measured, see _reading).
    measured = uuid in before and "cpu.time" in stats
    load = millicores(before[uuid], int(stats["cpu.time"]), elapsed_s) if measured else 0
    xml = domain.XMLDesc(0)
    migratable, why_not = migratability(xml, shared_path)
    metadata = read_metadata(xml)
    if metadata.nova is not None:  # whatever else holds it, Nova alone may move it
        migratable, why_not = False, NOVA_REASON
    return DomainSample(uuid, domain.name(), vcpus, math.ceil(memory_kib / KIB_PER_MIB), load, migratable, why_not,
                        presence, migrating_out, metadata.labels, metadata.nova, "; ".join(metadata.problems))


def _migrating_out(domain: Any, state: int) -> bool:
    """Only the job tells a migration's source from any other running domain. A domain without a
    job, or whose job cannot be read (the destination's half refuses), is not migrating out."""
    if state == DOMAIN_SHUTOFF:
        return False  # jobStats would only say "domain is not running"
    try:
        return is_migrating_out(domain.jobStats(0))
    except Exception as error:
        if type(error).__name__ == "libvirtError":
            return False
        raise


# -- the collection ----------------------------------------------------------------------------

def collect(inventory: Inventory, interval_s: float = 1.0, timeout_s: float = 30.0,
            skip_unreachable: bool = False,
            sampler: Callable[[InventoryHost, float], HostSample] = sample_host) -> Collection:
    """Every host at once, each within `timeout_s` (plus the interval). An unreachable host is an
    error, or with `skip_unreachable` a warning and the host is left out of the snapshot."""
    results = _sample_all(inventory, interval_s, timeout_s, sampler)
    samples, skipped = [], []
    for host in inventory.hosts:
        outcome = results[host.name]
        if isinstance(outcome, HostSample):
            samples.append(outcome)
            continue
        if not is_connection_trouble(outcome):
            raise outcome  # a bug or bad data is not an unreachable host
        problem = Unreachable(host.name, host.uri, _describe(outcome))
        if not skip_unreachable:
            raise CollectError(f"host {problem.name} ({problem.uri}) unreachable: {problem.reason} "
                               f"(fix it, or use --skip-unreachable to plan without it)")
        skipped.append(problem)
    if not samples:
        raise CollectError("no host of the inventory could be reached")
    cluster, notes = snapshot_of(inventory, samples)
    stamped = replace(cluster, measured=Measurement(datetime.now(timezone.utc).replace(microsecond=0), interval_s))
    return Collection(stamped, tuple(samples), tuple(skipped), notes)


def _sample_all(inventory: Inventory, interval_s: float, timeout_s: float,
                sampler: Callable[[InventoryHost, float], HostSample]) -> dict[str, HostSample | BaseException]:
    results: dict[str, HostSample | BaseException] = {}
    lock = threading.Lock()

    def measure(host: InventoryHost) -> None:
        try:
            outcome: HostSample | BaseException = within(timeout_s + interval_s, lambda: sampler(host, interval_s),
                                                         host.name)
        except Exception as error:  # noqa: BLE001 — reported per host by the caller
            outcome = error
        with lock:
            results[host.name] = outcome

    threads = [threading.Thread(target=measure, args=(h,), daemon=True) for h in inventory.hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()  # each returns within its own timeout
    return results


def is_connection_trouble(error: BaseException) -> bool:
    """What an unreachable host looks like: libvirt's own error (refused, no route, daemon gone),
    a timeout, or an OS-level connection failure."""
    return type(error).__name__ == "libvirtError" or isinstance(error, (TimeoutError, OSError))


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def cluster_of(inventory: Inventory, samples: list[HostSample]) -> Cluster:
    return snapshot_of(inventory, samples)[0]


def snapshot_of(inventory: Inventory, samples: list[HostSample]) -> tuple[Cluster, tuple[str, ...]]:
    """The snapshot (measured figures, overridden by the inventory where it says so) and what an
    operator should know about it."""
    hosts = []
    for sample in samples:
        try:
            hosts.append(_host(inventory.host(sample.name), sample))
        except InputError as error:
            raise error.in_file(inventory.source) from None
    sightings = [Sighting(sample.name, domain, inventory.host(sample.name).reserve_inactive_memory)
                 for sample in samples for domain in sample.domains]
    try:
        placement = place(sightings)
    except DomainConflict as error:
        raise CollectError(str(error)) from None
    unreadable = tuple(f"domain {s.domain.name} on {s.host}: {s.domain.metadata_problem}"
                       for s in sightings if s.domain.metadata_problem)
    vms = tuple(_vm(p, inventory.vm_labels, inventory.vm_resources) for p in placement.placed)
    try:
        return Cluster(tuple(hosts), vms), placement.notes + unreadable
    except InputError as error:  # e.g. a vm_resources rule names a resource no host declares
        raise error.in_file(inventory.source) from None


def _host(declared: InventoryHost, sample: HostSample) -> Host:
    try:
        return Host(name=declared.name, cpus=declared.cpus or sample.cpus,
                    memory_mib=declared.memory_mib or sample.memory_mib, uri=declared.uri,
                    cpu_allocation_ratio=declared.cpu_allocation_ratio,
                    ram_allocation_ratio=declared.ram_allocation_ratio,
                    reserved_memory_mib=declared.reserved_memory_mib, labels=declared.labels,
                    state=declared.state, migration_uri=declared.migration_uri, resources=declared.resources)
    except InputError as error:
        raise error.within(f"hosts[{declared.name}]") from None


def _vm(placed: Placed, rules: tuple[VMLabelRule, ...], demands: tuple[VMResourceRule, ...]) -> VM:
    domain, host = placed.domain, placed.host
    labels = {PLACEHOLDER_LABEL: placed.holds_room_for} if placed.holds_room_for else plain(domain.labels_by(rules))
    # Demands follow the domain wherever it is counted (shut off, or the room an arriving migration
    # holds), as its memory does.
    resources = demands_of((domain.name, (domain.nova.name if domain.nova else "")), demands)
    try:
        return VM(name=domain.name, host=host, vcpus=domain.vcpus, memory_mib=domain.memory_mib,
                  cpu_load_millicores=domain.cpu_load_millicores, uuid=domain.uuid, labels=labels,
                  migratable=domain.migratable, unmigratable_reason=domain.unmigratable_reason, resources=resources)
    except InputError as error:
        raise CollectError(f"host {host}: domain {domain.name!r} ({domain.uuid}): {error}") from None
