"""Issue 19, case 6 end to end: a consolidation night never calls a host with a shut-off guest
freed, so `--on-freed` (a power-off, in production) never runs for it."""

from __future__ import annotations

from pathlib import Path

from lab.control import HOSTS, Lab
from lab.guests import guest_xml
from tests.lab.helpers import PLAN_TIME_LIMIT, rebalance, write_yaml


def test_a_host_whose_only_guest_is_shut_off_is_never_freed_and_its_hook_never_runs(clean_lab: Lab,
                                                                                     tmp_path: Path) -> None:
    # lab-b is the cheapest host to empty (one small running guest), and it also holds a shut-off one.
    for host, names in (("lab-a", ("n1", "n2")), ("lab-b", ("n3",)), ("lab-c", ("n4", "n5"))):
        for name in names:
            clean_lab.start_guest(host, name, memory_mib=32)
    connection = clean_lab.connect("lab-b")
    try:
        connection.defineXML(guest_xml("off", 32, 1))  # defined on lab-b, never started
    finally:
        connection.close()
    inventory = clean_lab.inventory(tmp_path / "hosts.yaml", cpus=16)
    policy = write_yaml(tmp_path / "policy.yaml", {"consolidate": {"max_cpu_percent": 100}})
    freed = tmp_path / "freed.txt"

    night = rebalance("run", "--goal", "consolidate", "--inventory", inventory, "--policy", policy,
                      "--state-dir", tmp_path / "state", "--on-freed", f"echo {{host}} >> {freed}",
                      *PLAN_TIME_LIMIT, "--yes")

    assert night.exit_code == 0, night.stderr
    hooked = freed.read_text().split() if freed.exists() else []
    assert "lab-b" not in hooked
    assert hooked and set(hooked) <= {"lab-a", "lab-c"}  # the night did free a host, a truly empty one
    for host in hooked:
        assert not clean_lab.running(host)
        connection = clean_lab.connect(host)
        try:
            assert connection.listAllDomains(0) == []  # nothing defined there either
        finally:
            connection.close()
    connection = clean_lab.connect("lab-b")
    try:
        off = connection.lookupByName("off")
        assert not off.isActive() and off.isPersistent()  # still defined there, never moved
    finally:
        connection.close()
    placement = clean_lab.placement()
    assert sorted(placement) == ["n1", "n2", "n3", "n4", "n5"]
    assert all(len(h) == 1 and h[0] in HOSTS for h in placement.values())
