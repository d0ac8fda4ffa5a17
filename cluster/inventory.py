"""The inventory: which libvirt hosts make up the cluster and how to reach them (YAML).

    defaults:
      live_migration_uri: qemu+tcp://%s/system   # where peers send migrations; %s = host name
      uri: qemu+tls://%s/system                  # control connection; default: live_migration_uri
      cpu_allocation_ratio: 4.0
      ram_allocation_ratio: 1.0
      reserved_memory_mib: 512
      instances_path: /var/lib/nova/instances    # shared instance storage (doctor, migratability)
      unix_socket_dirs: [/run/libvirt, /var/run/libvirt]  # where a qemu+unix URI's socket may lie
    hosts:
      - name: node1
        labels: {rack: r1}
      - name: node2
        uri: qemu+ssh://root@node2.mgmt/system   # a literal URI, or a template with %s
        migration_uri: qemu+tcp://node2/system   # this host as a migration destination
        cpus: 8                                   # override what libvirt reports (plan as if smaller)
        memory_mib: 16384
        state: disabled
        exec: ssh root@node2                      # how doctor runs a command on the host (optional)
        reserve_inactive_memory: false            # shut-off domains hold no memory here (default true)
        allow_insecure_tcp: true                  # apply/run may control it over plain qemu+tcp (default false)
    vm_labels:                                    # labels for the VMs whose name matches (cluster/vm_labels.py)
      - {match: "web-*", labels: {app: web}}

Host names are checked before they go into a URI, so a name can never rewrite one. The control
URI (`uri`) and the migration URI differ when the tool reaches a host over another path than its
peers do (an ssh tunnel, a management network, a unix socket in the lab).

Every URI is checked against planner.formats.uri_policy when the inventory is read (the inventory is the
trusted description of the cluster: a plan file's URIs must match it): `uri` as a control URI,
whose unix socket must lie in one of `unix_socket_dirs`; `migration_uri` and the filled-in
`live_migration_uri` template as migration URIs. What is allowed but weak (plain TCP, peer checks
turned off) is kept in `Inventory.warnings`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.vm_labels import VMLabelRule, parse_vm_label_rule
from cluster.vm_resources import VMResourceRule, parse_vm_resource_rule
from planner.domain.checks import (MAX_HOST_CPUS, MAX_MEMORY_MIB, check_int, check_labels, check_name, check_positive_int,
                            check_ratio, check_resources, check_resources_declared, quote)
from planner.domain.errors import InputError
from planner.domain.model import EMPTY_LABELS, EMPTY_RESOURCES, HostState
from planner.formats.records import check_keys, expect_mapping, nested, parse_list
from planner.formats.scenario import read_document
from planner.formats.uri_policy import (DEFAULT_SOCKET_DIRS, check_control_uri, check_migration_uri, check_socket_dirs,
                               uri_warnings)

DEFAULT_MIGRATION_URI = "qemu+tcp://%s/system"  # Nova's classic live_migration_uri
DEFAULT_INSTANCES_PATH = "/var/lib/nova/instances"

SHARED_FIELDS = ("uri", "live_migration_uri", "cpu_allocation_ratio", "ram_allocation_ratio",
                 "reserved_memory_mib", "instances_path", "labels", "reserve_inactive_memory", "unix_socket_dirs",
                 "allow_insecure_tcp", "resources")
HOST_FIELDS = ("name", "uri", "migration_uri", "cpu_allocation_ratio", "ram_allocation_ratio",
               "reserved_memory_mib", "instances_path", "labels", "state", "cpus", "memory_mib", "exec",
               "reserve_inactive_memory", "unix_socket_dirs", "allow_insecure_tcp", "resources")


@dataclass(frozen=True)
class InventoryHost:
    name: str
    uri: str  # control connection, filled in
    migration_uri: str  # destination URI for peers, filled in
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    reserved_memory_mib: int = 512
    instances_path: str = DEFAULT_INSTANCES_PATH
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY_LABELS)
    state: HostState = HostState.ACTIVE
    cpus: int | None = None  # None: as measured
    memory_mib: int | None = None
    exec_prefix: tuple[str, ...] = ()  # argv prefix that runs a command on the host; () = cannot
    # Shut-off domains keep their memory reserved on their host (as Nova does): starting one
    # again must not find its room taken by a VM the plan moved in meanwhile.
    reserve_inactive_memory: bool = True
    allow_insecure_tcp: bool = False  # the operator accepts an unauthenticated qemu+tcp control connection
    unix_socket_dirs: tuple[str, ...] = DEFAULT_SOCKET_DIRS  # where a qemu+unix control URI may point
    # Capacity of each extra named resource (disk IOPS, Mbit/s): declared, since libvirt cannot measure it.
    resources: Mapping[str, int] = field(default_factory=lambda: EMPTY_RESOURCES)


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[InventoryHost, ...]
    source: str = "<inventory>"
    warnings: tuple[str, ...] = ()  # allowed but weak URIs (plain TCP, peer checks off), one line each
    vm_labels: tuple[VMLabelRule, ...] = ()  # labels by VM name pattern, in file order
    vm_resources: tuple[VMResourceRule, ...] = ()  # extra resource demands by VM name pattern, in file order

    def host(self, name: str) -> InventoryHost:
        return next(h for h in self.hosts if h.name == name)


def load_inventory(path: str | Path) -> Inventory:
    raw = read_document(path)
    try:
        return parse_inventory(raw, str(path))
    except InputError as error:
        raise error.in_file(str(path)) from None


def parse_inventory(raw: Any, source: str = "<inventory>") -> Inventory:
    raw = expect_mapping(raw)
    check_keys(raw, ("defaults", "hosts", "vm_labels", "vm_resources"), required=("hosts",))
    defaults = nested("defaults", lambda: _parse_defaults(raw.get("defaults") or {}))
    hosts = parse_list(raw["hosts"], "hosts", lambda item: _parse_host(item, defaults))
    if not hosts:
        raise InputError("hosts", "an inventory needs at least one host")
    seen: dict[str, int] = {}
    for index, host in enumerate(hosts):
        if host.name in seen:
            raise InputError(f"hosts[{index}].name", f"duplicate name {quote(host.name)} (first at hosts[{seen[host.name]}])")
        seen[host.name] = index
    rules = raw.get("vm_labels")
    vm_labels = parse_list([] if rules is None else rules, "vm_labels", parse_vm_label_rule)
    demands = raw.get("vm_resources")
    vm_resources = parse_list([] if demands is None else demands, "vm_resources", parse_vm_resource_rule)
    # As for a snapshot (planner.domain.model), said here, where the fields are.
    check_resources_declared([(h.name, h.resources) for h in hosts], [r.resources for r in vm_resources],
                             "vm_resources")
    return Inventory(hosts, source, _warnings(hosts), vm_labels, vm_resources)


def _parse_defaults(raw: Any) -> Mapping[str, Any]:
    raw = expect_mapping(raw)
    check_keys(raw, SHARED_FIELDS)
    if "labels" in raw:
        check_labels(raw["labels"], "labels")
    if "unix_socket_dirs" in raw:
        check_socket_dirs(raw["unix_socket_dirs"], "unix_socket_dirs")
    if "resources" in raw:
        check_resources(raw["resources"], "resources")
    return raw


def _parse_host(raw: Any, defaults: Mapping[str, Any]) -> InventoryHost:
    raw = expect_mapping(raw)
    check_keys(raw, HOST_FIELDS, required=("name",))
    name = check_name(raw["name"], "name")  # before it goes anywhere near a URI
    values = {**defaults, **raw}
    socket_dirs = check_socket_dirs(values.get("unix_socket_dirs", list(DEFAULT_SOCKET_DIRS)), "unix_socket_dirs")
    template = _template(values.get("live_migration_uri", DEFAULT_MIGRATION_URI), "live_migration_uri")
    check_migration_uri(fill(template, name), "live_migration_uri")  # even when this host overrides both
    migration_uri = fill(_uri(values.get("migration_uri", template), "migration_uri"), name)
    check_migration_uri(migration_uri, "migration_uri")
    uri = fill(_uri(values.get("uri", template), "uri"), name)
    check_control_uri(uri, "uri", socket_dirs)
    return InventoryHost(
        name=name,
        uri=uri,
        migration_uri=migration_uri,
        cpu_allocation_ratio=check_ratio(values.get("cpu_allocation_ratio", 4.0), "cpu_allocation_ratio"),
        ram_allocation_ratio=check_ratio(values.get("ram_allocation_ratio", 1.0), "ram_allocation_ratio"),
        reserved_memory_mib=check_int(values.get("reserved_memory_mib", 512), "reserved_memory_mib"),
        instances_path=_path(values.get("instances_path", DEFAULT_INSTANCES_PATH)),
        labels=check_labels({**defaults.get("labels", {}), **check_labels(raw.get("labels", {}), "labels")}, "labels"),
        state=_state(values.get("state", HostState.ACTIVE.value)),
        cpus=_optional_size(values.get("cpus"), "cpus"),
        memory_mib=_optional_size(values.get("memory_mib"), "memory_mib"),
        exec_prefix=_exec(values.get("exec")),
        reserve_inactive_memory=_bool(values.get("reserve_inactive_memory", True), "reserve_inactive_memory"),
        allow_insecure_tcp=_bool(values.get("allow_insecure_tcp", False), "allow_insecure_tcp"),
        unix_socket_dirs=socket_dirs,
        # The host's own capacities override the defaults' one by one.
        resources=check_resources({**defaults.get("resources", {}), **check_resources(raw.get("resources", {}), "resources")},
                                  "resources"),
    )


def _warnings(hosts: tuple[InventoryHost, ...]) -> tuple[str, ...]:
    """One line per weak URI of each host (the URIs are checked already: these are allowed)."""
    return tuple(f"hosts[{index}].{field_name}: {warning}"
                 for index, host in enumerate(hosts)
                 for field_name, uri in (("uri", host.uri), ("migration_uri", host.migration_uri))
                 for warning in uri_warnings(uri))


def fill(uri: str, name: str) -> str:
    """A URI template with the (already checked) host name for %s; a literal URI stays as it is."""
    return uri.replace("%s", name)


def _uri(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or "://" not in value:
        raise InputError(field_name, f"must be a libvirt URI such as qemu+tls://%s/system, got {quote(value)}")
    if value.count("%s") > 1:
        raise InputError(field_name, f"may contain %s (the host name) once, got {quote(value)}")
    return value


def _template(value: Any, field_name: str) -> str:
    value = _uri(value, field_name)
    if "%s" not in value:
        raise InputError(field_name, f"must contain %s where the host name goes, got {quote(value)}")
    return value


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise InputError("instances_path", f"must be an absolute path, got {quote(value)}")
    return value


def _state(value: Any) -> HostState:
    try:
        return HostState(value)
    except ValueError:
        choices = ", ".join(s.value for s in HostState)
        raise InputError("state", f"must be one of {choices}, got {quote(value)}") from None


def _bool(value: Any, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(field_name, f"must be true or false, got {quote(value)}")
    return value


def _optional_size(value: Any, field_name: str) -> int | None:
    """An override of what libvirt reports, within the ranges of planner/domain/checks.py."""
    maximum = MAX_HOST_CPUS if field_name == "cpus" else MAX_MEMORY_MIB
    return None if value is None else check_positive_int(value, field_name, maximum=maximum)


def _exec(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        words = shlex.split(value)
    elif isinstance(value, list) and all(isinstance(w, str) for w in value):
        words = list(value)
    else:
        raise InputError("exec", f"must be a command line (text or a list of words), got {quote(value)}")
    if not words:
        raise InputError("exec", "must not be empty")
    return tuple(words)
