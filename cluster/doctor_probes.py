"""Doctor's transport probes, run ON each host through its `exec` prefix: does the host's libvirt
accept an unauthenticated tcp connection, is its TLS certificate valid for its name, and does it
reach its peers' libvirt and QEMU migration ports.

Every probe runs on the host's side (in the lab: inside its network namespace), because that is
where peers connect from; doctor itself never opens these ports. What cannot be run is reported
"not checked", never pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cluster.doctor_checks import (
    Check,
    CommandResult,
    Runner,
    Status,
    first_line,
    unchecked,
)
from cluster.inventory import Inventory, InventoryHost

LIBVIRT_TCP_PORT, LIBVIRT_TLS_PORT, SSH_PORT = 16509, 16514, 22
QEMU_MIGRATION_PORT_MIN = 49152  # qemu.conf's default migration_port_min
PROBE_TIMEOUT_S = 3  # a port that does not answer in this time is filtered or unrouted
VIRSH_TIMEOUT_S = 10
SERVER_CERT = "/etc/pki/libvirt/servercert.pem"  # libvirtd's default cert_file
LIBVIRTD_CONF, QEMU_CONF = "/etc/libvirt/libvirtd.conf", "/etc/libvirt/qemu.conf"
# Two weekly renewal runs of margin. Not 30: a certificate issued for 30 days (the lab's) would
# warn from its first day, and a warning that is always on gets ignored.
CERT_WARN_DAYS = 14
TLS_SCHEMES = ("qemu+tls", "tls")

# Answers that prove the listener did NOT let an anonymous client in.
_REFUSED = ("connection refused", "no route to host", "network is unreachable", "cannot assign requested address")
_DEMANDS_AUTH = ("authentication", "sasl", "polkit", "access denied")
BASH_FAILED = 1  # bash's own exit code when a redirection fails (an ssh exec that fails says 255)
VIRSH_FAILED = 1  # virsh's own exit code: anything else (ssh 255, timeout 124, 127) never reached libvirt


def transport_probes(inventory: Inventory, run: Runner) -> list[Check]:
    checks = [unauthenticated_access(host, run) for host in inventory.hosts]
    checks += [c for host in inventory.hosts if (c := certificate(host, run)) is not None]
    checks += [migration_ports(source, inventory, run) for source in inventory.hosts]
    return checks


# -- unauthenticated tcp ---------------------------------------------------------------------------

def unauthenticated_access(host: InventoryHost, run: Runner) -> Check:
    name = f"auth {host.name}"
    if not host.exec_prefix:
        return unchecked(name, host)
    address = listen_name(host)
    uri = f"qemu+tcp://{address}/system"
    result = run([*host.exec_prefix, "timeout", str(VIRSH_TIMEOUT_S), "virsh", "-c", uri, "hostname"])
    return auth_verdict(name, uri, result)


def auth_verdict(name: str, uri: str, result: CommandResult) -> Check:
    """An anonymous `virsh hostname` that succeeds means auth_tcp = "none" on a listening port."""
    said = (result.stderr or result.stdout).strip()
    if result.returncode == 0:
        return Check(name, Status.FAIL,
                     f"{uri} accepted an unauthenticated client: anyone who reaches port {LIBVIRT_TCP_PORT} "
                     f"controls this hypervisor (auth_tcp = \"none\")",
                     "set listen_tcp = 0 and use qemu+tls:// (listen_tls = 1, certificates), or auth_tcp = \"sasl\"")
    lowered = said.lower() if result.returncode == VIRSH_FAILED else ""
    if any(word in lowered for word in _REFUSED):
        return Check(name, Status.PASS, f"no tcp listener accepts {uri}")
    if any(word in lowered for word in _DEMANDS_AUTH):
        return Check(name, Status.PASS, f"{uri} demands authentication")
    return Check(name, Status.WARN, f"not checked: cannot tell whether {uri} is open: "
                                    f"{first_line(said or f'exit {result.returncode}')}",
                 "make sure virsh and timeout are installed on the host")


def listen_name(host: InventoryHost) -> str:
    """Where peers reach the host's libvirtd: the host part of its migration URI."""
    return urlsplit(host.migration_uri).hostname or host.name


