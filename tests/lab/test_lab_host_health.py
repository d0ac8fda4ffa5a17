"""host_health against real libvirtd daemons: a stopped daemon is named, a restarted one is healthy
with its versions, a failure elsewhere that the baseline did not have blocks, and the boot id read
through the lab's exec is this machine's (the lab hosts are namespaces of one kernel), so a
promised reboot that did not happen is caught."""

from __future__ import annotations

import re
from pathlib import Path

from cluster.doctor_run import run_doctor
from cluster.host_health import BOOT_ID_PATH, boot_id, doctor_failures, host_health
from cluster.inventory import load_inventory
from lab.control import Lab


def test_a_stopped_daemon_is_not_healthy_a_restarted_one_is(clean_lab: Lab, inventory: Path) -> None:
    hosts = load_inventory(inventory)
    baseline = doctor_failures(run_doctor(hosts, 5.0))
    assert "reach lab-b" not in baseline and baseline  # the classic lab FAILs auth (anonymous tcp): pre-existing

    clean_lab.sh("stop", "b")
    try:
        down = host_health(hosts, "lab-b", baseline, 3.0)
        elsewhere = host_health(hosts, "lab-a", baseline, 3.0)
    finally:
        clean_lab.start("lab-b")
    assert not down.healthy and down.versions == ""
    assert down.problems[0].startswith("lab-b: libvirtd not reachable: "), down.problems
    # lab-a itself answers, but the doctor now fails to reach lab-b: not in the baseline, so it blocks
    assert not elsewhere.healthy and elsewhere.versions
    assert any(p.startswith("lab-a: new doctor failure: reach lab-b: ") for p in elsewhere.problems), elsewhere

    back = host_health(hosts, "lab-b", baseline, 5.0)
    assert back.healthy, back.problems
    assert re.fullmatch(r"libvirt \d+\.\d+\.\d+ QEMU \d+\.\d+\.\d+", back.versions), back.versions


def test_a_promised_reboot_that_did_not_happen_is_caught(clean_lab: Lab, inventory: Path) -> None:
    hosts = load_inventory(inventory)
    this_kernel = Path(BOOT_ID_PATH).read_text(encoding="ascii").strip()
    assert boot_id(hosts.host("lab-b")) == this_kernel

    health = host_health(hosts, "lab-b", {}, 5.0, boot_before=this_kernel)
    assert not health.healthy
    assert health.problems == (f"lab-b: boot id unchanged ({this_kernel}): the hook did not reboot it",)
