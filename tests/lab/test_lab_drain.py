"""`rebalance drain` against real libvirt: three guests leave lab-a, nothing stays defined there, the
host stays cordoned; a guest that cannot live-migrate (local disk, or shut off) stops the drain
before anything moves, listed with its reason; with --unmigratable shutdown such a guest is powered
off through the ACPI button first, and one that ignores the button is never forced."""

from __future__ import annotations

import json
from pathlib import Path

from lab.control import HOSTS, Lab
from lab.busy_guest import acpi_guest_sector, boot_sector, write_disk
from lab.guests import guest_xml
from operations.cordons import read_cordons
from tests.lab.helpers import PLAN_TIME_LIMIT, rebalance


def defined(lab: Lab, host: str) -> set[str]:
    """Every domain defined on `host`, running or not."""
    connection = lab.connect(host)
    try:
        return {d.name() for d in connection.listAllDomains(0)}
    finally:
        connection.close()


def everywhere(lab: Lab) -> dict[str, list[str]]:
    """Domain → every host it is defined on (a list, so 'on two hosts' cannot hide)."""
    found: dict[str, list[str]] = {}
    for host in HOSTS:
        for name in defined(lab, host):
            found.setdefault(name, []).append(host)
    return found


def test_drain_empties_lab_a_keeps_every_guest_once_and_leaves_it_cordoned(clean_lab: Lab, inventory: Path,
                                                                            tmp_path: Path) -> None:
    for name in ("g1", "g2", "g3"):
        clean_lab.start_guest("lab-a", name, memory_mib=32)
    state = tmp_path / "state"

    result = rebalance("drain", "lab-a", "--inventory", inventory, "--state-dir", state, "--yes",
                       "--time-limit", "5")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == \
        "lab-a drained: 3 VMs moved (96 MiB), host cordoned (uncordon with: rebalance uncordon lab-a)"
    assert defined(clean_lab, "lab-a") == set()
    placement = everywhere(clean_lab)
    assert {name: len(hosts) for name, hosts in placement.items()} == {"g1": 1, "g2": 1, "g3": 1}
    assert all(clean_lab.running(hosts[0]) >= {name} for name, hosts in placement.items())
    assert read_cordons(state)["lab-a"].why == "drain"
    (plan_file,) = (state / "drains").glob("*/plan.json")
    assert (plan_file.parent / "plan.journal.jsonl").exists()

    # The cordon lasts: a spread plan afterwards sends nothing back to lab-a.
    spread = rebalance("plan", "--inventory", inventory, "--state-dir", state, "--goal", "spread",
                       "--interval", "0.5", *PLAN_TIME_LIMIT, "--json")
    assert spread.exit_code == 0, spread.output
    assert all(m["destination"] != "lab-a" for m in json.loads(spread.stdout)["moves"])


def test_a_local_disk_or_shut_off_guest_stops_the_drain_before_anything_moves(clean_lab: Lab, inventory: Path,
                                                                             tmp_path: Path) -> None:
    local_disk = tmp_path / "local.img"
    local_disk.write_bytes(b"\0" * 2**20)
    clean_lab.start_guest("lab-a", "web", memory_mib=32)
    clean_lab.start_guest("lab-a", "local", memory_mib=32, disk=local_disk)
    connection = clean_lab.connect("lab-a")
    try:
        connection.defineXML(guest_xml("off", 32, 1))
    finally:
        connection.close()
    state = tmp_path / "state"

    result = rebalance("drain", "lab-a", "--inventory", inventory, "--state-dir", state, "--yes",
                       "--time-limit", "5")

    assert result.exit_code == 1, result.output
    assert "2 VMs cannot live-migrate; nothing was moved" in result.stderr
    assert any(line.strip().startswith("local on lab-a") and str(local_disk) in line
               for line in result.stderr.splitlines())
    assert any(line.strip().startswith("off on lab-a") and "shut off" in line for line in result.stderr.splitlines())
    assert "lab-a stays cordoned" in result.stderr and "lab-a" in read_cordons(state)
    assert defined(clean_lab, "lab-a") == {"web", "local", "off"} and clean_lab.running("lab-a") == {"web", "local"}
    assert not (state / "drains").exists()


def test_shutdown_powers_off_what_cannot_leave_and_never_forces_a_guest_that_ignores_it(
        clean_lab: Lab, inventory: Path, tmp_path: Path) -> None:
    clean_lab.start_guest("lab-a", "web", memory_mib=32)
    clean_lab.start_guest("lab-a", "db", memory_mib=32, disk=write_disk(tmp_path / "db.img", acpi_guest_sector()))
    clean_lab.start_guest("lab-a", "stubborn", memory_mib=32, disk=write_disk(tmp_path / "s.img", boot_sector()))
    state = tmp_path / "state"
    drain = ("drain", "lab-a", "--inventory", inventory, "--state-dir", state, "--yes", "--time-limit", "5",
             "--unmigratable", "shutdown", "--shutdown-timeout", "4")

    refused = rebalance(*drain)

    assert refused.exit_code == 1, refused.output
    assert "stubborn did not power off within 4 s" in refused.stderr and "nothing was migrated" in refused.stderr
    assert clean_lab.running("lab-a") >= {"web", "stubborn"}  # never forced, nothing moved
    assert not (state / "drains").exists()

    connection = clean_lab.connect("lab-a")
    try:
        connection.lookupByName("stubborn").destroy()  # the operator shuts it down
    finally:
        connection.close()
    drained = rebalance(*drain)

    assert drained.exit_code == 0, drained.output
    assert "db is off (still defined on lab-a)" in refused.stdout + drained.stdout
    assert defined(clean_lab, "lab-a") == {"db", "stubborn"} and clean_lab.running("lab-a") == set()
    assert {name: len(hosts) for name, hosts in everywhere(clean_lab).items()} == {"web": 1, "db": 1, "stubborn": 1}
    assert "2 unmigratable VMs left" in drained.stdout.splitlines()[-1]