# -- TLS certificate -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CertificateFacts:
    not_after: datetime
    names: tuple[str, ...]  # the subject's CN and every DNS / IP subject alternative name


def uses_tls(host: InventoryHost) -> bool:
    return any(urlsplit(uri).scheme in TLS_SCHEMES for uri in (host.uri, host.migration_uri))


def certificate(host: InventoryHost, run: Runner, now: datetime | None = None) -> Check | None:
    """None for a host that speaks no TLS: it has no certificate to check."""
    if not uses_tls(host):
        return None
    name = f"certificate {host.name}"
    if not host.exec_prefix:
        return unchecked(name, host)
    path = configured_value(run([*host.exec_prefix, "cat", LIBVIRTD_CONF]).stdout, "cert_file") or SERVER_CERT
    facts = read_certificate(host, path, run)
    if isinstance(facts, str):
        return Check(name, Status.WARN, f"not checked: cannot read {path}: {facts}",
                     "install openssl or certtool (gnutls-bin) on the host, or fix cert_file in libvirtd.conf")
    return certificate_verdict(name, listen_name(host), facts, now or datetime.now(UTC))


def read_certificate(host: InventoryHost, path: str, run: Runner) -> CertificateFacts | str:
    """The facts, or why they could not be read (openssl first, GnuTLS certtool otherwise)."""
    openssl = run([*host.exec_prefix, "openssl", "x509", "-in", path, "-noout", "-enddate", "-subject",
                   "-ext", "subjectAltName"])
    if openssl.returncode == 0 and (facts := parse_openssl(openssl.stdout)):
        return facts
    certtool = run([*host.exec_prefix, "certtool", "-i", "--infile", path])
    if certtool.returncode == 0 and (facts := parse_certtool(certtool.stdout)):
        return facts
    return first_line(certtool.stderr or openssl.stderr or "no openssl or certtool output")


def parse_openssl(text: str) -> CertificateFacts | None:
    """`openssl x509 -noout -enddate -subject -ext subjectAltName`."""
    end = re.search(r"^notAfter=(.+)$", text, re.MULTILINE)
    if not end:
        return None
    try:
        not_after = datetime.strptime(" ".join(end.group(1).split()), "%b %d %H:%M:%S %Y %Z")
    except ValueError:
        return None
    subject = re.search(r"^subject=(.*)$", text, re.MULTILINE)
    common = re.search(r"\bCN\s*=\s*([^,/]+)", subject.group(1)) if subject else None
    alternatives = re.findall(r"(?:DNS|IP Address):([^,\s]+)", text)
    return CertificateFacts(not_after.replace(tzinfo=UTC), _names(common, alternatives))


def parse_certtool(text: str) -> CertificateFacts | None:
    """`certtool -i --infile`."""
    end = re.search(r"Not After:\s*(.+)$", text, re.MULTILINE)
    if not end:
        return None
    try:
        not_after = datetime.strptime(end.group(1).strip(), "%a %b %d %H:%M:%S UTC %Y")
    except ValueError:
        return None
    subject = re.search(r"^\s*Subject:\s*(.*)$", text, re.MULTILINE)
    common = re.search(r"\bCN=([^,]+)", subject.group(1)) if subject else None
    alternatives = re.findall(r"^\s*(?:DNSname|IPAddress):\s*(\S+)", text, re.MULTILINE)
    return CertificateFacts(not_after.replace(tzinfo=UTC), _names(common, alternatives))


def _names(common: re.Match[str] | None, alternatives: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(([common.group(1).strip()] if common else []) + list(alternatives)))


