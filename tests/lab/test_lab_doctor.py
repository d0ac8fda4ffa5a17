"""`rebalance doctor` on the real lab: it passes, and it warns about the plain-tcp migration URIs."""

from __future__ import annotations

from pathlib import Path

from lab.control import Lab
from planner.collector import close, connect
from planner.doctor import Status, diagnose
from planner.inventory import load_inventory
from tests.lab.helpers import rebalance


def test_doctor_passes_on_the_lab_and_warns_about_plain_tcp(clean_lab: Lab, inventory: Path) -> None:
    result = rebalance("doctor", "--inventory", inventory)
    assert result.exit_code == 0, result.output

    opened = []
    try:
        checks = diagnose(load_inventory(inventory), lambda uri: opened.append(connect(uri)) or opened[-1])
    finally:
        for connection in opened:
            close(connection)
    by_name = {c.name: c.status for c in checks}
    assert by_name["transport"] is Status.WARN
    assert [n for n, s in by_name.items() if s is not Status.PASS] == ["transport"]
    # every check the issue asks for ran for real: reach, versions, names, CPUs, shared storage
    assert {"reach lab-a", "versions", "names from lab-b", "cpu lab-a → lab-c", "shared storage"} <= set(by_name)


def test_doctor_fails_when_a_host_is_down(clean_lab: Lab, inventory: Path) -> None:
    clean_lab.sh("stop", "b")
    try:
        result = rebalance("doctor", "--inventory", inventory, "--timeout", "5")
    finally:
        clean_lab.start("lab-b")
    assert result.exit_code == 1
