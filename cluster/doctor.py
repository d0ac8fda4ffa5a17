"""Preflight checks for live migration between the hosts of an inventory.

Each check says pass, warn or fail, what it saw, and how to fix it. Connections come from
cluster.collector (the only planner module that imports libvirt); commands on a host run through
the inventory's `exec` prefix (e.g. `ssh root@node1`), and checks that need one say so when it is
missing instead of guessing. Authentication, certificates and ports are probed on the hosts
themselves (cluster.doctor_probes), never inferred from a URI's scheme.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import uuid
from collections.abc import Callable, Mapping, Sequence
from itertools import permutations
from typing import Any
from urllib.parse import urlsplit

from cluster.doctor_checks import (
    Check,
    CommandResult,
    Runner,
    Status,
    first_line,
    run_command,
    unchecked,
)
from cluster.doctor_nova import nova_domains
from cluster.doctor_probes import transport_probes
from cluster.inventory import Inventory

__all__ = ["Check", "CommandResult", "Runner", "Status", "diagnose", "failed", "host_cpu_xml", "host_of", "run_command",
           "version_text"]

# virCPUCompareResult (stable ABI)
CPU_INCOMPATIBLE, CPU_IDENTICAL, CPU_SUPERSET = 0, 1, 2
PLAIN_TCP_SCHEMES = ("qemu+tcp", "tcp")

Connector = Callable[[str], Any]


def failed(checks: Sequence[Check]) -> bool:
    return any(c.status is Status.FAIL for c in checks)


def diagnose(inventory: Inventory, connect: Connector, run: Runner = run_command) -> tuple[Check, ...]:
    """Every check, in the order an operator would fix things."""
    connections, checks = _reach(inventory, connect)
    checks += [_versions(connections)]
    checks += _uri_security(inventory)
    checks += transport_probes(inventory, run)
    checks += _hostnames(inventory, connections)
    checks += _name_resolution(inventory, run)
    checks += _cpu_compatibility(inventory, connections)
    checks += _shared_storage(inventory, run)
    checks += [nova_domains(connections)]
    return tuple(checks)


def host_of(uri: str) -> str:
    return urlsplit(uri).hostname or ""


# -- reachability and versions -------------------------------------------------------------------

def _reach(inventory: Inventory, connect: Connector) -> tuple[dict[str, Any], list[Check]]:
    connections, checks = {}, []
    for host in inventory.hosts:
        try:
            connections[host.name] = connect(host.uri)
            checks.append(Check(f"reach {host.name}", Status.PASS, f"connected to {host.uri}"))
        except Exception as error:  # noqa: BLE001 — whatever libvirt says is the detail
            checks.append(Check(f"reach {host.name}", Status.FAIL, f"{host.uri}: {first_line(error)}",
                                f"start libvirtd on {host.name} (with --listen for tcp/tls), check the URI "
                                f"and that the port is open from here"))
    return connections, checks


def version_text(number: int) -> str:
    """libvirt encodes versions as major·10⁶ + minor·10³ + release."""
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def _versions(connections: Mapping[str, Any]) -> Check:
    seen: dict[str, tuple[str, str]] = {}
    for name, connection in connections.items():
        try:
            seen[name] = (version_text(connection.getLibVersion()), version_text(connection.getVersion()))
        except Exception as error:  # noqa: BLE001
            return Check("versions", Status.WARN, f"{name}: cannot read versions: {first_line(error)}")
    if not seen:
        return Check("versions", Status.FAIL, "no host reachable", "see the reach checks above")
    listed = ", ".join(f"{n} libvirt {lv} QEMU {qv}" for n, (lv, qv) in seen.items())
    if len(set(seen.values())) > 1:
        return Check("versions", Status.WARN, listed,
                     "migrating to an older libvirt or QEMU can fail: upgrade the hosts to the same versions")
    return Check("versions", Status.PASS, listed)


# -- security ------------------------------------------------------------------------------------

def _uri_security(inventory: Inventory) -> list[Check]:
    """Encryption is in the scheme: plain tcp carries control and migration streams in clear.
    Whether anyone can get in without credentials is probed on the hosts (cluster.doctor_probes)."""
    plain = sorted({uri for h in inventory.hosts for uri in (h.uri, h.migration_uri)
                    if urlsplit(uri).scheme in PLAIN_TCP_SCHEMES})
    if not plain:
        return [Check("transport", Status.PASS, "no plain-tcp libvirt URI")]
    return [Check("transport", Status.WARN,
                  f"PLAIN TCP: {', '.join(plain)}: libvirt calls and migration streams (guest memory) cross "
                  f"the network unencrypted",
                  "use qemu+tls://HOST/system (listen_tls = 1, certificates) or qemu+ssh://root@HOST/system")]


# -- names ---------------------------------------------------------------------------------------

def _hostnames(inventory: Inventory, connections: Mapping[str, Any]) -> list[Check]:
    """A destination's libvirtd tells the source's QEMU where to connect using its own hostname
    (unless qemu.conf sets migration_host): the name should be the one peers use."""
    checks = []
    for host in inventory.hosts:
        if host.name not in connections:
            continue
        expected = host_of(host.migration_uri)
        try:
            actual = connections[host.name].getHostname()
        except Exception as error:  # noqa: BLE001
            checks.append(Check(f"hostname {host.name}", Status.WARN, f"cannot read: {first_line(error)}"))
            continue
        if actual.split(".")[0] == expected.split(".")[0] or _is_address(expected):
            checks.append(Check(f"hostname {host.name}", Status.PASS, f"libvirt calls it {actual}"))
        else:
            checks.append(Check(f"hostname {host.name}", Status.WARN,
                                f"libvirt calls it {actual}, peers migrate to {expected}",
                                f"make {actual} resolve to {host.name} on every host, or set migration_host "
                                f"in {host.name}'s qemu.conf"))
    return checks


def _name_resolution(inventory: Inventory, run: Runner) -> list[Check]:
    """Peer-to-peer migration: the SOURCE host opens the destination's URI, so the source must
    resolve the destination's name (here it is asked with getent, which uses /etc/hosts and DNS)."""
    checks = []
    for source in inventory.hosts:
        if not source.exec_prefix:
            checks.append(unchecked(f"names from {source.name}", source))
            continue
        missing = []
        for peer in inventory.hosts:
            name = host_of(peer.migration_uri)
            if peer is source or not name or _is_address(name):
                continue
            result = run([*source.exec_prefix, "getent", "hosts", name])
            if result.returncode != 0 or not result.stdout.strip():
                missing.append(name)
        if missing:
            checks.append(Check(f"names from {source.name}", Status.FAIL,
                                f"{source.name} cannot resolve {', '.join(missing)}",
                                f"add them to /etc/hosts on {source.name} or to DNS"))
        else:
            checks.append(Check(f"names from {source.name}", Status.PASS, "resolves every peer"))
    return checks