def certificate_verdict(name: str, host_name: str, facts: CertificateFacts, now: datetime) -> Check:
    left = facts.not_after - now
    expiry = f"expires {facts.not_after:%Y-%m-%d %H:%M} UTC"
    renew = "renew the server certificate (certtool --generate-certificate) and restart libvirtd"
    if left <= timedelta(0):
        return Check(name, Status.FAIL, f"EXPIRED: {expiry}; peers refuse the handshake", renew)
    if host_name.lower() not in (n.lower() for n in facts.names):
        return Check(name, Status.FAIL, f"made for {', '.join(facts.names) or 'no name'}, not {host_name}: "
                                        f"peers connecting to {host_name} reject it",
                     f"issue a certificate with cn and dns_name = {host_name}")
    if left < timedelta(days=CERT_WARN_DAYS):
        return Check(name, Status.WARN, f"{expiry}, in {left.days} days", renew)
    return Check(name, Status.PASS, f"valid for {host_name}, {expiry}")


def configured_value(conf_text: str, key: str) -> str:
    """A setting of libvirtd.conf / qemu.conf (`key = "value"` or `key = 123`), "" when unset."""
    found = re.search(rf"^\s*{re.escape(key)}\s*=\s*\"?([^\"#\n]*?)\"?\s*(?:#.*)?$", conf_text, re.MULTILINE)
    return found.group(1).strip() if found else ""


# -- migration ports -------------------------------------------------------------------------------

def migration_ports(source: InventoryHost, inventory: Inventory, run: Runner) -> Check:
    name = f"ports from {source.name}"
    if not source.exec_prefix:
        return unchecked(name, source)
    unreachable, probed = [], []
    for peer in inventory.hosts:
        if peer is source:
            continue
        address = listen_name(peer)
        for port in (libvirt_port(peer.migration_uri), qemu_port_min(peer, run)):
            probed.append(f"{address}:{port}")
            if not port_answers(run([*source.exec_prefix, *port_probe(address, port)])):
                unreachable.append(f"{address}:{port}")
    if unreachable:
        return Check(name, Status.FAIL, f"{source.name} gets no answer from {', '.join(unreachable)}",
                     f"open these ports from {source.name} in the peers' firewalls "
                     f"(libvirt's port and QEMU's migration_port_min..max range)")
    return Check(name, Status.PASS, f"every peer answers: {', '.join(probed)}")


def libvirt_port(migration_uri: str) -> int:
    parts = urlsplit(migration_uri)
    if parts.port:
        return parts.port
    if parts.scheme.endswith("ssh"):
        return SSH_PORT
    return LIBVIRT_TLS_PORT if parts.scheme in TLS_SCHEMES else LIBVIRT_TCP_PORT


def qemu_port_min(peer: InventoryHost, run: Runner) -> int:
    """The first port of the peer's incoming-migration range, from its own qemu.conf when readable."""
    if not peer.exec_prefix:
        return QEMU_MIGRATION_PORT_MIN
    value = configured_value(run([*peer.exec_prefix, "cat", QEMU_CONF]).stdout, "migration_port_min")
    return int(value) if value.isdigit() else QEMU_MIGRATION_PORT_MIN


def port_probe(address: str, port: int) -> list[str]:
    """A tcp connect from bash itself: no netcat needed on the host."""
    # the address travels as an argument, never inside the script: an odd host name stays inert
    return ["timeout", str(PROBE_TIMEOUT_S), "bash", "-c", 'exec 3<>"/dev/tcp/$0/$1"', address, str(port)]


def port_answers(result: CommandResult) -> bool:
    """Connected, or refused: either way a host answered, which is all a firewall check can ask
    (nothing listens on the QEMU range until a migration runs). A timeout or no route is a wall."""
    refused = result.returncode == BASH_FAILED and "connection refused" in result.stderr.lower()
    return result.returncode == 0 or refused
