"""The collector's and doctor's pure logic, without libvirt: loads, migratability, the snapshot."""

from __future__ import annotations

import pytest

from planner.collector import (
    CollectError,
    DomainSample,
    HostSample,
    busy_fraction,
    collect,
    is_incoming,
    migratability,
    millicores,
)
from planner.doctor import CommandResult, Status, diagnose, host_cpu_xml, version_text
from planner.inventory import InventoryHost, parse_inventory

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
