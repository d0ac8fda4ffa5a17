"""Readers and writers for snapshots (a cluster), policies, and scenarios (a cluster plus a policy).

A snapshot is what `rebalance collect` writes; a scenario is a hand-written or generated
cluster with the policy to plan it by. YAML and JSON are both accepted (JSON is YAML).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.formats.safe_files import write_private
from planner.formats.uri_policy import check_control_uri, check_migration_uri
from planner.domain.errors import InputError
from planner.domain.model import VM, Cluster, Host
from planner.formats.measurement_record import MEASUREMENT_FIELDS, measurement_record, parse_measurement
from planner.formats.policy_reader import parse_policy
from planner.domain.policy import Policy
from planner.formats.reading import read_document
from planner.formats.records import build, check_keys, expect_list, expect_mapping, nested, parse_list

HOST_FIELDS = (
    "name", "cpus", "memory_mib", "uri", "cpu_allocation_ratio", "ram_allocation_ratio",
    "reserved_memory_mib", "labels", "state", "migration_uri", "resources",
)
HOST_DEFAULT_FIELDS = ("cpu_allocation_ratio", "ram_allocation_ratio", "reserved_memory_mib", "uri", "resources")
VM_FIELDS = (
    "name", "host", "vcpus", "memory_mib", "cpu_load_millicores", "uuid", "labels", "migratable",
    "unmigratable_reason", "resources",
)

@dataclass(frozen=True)
class Scenario:
    cluster: Cluster
    policy: Policy
    description: str = ""


def parse_cluster(raw: Any) -> Cluster:
    raw = expect_mapping(raw)
    check_keys(raw, ("defaults", "hosts", "vms", *MEASUREMENT_FIELDS), required=("hosts",))
    defaults = nested("defaults", lambda: _parse_defaults(raw.get("defaults", {})))
    hosts = parse_list(raw["hosts"], "hosts", lambda item: _parse_host(item, defaults))
    vms = parse_list(raw.get("vms", []), "vms", _parse_vm)
    return Cluster(hosts, vms, parse_measurement(raw))


def _parse_defaults(raw: Any) -> Mapping[str, Any]:
    raw = expect_mapping(raw)
    check_keys(raw, HOST_DEFAULT_FIELDS)
    return raw


def _parse_host(raw: Any, defaults: Mapping[str, Any]) -> Host:
    raw = expect_mapping(raw)
    check_keys(raw, HOST_FIELDS, required=("name", "cpus", "memory_mib"))
    values = {**defaults, **raw}
    if "resources" in defaults and "resources" in raw:
        # A host's own capacities override the defaults' one by one, so a fleet default can be
        # given once and an odd host still differ in a single resource.
        values["resources"] = _merged_resources(defaults["resources"], raw["resources"])
    uri = values.get("uri", "")
    if isinstance(uri, str) and "%s" in uri:  # a live_migration_uri-style template, e.g. qemu+tcp://%s/system
        values["uri"] = uri.replace("%s", str(raw["name"]))
    host = build(Host, values)
    _check_uris(host)
    return host


def _merged_resources(defaults: Any, own: Any) -> Any:
    if isinstance(defaults, Mapping) and isinstance(own, Mapping):
        return {**defaults, **own}
    return own  # not a mapping: let the host's own check name the bad field


def _check_uris(host: Host) -> None:
    """Refuse, wherever a URI is read, what would make a connection run a command (qemu+ext,
    command=, netcat=, …). Which socket directories are allowed is the inventory's to say (apply
    compares the plan with it), so any absolute socket path passes here."""
    if host.uri:
        check_control_uri(host.uri, "uri", socket_dirs=("/",))
    if host.migration_uri:
        check_migration_uri(host.migration_uri, "migration_uri")


def _parse_vm(raw: Any) -> VM:
    raw = expect_mapping(raw)
    check_keys(raw, VM_FIELDS, required=("name", "host", "vcpus", "memory_mib"))
    return build(VM, raw)


def load_cluster(path: str | Path) -> Cluster:
    """A snapshot file, or the `cluster` section of a scenario file."""
    raw = read_document(path)
    try:
        if isinstance(raw, Mapping) and "cluster" in raw:
            return nested("cluster", lambda: parse_cluster(raw["cluster"]))
        return parse_cluster(raw)
    except InputError as error:
        raise error.in_file(str(path)) from None


def load_policy(path: str | Path) -> Policy:
    """A policy file, or the `policy` section of a scenario file."""
    raw = read_document(path)
    try:
        if isinstance(raw, Mapping) and "cluster" in raw:
            return nested("policy", lambda: parse_policy(raw.get("policy") or {}))
        return parse_policy(raw or {})
    except InputError as error:
        raise error.in_file(str(path)) from None


def load_scenario(path: str | Path) -> Scenario:
    raw = read_document(path)
    try:
        raw = expect_mapping(raw)
        check_keys(raw, ("description", "cluster", "policy"), required=("cluster",))
        cluster = nested("cluster", lambda: parse_cluster(raw["cluster"]))
        policy = nested("policy", lambda: parse_policy(raw.get("policy") or {}))
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise InputError("description", "must be text")
        return Scenario(cluster, policy, description)
    except InputError as error:
        raise error.in_file(str(path)) from None


def host_record(host: Host) -> dict[str, Any]:
    return {
        "name": host.name,
        "cpus": host.cpus,
        "memory_mib": host.memory_mib,
        "uri": host.uri,
        "cpu_allocation_ratio": host.cpu_allocation_ratio,
        "ram_allocation_ratio": host.ram_allocation_ratio,
        "reserved_memory_mib": host.reserved_memory_mib,
        "labels": dict(host.labels),
        "state": host.state.value,
        # Only when set, so snapshots and plans without it read exactly as before.
        **({"migration_uri": host.migration_uri} if host.migration_uri else {}),
        **({"resources": dict(host.resources)} if host.resources else {}),
    }


def vm_record(vm: VM) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": vm.name,
        "uuid": vm.uuid,
        "host": vm.host,
        "vcpus": vm.vcpus,
        "memory_mib": vm.memory_mib,
        "cpu_load_millicores": vm.cpu_load_millicores,
        "labels": dict(vm.labels),
        "migratable": vm.migratable,
    }
    if vm.unmigratable_reason:
        record["unmigratable_reason"] = vm.unmigratable_reason
    if vm.resources:
        record["resources"] = dict(vm.resources)
    return record


def cluster_record(cluster: Cluster) -> dict[str, Any]:
    """The snapshot format: exactly what `parse_cluster` reads back."""
    return {
        **measurement_record(cluster.measured),
        "hosts": [host_record(h) for h in cluster.hosts],
        "vms": [vm_record(v) for v in cluster.vms],
    }


def write_json(path: str | Path, document: Any) -> None:
    """Write atomically and privately (0600, never through a symlink): a crash mid-write must not
    leave half a plan or snapshot behind, and a plan names every host's control URI."""
    write_private(path, json.dumps(document, indent=2, sort_keys=False) + "\n")


__all__ = [
    "Scenario", "read_document", "parse_cluster", "load_cluster", "load_policy", "load_scenario",
    "cluster_record", "host_record", "vm_record", "write_json", "expect_list",
]
