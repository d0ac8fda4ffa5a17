"""`rebalance collect` against the real lab: the guests' real sizes, hosts and migratability."""

from __future__ import annotations

import json
from pathlib import Path

from lab.control import Lab
from tests.lab.helpers import rebalance


def test_collect_reports_each_guest_with_its_real_size_host_and_uuid(clean_lab: Lab, inventory: Path,
                                                                     tmp_path: Path) -> None:
    shared_disk = clean_lab.instances_path / "shared.img"
    local_disk = tmp_path / "local.img"
    for disk in (shared_disk, local_disk):
        disk.write_bytes(b"\0" * 2**20)
    uuids = {
        "small": clean_lab.start_guest("lab-a", "small", memory_mib=32, vcpus=1),
        "big": clean_lab.start_guest("lab-b", "big", memory_mib=64, vcpus=2),
        "shared": clean_lab.start_guest("lab-c", "shared", memory_mib=32, disk=shared_disk),
        "pinned": clean_lab.start_guest("lab-c", "pinned", memory_mib=32, disk=local_disk),
    }
    snapshot = tmp_path / "snapshot.json"

    result = rebalance("collect", "--inventory", inventory, "-o", snapshot, "--interval", "0.5")

    assert result.exit_code == 0, result.output
    collected = json.loads(snapshot.read_text())
    vms = {v["name"]: v for v in collected["vms"]}
    assert {n: (v["host"], v["memory_mib"], v["vcpus"], v["uuid"]) for n, v in vms.items()} == {
        "small": ("lab-a", 32, 1, uuids["small"]),
        "big": ("lab-b", 64, 2, uuids["big"]),
        "shared": ("lab-c", 32, 1, uuids["shared"]),
        "pinned": ("lab-c", 32, 1, uuids["pinned"]),
    }
    assert all(v["cpu_load_millicores"] >= 0 for v in vms.values())
    assert [n for n, v in vms.items() if not v["migratable"]] == ["pinned"]
    assert str(local_disk) in vms["pinned"]["unmigratable_reason"]
    hosts = {h["name"]: h for h in collected["hosts"]}
    # The inventory's capacities win over what the shared kernel reports for every lab host.
    assert {(h["cpus"], h["memory_mib"]) for h in hosts.values()} == {(2, 512)}
    assert hosts["lab-b"]["uri"] == clean_lab.uri("lab-b")
    assert hosts["lab-b"]["migration_uri"] == "qemu+tcp://lab-b/system"


def test_an_unreachable_host_fails_collect_unless_skipped(clean_lab: Lab, inventory: Path, tmp_path: Path) -> None:
    clean_lab.start_guest("lab-a", "small")
    clean_lab.sh("stop", "c")
    try:
        failed = rebalance("collect", "--inventory", inventory, "--interval", "0.2", "--timeout", "5")
        snapshot = tmp_path / "snapshot.json"
        skipped = rebalance("collect", "--inventory", inventory, "--interval", "0.2", "--timeout", "5",
                            "--skip-unreachable", "-o", snapshot)
    finally:
        clean_lab.start("lab-c")
    assert failed.exit_code == 1
    assert skipped.exit_code == 0, skipped.output
    collected = json.loads(snapshot.read_text())
    assert [h["name"] for h in collected["hosts"]] == ["lab-a", "lab-b"]
    assert [(v["name"], v["host"]) for v in collected["vms"]] == [("small", "lab-a")]