# -- CPU -----------------------------------------------------------------------------------------

def host_cpu_xml(capabilities_xml: str) -> str:
    """The <cpu> element of <host> in a capabilities document (what compareCPU takes)."""
    found = re.search(r"<host>.*?(<cpu>.*?</cpu>)", capabilities_xml, re.DOTALL)
    return found.group(1) if found else ""


def _cpu_compatibility(inventory: Inventory, connections: Mapping[str, Any]) -> list[Check]:
    cpus = {}
    for name, connection in connections.items():
        try:
            cpus[name] = host_cpu_xml(connection.getCapabilities())
        except Exception:  # noqa: BLE001 — reported per pair below
            cpus[name] = ""
    checks = []
    for source, destination in permutations([h.name for h in inventory.hosts if h.name in connections], 2):
        checks.append(_compare(source, destination, cpus[source], connections[destination]))
    return checks


def _compare(source: str, destination: str, cpu_xml: str, connection: Any) -> Check:
    name = f"cpu {source} → {destination}"
    if not cpu_xml:
        return Check(name, Status.WARN, f"no host CPU in {source}'s capabilities")
    try:
        result = connection.compareCPU(cpu_xml, 0)
    except Exception as error:  # noqa: BLE001
        return Check(name, Status.WARN, f"compareCPU failed: {first_line(error)}")
    if result == CPU_INCOMPATIBLE:
        return Check(name, Status.FAIL, f"{destination}'s CPU lacks features of {source}'s",
                     "give guests a common CPU model (cpu_mode = custom with the oldest host's model)")
    what = {CPU_IDENTICAL: "identical", CPU_SUPERSET: "a superset"}.get(result, f"result {result}")
    return Check(name, Status.PASS, f"{destination}'s CPU is {what}")


# -- shared storage ------------------------------------------------------------------------------

def _shared_storage(inventory: Inventory, run: Runner) -> list[Check]:
    """A marker file written on one host must be read back on every other host."""
    paths = {h.instances_path for h in inventory.hosts}
    if len(paths) > 1:
        return [Check("shared storage", Status.FAIL, f"instances_path differs between hosts: {', '.join(sorted(paths))}",
                      "use one shared instances_path on every host")]
    path = paths.pop()
    if not all(h.exec_prefix for h in inventory.hosts):
        return [unchecked("shared storage", next(h for h in inventory.hosts if not h.exec_prefix))]
    writer, *readers = inventory.hosts
    token = f"rebalance-doctor-{uuid.uuid4().hex}"
    marker = f"{path.rstrip('/')}/.{token}"
    wrote = run([*writer.exec_prefix, "sh", "-c", f"echo {token} > {shlex.quote(marker)}"])
    if wrote.returncode != 0:
        return [Check("shared storage", Status.FAIL, f"cannot write {marker} on {writer.name}: "
                                                     f"{wrote.stderr.strip()[:200]}",
                      f"create {path} on the shared storage and mount it on every host")]
    try:
        apart = [h.name for h in readers if run([*h.exec_prefix, "cat", marker]).stdout.strip() != token]
    finally:
        run([*writer.exec_prefix, "rm", "-f", marker])
    if apart:
        return [Check("shared storage", Status.FAIL, f"{path} on {', '.join(apart)} is not the storage {writer.name} "
                                                     f"writes to", f"mount the shared {path} on {', '.join(apart)}")]
    return [Check("shared storage", Status.PASS, f"{path} is the same storage on every host")]


# -- helpers -------------------------------------------------------------------------------------

def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
