"""Issue 19, cases 6 and 8 against real libvirt: a shut-off guest is a resident of its host, and
`collect` during a live migration counts the guest on both hosts instead of failing."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import libvirt
import yaml

from lab.control import Lab
from lab.guests import guest_xml
from cluster.sightings import PLACEHOLDER_LABEL
from tests.lab.helpers import PLAN_TIME_LIMIT, rebalance

MIGRATION_FLAGS = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_PERSIST_DEST
                   | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
SLOW_MIB_PER_S = 4  # the fat guest's 48 MiB of random data then take ~12 s to copy


def define_shut_off(lab: Lab, host: str, name: str, memory_mib: int, vcpus: int) -> str:
    connection = lab.connect(host)
    try:
        return connection.defineXML(guest_xml(name, memory_mib, vcpus)).UUIDString()
    finally:
        connection.close()


def collected(inventory: Path, snapshot: Path) -> dict[str, Any]:
    result = rebalance("collect", "--inventory", inventory, "-o", snapshot, "--interval", "0.5")
    assert result.exit_code == 0, result.output
    return json.loads(snapshot.read_text())


def test_a_shut_off_guest_is_collected_on_its_host_unmigratable_and_the_host_cannot_be_drained(
        clean_lab: Lab, inventory: Path, tmp_path: Path) -> None:
    clean_lab.start_guest("lab-a", "web", memory_mib=32)
    uuid = define_shut_off(clean_lab, "lab-b", "off", memory_mib=48, vcpus=2)

    vms = {v["name"]: v for v in collected(inventory, tmp_path / "snapshot.json")["vms"]}

    off = vms["off"]
    assert (off["host"], off["uuid"], off["memory_mib"], off["vcpus"]) == ("lab-b", uuid, 48, 2)
    assert off["migratable"] is False and "shut off on lab-b" in off["unmigratable_reason"]
    assert off["cpu_load_millicores"] == 0
    assert vms["web"]["migratable"] is True

    plan_file = tmp_path / "plan.json"
    drain = rebalance("plan", "--inventory", inventory, "--drain", "lab-b", *PLAN_TIME_LIMIT, "-o", plan_file)
    # The drain goal cannot be met while a defined domain lives on lab-b: the planner says so and
    # writes no plan, so nothing can report lab-b drained (or run --on-freed on it).
    assert drain.exit_code == 2, drain.output
    assert "lab-b" in drain.output and "off" in drain.output and "shut off" in drain.output
    assert not plan_file.exists()


def test_a_shut_off_guest_is_left_out_but_reported_where_its_memory_is_not_reserved(
        clean_lab: Lab, inventory: Path, tmp_path: Path) -> None:
    define_shut_off(clean_lab, "lab-b", "off", memory_mib=48, vcpus=1)
    document = yaml.safe_load(inventory.read_text())
    document["defaults"]["reserve_inactive_memory"] = False
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))

    result = rebalance("collect", "--inventory", inventory, "-o", tmp_path / "snapshot.json", "--interval", "0.2")

    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "snapshot.json").read_text())["vms"] == []
    assert "domain off is defined, shut off, on lab-b" in result.output


class SlowMigration:
    """lab-a → lab-b at a few MiB/s in a thread of its own (lab-a's daemon connects to lab-b itself)."""

    def __init__(self, lab: Lab, vm: str) -> None:
        self.lab, self.vm, self.error = lab, vm, None
        self.thread = threading.Thread(target=self._run, name=f"migrate-{vm}", daemon=True)

    def _run(self) -> None:
        connection = self.lab.connect("lab-a")
        try:
            connection.lookupByName(self.vm).migrateToURI3(
                "qemu+tcp://lab-b/system", {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: SLOW_MIB_PER_S}, MIGRATION_FLAGS)
        except Exception as error:  # noqa: BLE001 — reported by the test
            self.error = error
        finally:
            connection.close()

    def arriving(self) -> bool:
        """lab-b holds the paused incoming half."""
        connection = self.lab.connect("lab-b")
        try:
            return any(d.name() == self.vm and d.state()[0] == libvirt.VIR_DOMAIN_PAUSED
                       for d in connection.listAllDomains(0))
        finally:
            connection.close()

    def finish(self, timeout_s: float) -> None:
        self.thread.join(timeout_s)
        if self.thread.is_alive():  # never leave a migration running after the test
            connection = self.lab.connect("lab-a")
            try:
                connection.lookupByName(self.vm).abortJob()
            finally:
                connection.close()
            self.thread.join(30)


def test_collect_during_a_live_migration_counts_the_guest_on_both_hosts(clean_lab: Lab, inventory: Path,
                                                                         tmp_path: Path) -> None:
    uuid = clean_lab.start_guest("lab-a", "fat", memory_mib=64, fat=True)
    migration = SlowMigration(clean_lab, "fat")
    migration.thread.start()
    try:
        clean_lab.wait_for(migration.arriving, 30, "the incoming half of fat on lab-b")
        result = rebalance("collect", "--inventory", inventory, "-o", tmp_path / "snapshot.json", "--interval", "0.5")
        still_migrating = migration.thread.is_alive()
    finally:
        migration.finish(120)

    assert result.exit_code == 0, result.output
    assert still_migrating, f"the migration ended before collect sampled it: slow it down ({migration.error})"
    vms = json.loads((tmp_path / "snapshot.json").read_text())["vms"]
    fat = [v for v in vms if v["name"] == "fat"]
    held = [v for v in vms if v["labels"].get(PLACEHOLDER_LABEL) == "fat"]
    assert [(v["host"], v["uuid"], v["migratable"], v["unmigratable_reason"]) for v in fat] == [
        ("lab-a", uuid, False, "migrating between lab-a and lab-b")]
    assert [(v["host"], v["uuid"], v["memory_mib"], v["migratable"]) for v in held] == [("lab-b", "", 64, False)]
    assert "fat" in result.output  # the operator is told a migration was in flight
    assert migration.error is None, migration.error
    assert clean_lab.placement() == {"fat": ["lab-b"]}  # it arrived, exactly once
