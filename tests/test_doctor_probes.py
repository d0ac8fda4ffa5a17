"""Doctor's transport probes without a lab: parsing what openssl / certtool print, and what each
probe's answer means (the lab runs them for real in tests/lab/test_lab_doctor.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from cluster.doctor_checks import CommandResult, Status
from cluster.doctor_probes import (
    CertificateFacts,
    auth_verdict,
    certificate,
    certificate_verdict,
    configured_value,
    libvirt_port,
    migration_ports,
    parse_certtool,
    parse_openssl,
    port_answers,
    transport_probes,
    unauthenticated_access,
)
from cluster.inventory import parse_inventory

OPENSSL = """notAfter=Jan  1 17:17:06 2027 GMT
subject=O = rebalance lab, CN = lab-a
X509v3 Subject Alternative Name: \n    DNS:lab-a, IP Address:10.77.0.1
"""
CERTTOOL = """X.509 Certificate Information:
\tValidity:
\t\tNot Before: Wed Dec 02 17:17:06 UTC 2026
\t\tNot After: Fri Jan 01 17:17:06 UTC 2027
\tSubject: CN=lab-a,O=rebalance lab
\tExtensions:
\t\tSubject Alternative Name (not critical):
\t\t\tDNSname: lab-a
\t\t\tIPAddress: 10.77.0.1
"""
EXPIRY = datetime(2027, 1, 1, 17, 17, 6, tzinfo=UTC)


@pytest.mark.parametrize("parse, text", [(parse_openssl, OPENSSL), (parse_certtool, CERTTOOL)])
def test_both_tools_outputs_give_the_expiry_and_every_name(parse, text) -> None:  # type: ignore[no-untyped-def]
    assert parse(text) == CertificateFacts(EXPIRY, ("lab-a", "10.77.0.1"))


@pytest.mark.parametrize("text", ["", "unable to load certificate", "notAfter=someday\n"])
def test_output_without_a_readable_expiry_gives_nothing(text: str) -> None:
    assert parse_openssl(text) is None and parse_certtool(text) is None


def test_a_certificate_with_only_a_common_name_still_names_its_host() -> None:
    facts = parse_openssl("notAfter=Mar  5 00:00:00 2030 GMT\nsubject=CN = node1.example.org\n")
    assert facts is not None and facts.names == ("node1.example.org",)


@pytest.mark.parametrize("left, name, expected", [
    (timedelta(days=29, hours=23), "lab-a", Status.PASS),
    (timedelta(days=5), "lab-a", Status.WARN),
    (-timedelta(seconds=1), "lab-a", Status.FAIL),
    (timedelta(days=200), "LAB-A", Status.PASS),  # host names are case-insensitive
    (timedelta(days=200), "lab-b", Status.FAIL),
])
def test_certificate_verdict(left: timedelta, name: str, expected: Status) -> None:
    facts = CertificateFacts(EXPIRY, ("lab-a", "10.77.0.1"))
    assert certificate_verdict("certificate x", name, facts, EXPIRY - left).status is expected


@pytest.mark.parametrize("result, expected", [
    (CommandResult(0, "lab-a\n"), Status.FAIL),
    (CommandResult(1, "", "error: unable to connect to server at 'lab-a:16509': Connection refused"), Status.PASS),
    (CommandResult(1, "", "error: authentication failed: Failed to start SASL negotiation"), Status.PASS),
    (CommandResult(127, "", "virsh: command not found"), Status.WARN),
    (CommandResult(124, ""), Status.WARN),  # hung: cannot tell, so not a pass
    (CommandResult(255, "", "root@a: Permission denied (publickey)."), Status.WARN),  # the exec, not libvirt
    (CommandResult(255, "", "ssh: connect to host a port 22: Connection refused"), Status.WARN),
])
def test_an_anonymous_connection_that_succeeds_fails_the_host(result: CommandResult, expected: Status) -> None:
    check = auth_verdict("auth a", "qemu+tcp://a/system", result)
    assert check.status is expected
    assert (check.status is Status.WARN) == check.detail.startswith("not checked")


@pytest.mark.parametrize("result, answers", [
    (CommandResult(0, ""), True),
    (CommandResult(1, "", "bash: connect: Connection refused\nbash: line 1: /dev/tcp/b/49152: Connection refused"), True),
    (CommandResult(124, ""), False),  # timeout: dropped by a firewall
    (CommandResult(1, "", "bash: connect: No route to host"), False),
    (CommandResult(255, "", "ssh: connect to host a port 22: Connection refused"), False),  # never left a
])
def test_a_refused_port_answers_a_silent_one_does_not(result: CommandResult, answers: bool) -> None:
    assert port_answers(result) is answers


@pytest.mark.parametrize("uri, port", [("qemu+tcp://b/system", 16509), ("qemu+tls://b/system", 16514),
                                       ("qemu+ssh://root@b/system", 22), ("qemu+tls://b:1234/system", 1234)])
def test_the_libvirt_port_follows_the_migration_uri(uri: str, port: int) -> None:
    assert libvirt_port(uri) == port


def test_settings_are_read_from_conf_files_and_comments_ignored() -> None:
    conf = '# migration_port_min = 1\nmigration_port_min = 50000  # firewall\ncert_file = "/x/cert.pem"\n'
    assert configured_value(conf, "migration_port_min") == "50000"
    assert configured_value(conf, "cert_file") == "/x/cert.pem"
    assert configured_value(conf, "migration_port_max") == ""


def _inventory(uri: str = "qemu+tls://%s/system", exec_b: bool = True):  # type: ignore[no-untyped-def]
    hosts = [{"name": "a", "exec": "run-on a"}, {"name": "b", **({"exec": "run-on b"} if exec_b else {})}]
    return parse_inventory({"defaults": {"live_migration_uri": uri}, "hosts": hosts})


class Hosts:
    """Answers probes as the hosts would; records every command."""

    def __init__(self, answers: dict[str, CommandResult]) -> None:
        self.answers, self.asked = answers, []  # type: list[Sequence[str]]

    def __call__(self, argv: Sequence[str]) -> CommandResult:
        self.asked.append(argv)
        for key, answer in self.answers.items():
            if key in " ".join(argv):
                return answer
        return CommandResult(1, "", "no such file")


def test_probes_run_through_the_exec_prefix_on_the_hosts_own_side() -> None:
    hosts = Hosts({"virsh": CommandResult(0, "a")})
    check = unauthenticated_access(_inventory().host("a"), hosts)
    assert check.status is Status.FAIL and "16509" in check.detail
    assert hosts.asked[0][:2] == ["run-on", "a"] and "qemu+tcp://a/system" in hosts.asked[0]


def test_a_host_without_exec_is_never_passed() -> None:
    inventory = _inventory(exec_b=False)
    checks = {c.name: c for c in transport_probes(inventory, Hosts({"virsh": CommandResult(1, "", "Connection refused")}))}
    for name in ("auth b", "certificate b", "ports from b"):
        assert checks[name].status is Status.WARN and checks[name].detail.startswith("not checked")
    assert checks["auth a"].status is Status.PASS


def test_a_plain_tcp_host_has_no_certificate_check() -> None:
    assert certificate(_inventory("qemu+tcp://%s/system").host("a"), Hosts({})) is None


def test_the_certificate_is_read_from_libvirtds_cert_file() -> None:
    hosts = Hosts({"libvirtd.conf": CommandResult(0, 'cert_file = "/srv/pki/server.pem"\n'),
                   "openssl": CommandResult(0, OPENSSL.replace("lab-a", "a"))})
    check = certificate(_inventory().host("a"), hosts, now=EXPIRY - timedelta(days=100))
    assert check is not None and check.status is Status.PASS
    assert any("/srv/pki/server.pem" in argv for argv in hosts.asked)


def test_unreadable_certificate_is_not_checked() -> None:
    check = certificate(_inventory().host("a"), Hosts({}))
    assert check is not None and check.status is Status.WARN and check.detail.startswith("not checked")


def test_ports_fail_only_where_a_peer_stays_silent() -> None:
    hosts = Hosts({"qemu.conf": CommandResult(0, "migration_port_min = 50000\n"),
                   "/dev/tcp": CommandResult(1, "", "connect: Connection refused")})
    inventory = _inventory()
    passed = migration_ports(inventory.host("a"), inventory, hosts)
    assert passed.status is Status.PASS and "b:16514" in passed.detail and "b:50000" in passed.detail

    silent = Hosts({"b 49152": CommandResult(124, ""), "/dev/tcp": CommandResult(0, "")})
    failed = migration_ports(inventory.host("a"), inventory, silent)
    assert failed.status is Status.FAIL and failed.detail.endswith("b:49152")  # qemu.conf unreadable: the default
