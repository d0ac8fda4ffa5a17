"""The collector's and doctor's pure logic, without libvirt: loads, migratability, the snapshot.

libvirt is faked at the sampler: each test hands `collect` the HostSamples a host would report.
"""

from __future__ import annotations

import pytest

from cluster.collector import (
    CollectError,
    DomainSample,
    HostSample,
    busy_fraction,
    collect,
    is_incoming,
    migratability,
    millicores,
)
from cluster.domain_presence import Presence, is_migrating_out, presence_of
from cluster.doctor import CommandResult, Status, diagnose, host_cpu_xml, version_text
from cluster.inventory import InventoryHost, parse_inventory
from cluster.sightings import PLACEHOLDER_LABEL

SHARED = "/var/lib/nova/instances"


@pytest.mark.parametrize("before, after, elapsed, expected", [
    (0, 1_000_000_000, 1.0, 1000),  # one core busy for the whole second
    (5_000_000_000, 5_250_000_000, 0.5, 500),  # ¼ s of CPU in ½ s: half a core
    (0, 1, 1.0, 1),  # any CPU at all rounds up: never under-count load
    (10, 10, 1.0, 0),
    (500, 100, 1.0, 0),  # the counter went back (a restarted guest): no load rather than nonsense
    (0, 1000, 0.0, 0),
])
def test_millicores_from_cpu_time_deltas(before: int, after: int, elapsed: float, expected: int) -> None:
    assert millicores(before, after, elapsed) == expected


def test_host_busy_fraction_counts_user_and_kernel_over_all_time() -> None:
    before = {"user": 100, "kernel": 100, "idle": 700, "iowait": 100}
    after = {"user": 400, "kernel": 200, "idle": 1200, "iowait": 200}
    assert busy_fraction(before, after) == pytest.approx(400 / 1000)
    assert busy_fraction(before, before) == 0.0


def _domain(devices: str) -> str:
    return f"<domain type='kvm'><name>x</name><devices>{devices}</devices></domain>"


@pytest.mark.parametrize("devices, migratable, reason_has", [
    ("", True, ""),
    (f"<disk type='file' device='disk'><source file='{SHARED}/uuid/disk'/></disk>", True, ""),
    ("<disk type='network' device='disk'><source protocol='rbd' name='pool/img'/></disk>", True, ""),
    ("<disk type='file' device='cdrom'><target dev='hdc'/></disk>", True, ""),  # empty CD-ROM
    ("<disk type='file' device='disk'><source file='/var/lib/libvirt/images/x.qcow2'/></disk>", False,
     "/var/lib/libvirt/images/x.qcow2"),
    (f"<disk type='file' device='disk'><source file='{SHARED}-old/x'/></disk>", False, "-old/x"),  # not a prefix trick
    ("<disk type='block' device='disk'><source dev='/dev/sdb'/></disk>", False, "/dev/sdb"),
    ("<hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x03' slot='0x00' "
     "function='0x0'/></source></hostdev>", False, "host device pci"),
    ("<interface type='hostdev'><source/></interface>", False, "SR-IOV"),
])
def test_migratability_from_domain_xml(devices: str, migratable: bool, reason_has: str) -> None:
    ok, reason = migratability(_domain(devices), SHARED)
    assert ok is migratable
    assert reason_has in reason and bool(reason) is not migratable


def test_an_incoming_migration_is_not_a_resident() -> None:
    assert is_incoming({"state.state": 3, "state.reason": 2})
    assert not is_incoming({"state.state": 3, "state.reason": 1})  # paused by the user: it lives here
    assert not is_incoming({"state.state": 1, "state.reason": 1})


INVENTORY = parse_inventory({"hosts": [{"name": "a", "cpus": 4}, {"name": "b", "memory_mib": 2048}]})


def _sampler(dead: set[str]):
    def sample(host: InventoryHost, interval_s: float) -> HostSample:
        if host.name in dead:
            raise ConnectionRefusedError(f"cannot connect to {host.uri}")
        vm = DomainSample(f"uuid-{host.name}", f"vm-{host.name}", 2, 512, 250, host.name == "a", "")
        return HostSample(host.name, 16, 65536, 0.25, (vm,))
    return sample


