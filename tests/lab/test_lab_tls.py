"""The core flows on the TLS lab: libvirtd reachable over TLS only, by the lab's certificates only,
and every migration a VIR_MIGRATE_TLS one over qemu+tls://lab-X/system.

Proof that TLS carried the migrations, not just that they happened: the daemons refuse plain TCP
and any client certificate that is not the lab's (checked from inside a host's namespace, the
only place that may talk to 10.77.0.x), and the same apply fails when the destination's QEMU has
no TLS certificate, which only an encrypted migration stream needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from executor.journal import JournalEvent
from lab.control import HOSTS, Lab
from tests.lab.helpers import PLAN_TIME_LIMIT, journal, rebalance, write_yaml

TLS_FLAGS = ("VIR_MIGRATE_UNDEFINE_SOURCE", "VIR_MIGRATE_PEER2PEER", "VIR_MIGRATE_LIVE", "VIR_MIGRATE_PERSIST_DEST",
             "VIR_MIGRATE_TLS")


@pytest.fixture
def clean_tls_lab(tls_lab: Lab) -> Lab:
    tls_lab.clear()
    return tls_lab


@pytest.fixture
def tls_inventory(clean_tls_lab: Lab, tmp_path: Path) -> Path:
    return clean_tls_lab.inventory(tmp_path / "hosts.yaml")


@pytest.fixture
def tls_config(tmp_path: Path) -> Path:
    return write_yaml(tmp_path / "executor.yaml", {"live_migration_flag": ", ".join(TLS_FLAGS),
                                                   "live_migration_retry_count": 0})


def _plan(inventory: Path, plan: Path, *options: str) -> dict[str, str]:
    """VM → destination of the plan written to `plan`."""
    result = rebalance("plan", "--inventory", inventory, *options, *PLAN_TIME_LIMIT, "-o", plan)
    assert result.exit_code == 0, result.output
    return {m["vm"]: m["destination"] for m in json.loads(plan.read_text())["moves"]}


def _apply(plan: Path, inventory: Path, config: Path) -> int:
    return rebalance("apply", plan, "--inventory", inventory, "--yes", "--config", config).exit_code


def _done(plan: Path) -> list[tuple[str, str]]:
    """(VM, destination) of every migration the journal records as done, in VM order."""
    return sorted((e.vm, e.location) for e in journal(plan) if e.event is JournalEvent.STEP_DONE)


@contextmanager
def _without_qemu_server_certificate(lab: Lab, hosts: tuple[str, ...]) -> Iterator[None]:
    """The hosts' QEMU cannot accept a TLS migration stream (its certificate is gone) for the block."""
    certificates = [lab.pki(host) / "qemu" / "server-cert.pem" for host in hosts]
    for certificate in certificates:
        certificate.rename(certificate.with_suffix(".off"))
    try:
        yield
    finally:
        for certificate in certificates:
            certificate.with_suffix(".off").rename(certificate)


def test_daemons_listen_on_tls_only_and_admit_only_the_labs_client_certificates(clean_tls_lab: Lab,
                                                                              tmp_path: Path) -> None:
    lab = clean_tls_lab
    hostname = ("virsh", "-c")

    admitted = lab.on_host("lab-a", *hostname, "qemu+tls://lab-b/system", "hostname")
    plain = lab.on_host("lab-a", *hostname, "qemu+tcp://lab-b/system", "hostname")
    stranger = lab.client_pki(tmp_path / "stranger", "stranger")  # the lab CA signed it, DN not allowed
    forged = lab.client_pki(tmp_path / "forged", "lab-a", issuer="self")  # the right DN, a foreign CA
    unlisted = lab.on_host("lab-a", *hostname, f"qemu+tls://lab-b/system?pkipath={stranger}", "hostname")
    untrusted = lab.on_host("lab-a", *hostname, f"qemu+tls://lab-b/system?pkipath={forged}", "hostname")

    assert (admitted.returncode, admitted.stdout.strip()) == (0, "lab-b"), admitted.stderr
    assert plain.returncode != 0 and "Connection refused" in plain.stderr
    assert unlisted.returncode != 0 and untrusted.returncode != 0
    server_log = (lab.root / "hosts" / "b" / "log" / "libvirtd.log").read_text()
    assert "not on the list of allowed clients" in server_log  # refused by lab-b, not by the client
    assert "hasn't got a known issuer" in server_log


