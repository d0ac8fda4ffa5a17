"""Writing a cluster as a scenario file, with the rules its labels imply.

Hand-formatted flow-style YAML: one line per host and per VM keeps a 3000-VM scenario readable,
diffable and fast to load (yaml.dump would take seconds and spread each VM over six lines).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from benchmarks.fleet_shape import CPU_ALLOCATION_RATIO, RAM_ALLOCATION_RATIO, RESERVED_MEMORY_MIB, URI_TEMPLATE
from planner.domain.model import VM, Cluster, Host


def anti_affinity_groups(cluster: Cluster) -> dict[str, list[str]]:
    """Group name → member VMs, read back from the `aa` labels."""
    groups: dict[str, list[str]] = {}
    for vm in cluster.vms:
        if "aa" in vm.labels:
            groups.setdefault(vm.labels["aa"], []).append(vm.name)
    # group-2 before group-10: sort by the number, not the text
    return dict(sorted(groups.items(), key=lambda item: (len(item[0]), item[0])))


HOST_DEFAULTS = {
    "uri": URI_TEMPLATE,
    "cpu_allocation_ratio": CPU_ALLOCATION_RATIO,
    "ram_allocation_ratio": RAM_ALLOCATION_RATIO,
    "reserved_memory_mib": RESERVED_MEMORY_MIB,
}


def _flow(fields: Iterable[tuple[str, object]]) -> str:
    return "{" + ", ".join(f"{key}: {_scalar(value)}" for key, value in fields) + "}"


def _scalar(value: object) -> str:
    if isinstance(value, _Bare):
        return str(value)
    if isinstance(value, dict):
        return _flow(value.items())
    if isinstance(value, str):
        # Label values like "true" or "01" must stay strings: always quote them (names are safe bare).
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def host_line(host: Host) -> str:
    fields: list[tuple[str, object]] = [("name", _name(host.name)), ("cpus", host.cpus), ("memory_mib", host.memory_mib)]
    if host.uri != URI_TEMPLATE.replace("%s", host.name):
        fields.append(("uri", host.uri))
    for key in ("cpu_allocation_ratio", "ram_allocation_ratio", "reserved_memory_mib"):
        if getattr(host, key) != HOST_DEFAULTS[key]:
            fields.append((key, getattr(host, key)))
    if host.labels:
        fields.append(("labels", dict(host.labels)))
    if host.state.value != "active":
        fields.append(("state", _Bare(host.state.value)))
    return f"  - {_flow(fields)}"


def vm_line(vm: VM) -> str:
    fields: list[tuple[str, object]] = [
        ("name", _name(vm.name)), ("host", _name(vm.host)), ("vcpus", vm.vcpus),
        ("memory_mib", vm.memory_mib), ("cpu_load_millicores", vm.cpu_load_millicores),
    ]
    if vm.labels:
        fields.append(("labels", dict(vm.labels)))
    return f"  - {_flow(fields)}"


class _Bare(str):
    """Text that YAML reads back as this very string when written unquoted."""


# Names YAML 1.1 would read as booleans or null; names starting with a digit may read as numbers.
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"})


def _name(value: str) -> str:
    """Host and VM names unquoted when that is safe (h-001, vm-00001), quoted otherwise ("007", "yes")."""
    if value[:1].isalpha() and value.lower() not in _YAML_WORDS:
        return _Bare(value)
    return value


def scenario_text(cluster: Cluster, goal: str = "spread", header: Sequence[str] = (), description: str = "") -> str:
    """The scenario YAML: comment header, cluster (defaults, hosts, VMs) and a policy with the rules
    implied by the labels (one pin rule for `pinned: "true"`, one anti-affinity rule per `aa` group)."""
    lines = [f"# {line}".rstrip() for line in header]
    if description:
        lines.append(f"description: {_scalar(description)}")
    lines += ["cluster:", f"  defaults: {_flow(HOST_DEFAULTS.items())}", "  hosts:"]
    lines += [host_line(h) for h in cluster.hosts]
    lines.append("  vms:")
    lines += [vm_line(v) for v in cluster.vms]
    lines += ["policy:", f"  goal: {goal}", "  rules:"]
    if any(vm.labels.get("pinned") == "true" for vm in cluster.vms):
        lines += ["    pin:", '    - {name: pinned, vms: {labels: {pinned: "true"}}}']
    groups = anti_affinity_groups(cluster)
    if groups:
        lines.append("    anti_affinity:")
        lines += [f'    - {{name: {name}, vms: {{labels: {{aa: "{name}"}}}}}}' for name in groups]
    return "\n".join(lines) + "\n"


def write_scenario(path: str | Path, cluster: Cluster, goal: str = "spread", header: Sequence[str] = (),
                   description: str = "") -> None:
    Path(path).write_text(scenario_text(cluster, goal, header, description), encoding="utf-8")