def test_the_snapshot_takes_the_inventorys_overrides_over_measured_figures() -> None:
    cluster = collect(INVENTORY, 0, 5, sampler=_sampler(set())).cluster
    a, b = cluster.hosts
    assert (a.cpus, a.memory_mib, b.cpus, b.memory_mib) == (4, 65536, 16, 2048)
    assert (a.uri, a.migration_uri) == ("qemu+tcp://a/system", "qemu+tcp://a/system")
    assert [(v.name, v.host, v.cpu_load_millicores, v.migratable) for v in cluster.vms] == [
        ("vm-a", "a", 250, True), ("vm-b", "b", 250, False)]


def test_an_unreachable_host_is_an_error_or_left_out_with_a_warning() -> None:
    with pytest.raises(CollectError, match="host b .*--skip-unreachable"):
        collect(INVENTORY, 0, 5, sampler=_sampler({"b"}))
    skipped = collect(INVENTORY, 0, 5, skip_unreachable=True, sampler=_sampler({"b"}))
    assert [h.name for h in skipped.cluster.hosts] == ["a"]
    assert [u.name for u in skipped.skipped] == ["b"] and len(skipped.warnings) == 1
    with pytest.raises(CollectError):
        collect(INVENTORY, 0, 5, skip_unreachable=True, sampler=_sampler({"a", "b"}))


def test_a_host_that_hangs_times_out_instead_of_hanging_the_collection() -> None:
    import threading

    def hang(host: InventoryHost, interval_s: float) -> HostSample:
        if host.name == "b":
            threading.Event().wait(30)
        return _sampler(set())(host, interval_s)

    skipped = collect(INVENTORY, 0, 0.2, skip_unreachable=True, sampler=hang)
    assert [u.name for u in skipped.skipped] == ["b"]


def test_a_bug_in_measuring_is_not_reported_as_an_unreachable_host() -> None:
    def broken(host: InventoryHost, interval_s: float) -> HostSample:
        raise KeyError("cpu.time")

    with pytest.raises(KeyError):
        collect(INVENTORY, 0, 5, skip_unreachable=True, sampler=broken)


def test_version_numbers_and_host_cpu_extraction() -> None:
    assert version_text(9000000) == "9.0.0" and version_text(7002022) == "7.2.22"
    caps = "<capabilities><host><uuid>x</uuid><cpu><arch>x86_64</arch></cpu></host><guest><cpu/></guest></capabilities>"
    assert host_cpu_xml(caps) == "<cpu><arch>x86_64</arch></cpu>"


class FakeConnection:
    """A stand-in for what doctor asks a connection (libvirt's real answers are in tests/lab)."""

    def __init__(self, name: str, compare: int = 1) -> None:
        self.name, self.compare = name, compare

    def getLibVersion(self) -> int:
        return 9000000

    def getVersion(self) -> int:
        return 7002022

    def getHostname(self) -> str:
        return self.name

    def getCapabilities(self) -> str:
        return "<capabilities><host><cpu><model>Broadwell</model></cpu></host></capabilities>"

    def compareCPU(self, xml: str, flags: int) -> int:
        return self.compare


def test_doctor_fails_incompatible_cpus_and_unresolvable_peers_and_warns_about_tcp() -> None:
    inventory = parse_inventory({"defaults": {"live_migration_uri": "qemu+tls://%s/system"},
                                 "hosts": [{"name": "a", "exec": "run-on a"}, {"name": "b", "uri": "qemu+tcp://b/system"}]})
    connections = {"qemu+tls://a/system": FakeConnection("a"), "qemu+tcp://b/system": FakeConnection("b", compare=0)}
    def run(argv: list[str]) -> CommandResult:
        if argv[2:4] == ["getent", "hosts"]:
            return CommandResult(2, "")  # a cannot resolve b
        return CommandResult(0, "")

    checks = {c.name: c.status for c in diagnose(inventory, connections.__getitem__, run)}
    assert checks["transport"] is Status.WARN
    assert checks["cpu a → b"] is Status.FAIL and checks["cpu b → a"] is Status.PASS
    assert checks["names from a"] is Status.FAIL
    assert checks["names from b"] is Status.WARN and checks["shared storage"] is Status.WARN  # b has no exec


# -- every defined domain, and domains seen on two hosts (issue 19, cases 6 and 8) ----------------

RUNNING, INCOMING, SHUT_OFF = Presence.RUNNING, Presence.INCOMING, Presence.SHUT_OFF