def test_each_host_sees_only_its_own_keys(clean_tls_lab: Lab) -> None:
    lab = clean_tls_lab
    own = lab.on_host("lab-a", "find", "/etc/pki", "-name", "*key.pem")
    others = lab.on_host("lab-a", "find", str(lab.pki("lab-b")), str(lab.root / "ca"), "-type", "f")

    assert sorted(own.stdout.split()) == ["/etc/pki/libvirt/private/clientkey.pem",
                                          "/etc/pki/libvirt/private/serverkey.pem",
                                          "/etc/pki/qemu/client-key.pem", "/etc/pki/qemu/server-key.pem"]
    assert others.returncode == 0 and others.stdout.split() == []
    keys = [p for host in HOSTS for p in lab.pki(host).rglob("*key.pem")]
    assert len(keys) == 12 and {p.stat().st_mode & 0o777 for p in keys} == {0o600}


def test_collect_reports_the_tls_migration_uris(clean_tls_lab: Lab, tls_inventory: Path, tmp_path: Path) -> None:
    uuid = clean_tls_lab.start_guest("lab-b", "small", memory_mib=32)
    snapshot = tmp_path / "snapshot.json"

    result = rebalance("collect", "--inventory", tls_inventory, "-o", snapshot, "--interval", "0.2")

    assert result.exit_code == 0, result.output
    collected = json.loads(snapshot.read_text())
    assert [(v["name"], v["host"], v["uuid"]) for v in collected["vms"]] == [("small", "lab-b", uuid)]
    assert {h["name"]: h["migration_uri"] for h in collected["hosts"]} == {
        h: f"qemu+tls://{h}/system" for h in HOSTS}


def test_spread_live_migrates_over_tls(clean_tls_lab: Lab, tls_inventory: Path, tls_config: Path,
                                       tmp_path: Path) -> None:
    for name in ("g1", "g2", "g3"):
        clean_tls_lab.start_guest("lab-a", name, memory_mib=32)
    plan = tmp_path / "plan.json"
    moves = _plan(tls_inventory, plan, "--goal", "spread")
    assert len(moves) == 2 and set(moves.values()) == {"lab-b", "lab-c"}

    assert _apply(plan, tls_inventory, tls_config) == 0

    assert clean_tls_lab.placement() == {name: [moves.get(name, "lab-a")] for name in ("g1", "g2", "g3")}
    assert _done(plan) == sorted(moves.items())  # each moved, and once


def test_drain_empties_a_host_over_tls(clean_tls_lab: Lab, tls_inventory: Path, tls_config: Path,
                                       tmp_path: Path) -> None:
    clean_tls_lab.start_guest("lab-a", "stay", memory_mib=32)
    for name in ("d1", "d2"):
        clean_tls_lab.start_guest("lab-b", name, memory_mib=48)
    plan = tmp_path / "plan.json"
    moves = _plan(tls_inventory, plan, "--drain", "lab-b")
    assert sorted(moves) == ["d1", "d2"] and "lab-b" not in moves.values()

    assert _apply(plan, tls_inventory, tls_config) == 0

    assert clean_tls_lab.placement() == {"stay": ["lab-a"], **{name: [host] for name, host in moves.items()}}
    assert _done(plan) == sorted(moves.items())  # each moved, and once


def test_a_tls_migration_needs_the_destinations_qemu_certificate(clean_tls_lab: Lab, tls_inventory: Path,
                                                                 tls_config: Path, tmp_path: Path) -> None:
    """The negative control: the same apply, with QEMU unable to serve TLS, moves nothing."""
    clean_tls_lab.start_guest("lab-a", "solo", memory_mib=32)
    plan = tmp_path / "plan.json"
    assert list(_plan(tls_inventory, plan, "--drain", "lab-a")) == ["solo"]

    with _without_qemu_server_certificate(clean_tls_lab, ("lab-b", "lab-c")):
        status = _apply(plan, tls_inventory, tls_config)

    assert status == 1
    assert clean_tls_lab.placement() == {"solo": ["lab-a"]}
    assert _done(plan) == []
    failed = [e for e in journal(plan) if e.event is JournalEvent.STEP_FAILED]
    assert [e.vm for e in failed] == ["solo"]
    assert "server-cert.pem" in failed[0].reason  # QEMU wanted its TLS certificate for the stream
