"""`rebalance doctor` on the real lab: it probes authentication from each host's own side, so it
FAILs the classic lab (auth_tcp = "none", tcp listening) and passes the TLS lab; what it cannot
run is "not checked", never pass."""

from __future__ import annotations

from pathlib import Path

import yaml

from lab.control import HOSTS, Lab
from cluster.collector import close, connect
from cluster.doctor import Check, Status, diagnose
from cluster.inventory import load_inventory
from tests.lab.helpers import rebalance, write_yaml


def _diagnose(inventory: Path) -> dict[str, Check]:
    opened = []
    try:
        checks = diagnose(load_inventory(inventory), lambda uri: opened.append(connect(uri)) or opened[-1])
    finally:
        for connection in opened:
            close(connection)
    return {c.name: c for c in checks}


def _without_exec(inventory: Path, host: str) -> Path:
    document = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    for entry in document["hosts"]:
        if entry["name"] == host:
            del entry["exec"]
    return write_yaml(inventory.with_name("no-exec.yaml"), document)


def test_doctor_fails_every_host_that_admits_anonymous_tcp(clean_lab: Lab, inventory: Path) -> None:
    result = rebalance("doctor", "--inventory", inventory)
    assert result.exit_code == 1, result.output
    assert all(f"[FAIL] auth {h}: qemu+tcp://{h}/system accepted an unauthenticated" in result.output for h in HOSTS)

    checks = _diagnose(inventory)
    assert [n for n, c in checks.items() if c.status is Status.FAIL] == [f"auth {h}" for h in HOSTS]
    assert checks["transport"].status is Status.WARN  # plain tcp: migration streams in clear
    # the other checks ran for real and passed: reach, versions, names, CPUs, storage, peers' ports
    passed = {n for n, c in checks.items() if c.status is Status.PASS}
    assert {"reach lab-a", "versions", "names from lab-b", "cpu lab-a → lab-c", "shared storage",
            "ports from lab-a", "ports from lab-c"} <= passed
    assert "lab-b:16509" in checks["ports from lab-a"].detail and "lab-b:49152" in checks["ports from lab-a"].detail
    assert not any(n.startswith("certificate") for n in checks)  # no TLS here, no certificate to read


def test_a_host_without_exec_is_not_checked_never_passed(clean_lab: Lab, inventory: Path) -> None:
    checks = _diagnose(_without_exec(inventory, "lab-b"))
    for name in ("auth lab-b", "ports from lab-b"):
        assert checks[name].status is Status.WARN and checks[name].detail.startswith("not checked"), checks[name]
    assert checks["auth lab-a"].status is Status.FAIL  # the hosts doctor can reach are still probed


def test_doctor_fails_when_a_host_is_down(clean_lab: Lab, inventory: Path) -> None:
    clean_lab.sh("stop", "b")
    try:
        result = rebalance("doctor", "--inventory", inventory, "--timeout", "5")
    finally:
        clean_lab.start("lab-b")
    assert result.exit_code == 1


def test_doctor_passes_the_tls_lab(tls_lab: Lab, tmp_path: Path) -> None:
    inventory = tls_lab.inventory(tmp_path / "hosts.yaml")
    result = rebalance("doctor", "--inventory", inventory)
    assert result.exit_code == 0, result.output

    checks = _diagnose(inventory)
    for host in HOSTS:
        assert checks[f"auth {host}"].status is Status.PASS, checks[f"auth {host}"]
        assert checks[f"certificate {host}"].status is Status.PASS, checks[f"certificate {host}"]
        assert checks[f"ports from {host}"].status is Status.PASS, checks[f"ports from {host}"]
    assert ":16514" in checks["ports from lab-a"].detail
    assert checks["transport"].status is Status.PASS


def test_doctor_reads_the_tls_labs_certificates_from_inside_each_host(tls_lab: Lab, tmp_path: Path) -> None:
    checks = _diagnose(_without_exec(tls_lab.inventory(tmp_path / "hosts.yaml"), "lab-c"))
    assert checks["certificate lab-c"].status is Status.WARN and checks["certificate lab-c"].detail.startswith("not checked")
    assert "valid for lab-a" in checks["certificate lab-a"].detail