@pytest.mark.parametrize("state, reason, migrating_out, expected", [
    (1, 1, False, RUNNING),
    (3, 1, False, RUNNING),  # paused by the user: it lives here and holds its room
    (3, 2, False, INCOMING),  # paused for a migration, no outgoing job: the destination's half
    (3, 2, True, RUNNING),  # paused for the switch-over on the source
    (3, 11, False, INCOMING),  # "starting up": the destination's half before the stream starts
    (5, 0, False, SHUT_OFF),
    (5, 3, False, SHUT_OFF),
])
def test_how_a_domain_is_present_on_a_host(state: int, reason: int, migrating_out: bool, expected: Presence) -> None:
    assert presence_of(state, reason, migrating_out) is expected


class _StateOnly:
    def __init__(self, state: int, reason: int) -> None:
        self._state = (state, reason)

    def state(self) -> tuple[int, int]:
        return self._state


@pytest.mark.parametrize("state, reason", [(1, 1), (3, 1), (3, 2), (3, 11), (5, 0)])
def test_the_executor_reads_arrivals_as_the_collector_does(state: int, reason: int) -> None:
    """One definition of a migration's destination half for the snapshot and the per-step prechecks."""
    from executor.libvirt_live import is_arriving  # noqa: PLC0415

    assert is_arriving(_StateOnly(state, reason)) == (presence_of(state, reason, False) is INCOMING)


@pytest.mark.parametrize("job, expected", [
    ({"type": 2, "operation": 5}, True),
    ({"type": 2, "operation": 4}, False),  # an incoming migration's job, where libvirt reports one
    ({"type": 0}, False),
    ({}, False),
])
def test_only_an_outgoing_migration_job_makes_a_source(job: dict[str, int], expected: bool) -> None:
    assert is_migrating_out(job) is expected


def _domain_on(name: str, uuid: str = "", presence: Presence = RUNNING, migrating_out: bool = False,
               memory_mib: int = 512, vcpus: int = 2, load: int = 300) -> DomainSample:
    return DomainSample(uuid or f"uuid-{name}", name, vcpus, memory_mib, load, True, "", presence, migrating_out)


def _hosts_with(domains: dict[str, list[DomainSample]]):
    def sample(host: InventoryHost, interval_s: float) -> HostSample:
        return HostSample(host.name, 16, 65536, 0.1, tuple(domains.get(host.name, [])))
    return sample


def _inventory(reserve_on_b: bool = True):
    return parse_inventory({"hosts": [{"name": "a"}, {"name": "b", "reserve_inactive_memory": reserve_on_b}]})


def _held(cluster, host: str) -> tuple[int, int]:
    """(memory MiB, vCPUs) the snapshot counts on `host`."""
    vms = cluster.vms_by_host[host]
    return sum(v.memory_mib for v in vms), sum(v.vcpus for v in vms)


def test_a_shut_off_domain_holds_its_room_and_never_moves() -> None:
    off = _domain_on("off", presence=SHUT_OFF, memory_mib=1024, vcpus=4, load=90)
    collection = collect(_inventory(), 0, 5, sampler=_hosts_with({"a": [_domain_on("web")], "b": [off]}))
    vm = collection.cluster.vm_by_name["off"]
    assert (vm.host, vm.migratable, vm.cpu_load_millicores, vm.uuid) == ("b", False, 0, "uuid-off")
    assert "shut off on b" in vm.unmigratable_reason
    assert _held(collection.cluster, "b") == (1024, 4)
    assert collection.cluster.vm_by_name["web"].migratable
    assert collection.shut_off == (("b", "off"),)


def test_a_shut_off_domain_is_left_out_where_inactive_memory_is_not_reserved_but_still_known() -> None:
    off = _domain_on("off", presence=SHUT_OFF)
    collection = collect(_inventory(reserve_on_b=False), 0, 5, sampler=_hosts_with({"b": [off]}))
    assert collection.cluster.vms == ()
    assert collection.shut_off == (("b", "off"),)
    assert any("off" in w and "b" in w for w in collection.warnings)


def test_a_paused_domain_holds_its_room_and_stays_movable() -> None:
    paused = _domain_on("paused")  # user-paused: presence RUNNING, as presence_of says
    cluster = collect(_inventory(), 0, 5, sampler=_hosts_with({"b": [paused]})).cluster
    assert cluster.vm_by_name["paused"].migratable and _held(cluster, "b") == (512, 2)


@pytest.mark.parametrize("on_a, on_b, home", [
    ((RUNNING, True), (INCOMING, False), "a"),  # copying: the destination holds the paused incoming half
    ((RUNNING, True), (RUNNING, False), "a"),  # a sampled before the switch-over, b after
    ((INCOMING, False), (RUNNING, True), "b"),  # the other direction: decided by state, not inventory order
    ((INCOMING, False), (RUNNING, False), "b"),  # a sampled after a finished job left it… on b
    ((RUNNING, False), (RUNNING, False), "a"),  # no job to be seen on either: the inventory's first
])
def test_a_migrating_domain_counts_on_both_hosts_and_is_never_an_error(
        on_a: tuple[Presence, bool], on_b: tuple[Presence, bool], home: str) -> None:
    halves = {h: [_domain_on("mover", "uuid-m", presence, out, memory_mib=768, vcpus=3)]
              for h, (presence, out) in (("a", on_a), ("b", on_b))}
    collection = collect(_inventory(), 0, 5, sampler=_hosts_with(halves))
    cluster = collection.cluster
    other = "b" if home == "a" else "a"
    mover = cluster.vm_by_name["mover"]
    assert (mover.host, mover.uuid, mover.migratable) == (home, "uuid-m", False)
    assert mover.unmigratable_reason == f"migrating between {home} and {other}"
    held = [v for v in cluster.vms if v.labels.get(PLACEHOLDER_LABEL) == "mover"]
    assert [(v.host, v.migratable, v.uuid) for v in held] == [(other, False, "")]
    assert _held(cluster, "a") == _held(cluster, "b") == (768, 3)
    assert any("mover" in w for w in collection.warnings)


def test_a_placeholder_name_never_takes_a_real_domains_name() -> None:
    halves = {"a": [_domain_on("mover", "uuid-m", RUNNING, True)],
              "b": [_domain_on("mover", "uuid-m", INCOMING), _domain_on("mover--room-on-b")]}
    cluster = collect(_inventory(), 0, 5, sampler=_hosts_with(halves)).cluster
    assert cluster.vm_by_name["mover--room-on-b"].uuid == "uuid-mover--room-on-b"  # the real one, untouched
    held = [v.name for v in cluster.vms if v.labels.get(PLACEHOLDER_LABEL) == "mover"]
    assert len(held) == 1 and held[0] not in {"mover", "mover--room-on-b"}


def test_only_the_incoming_half_seen_is_placed_where_it_arrives_and_pinned() -> None:
    cluster = collect(_inventory(), 0, 5, sampler=_hosts_with({"b": [_domain_on("mover", presence=INCOMING)]})).cluster
    mover = cluster.vm_by_name["mover"]
    assert (mover.host, mover.migratable, mover.unmigratable_reason) == ("b", False, "migrating into b")


def test_a_source_whose_destination_is_not_seen_is_still_pinned() -> None:
    cluster = collect(_inventory(), 0, 5, sampler=_hosts_with({"a": [_domain_on("mover", migrating_out=True)]})).cluster
    assert cluster.vm_by_name["mover"].unmigratable_reason == "migrating away from a"


def test_a_definition_left_on_another_host_holds_room_there() -> None:
    halves = {"a": [_domain_on("web", "uuid-w")], "b": [_domain_on("web", "uuid-w", SHUT_OFF)]}
    cluster = collect(_inventory(), 0, 5, sampler=_hosts_with(halves)).cluster
    web = cluster.vm_by_name["web"]
    assert (web.host, web.migratable, web.unmigratable_reason) == ("a", False, "also defined, shut off, on b")
    assert _held(cluster, "b") == (512, 2) and sum(v.cpu_load_millicores for v in cluster.vms_by_host["b"]) == 0


def test_two_different_domains_with_one_name_are_a_conflict() -> None:
    halves = {"a": [_domain_on("web", "uuid-1")], "b": [_domain_on("web", "uuid-2", SHUT_OFF)]}
    with pytest.raises(CollectError, match=r"^two different domains are named 'web': uuid-1 on a and uuid-2 on b"):
        collect(_inventory(), 0, 5, sampler=_hosts_with(halves))
