"""What apply may believe in a plan file: only what the trusted inventory and the live hosts confirm.

A plan file is data anyone with write access to it can edit, and apply runs as root. So before a
single connection is opened, every host the plan describes is compared with the inventory (the
operator's own description of the cluster, whose URIs planner.formats.uri_policy has checked): the same
hosts, control and migration URIs, state, allocation ratios, reserve, labels, and capacities where
the inventory declares them; capacities the inventory leaves to measurement are compared with the
live figures (`check_plan_capacities`). Every move must start where the plan's cluster has the VM
and end on a host whose trusted state takes new VMs, and no move may touch a domain the live hosts
report as managed by OpenStack Nova (`check_no_nova_moves`).

The fingerprint is a plain hash, not a signature: whoever edits the cluster can recompute it. It
is checked (well formed, and equal to the hash of the plan's own cluster) because a mismatch proves
an edit or a corrupt file; what keeps an edited plan from doing harm is the comparison above.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from planner.domain.checks import quote
from planner.domain.errors import InputError
from cluster.domain_metadata import NOVA_REASON
from cluster.inventory import Inventory, InventoryHost
from planner.domain.model import Cluster, Host, HostState
from planner.domain.plan import Move, Plan, cluster_fingerprint

FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")


def check_plan_against_inventory(plan: Plan, inventory: Inventory) -> tuple[str, ...]:
    """Refuse (InputError naming the plan's field) a plan that disagrees with the inventory;
    return warnings about inventory hosts the plan leaves out."""
    check_fingerprint(plan)
    trusted = {h.name: h for h in inventory.hosts}
    for index, host in enumerate(plan.cluster.hosts):
        field = f"cluster.hosts[{index}]"
        declared = trusted.get(host.name)
        if declared is None:
            raise InputError(f"{field}.name", f"host {quote(host.name)} is not in the inventory "
                                              f"{inventory.source}: a plan cannot add hosts")
        _check_host(host, declared, field)
    for index, move in enumerate(plan.moves):
        _check_move(plan, move, index, trusted)
    _check_moved_once(plan)
    return tuple(f"inventory host {name} is not in the plan (left out when it was made): apply will not "
                 f"touch it" for name in trusted if name not in plan.cluster.host_by_name)


def check_fingerprint(plan: Plan) -> None:
    """A well-formed fingerprint that is the hash of the plan's own cluster."""
    if not isinstance(plan.fingerprint, str) or not FINGERPRINT.fullmatch(plan.fingerprint):
        raise InputError("fingerprint", f"must be sha256: and 64 lower-case hex digits, got {quote(plan.fingerprint)}")
    if plan.fingerprint != cluster_fingerprint(plan.cluster):
        raise InputError("fingerprint", "does not match the plan's own cluster: the file was edited or is "
                                        "corrupt; make a new plan")


def check_plan_capacities(plan: Plan, measured: Mapping[str, tuple[int, int]]) -> tuple[str, ...]:
    """Compare the plan's capacities with (cpus, memory MiB) measured live for the hosts the
    inventory leaves to measurement. A plan claiming more than a host has is refused; one made
    for less (the host grew since) only warns: it cannot overfill the host."""
    warnings = []
    for index, host in enumerate(plan.cluster.hosts):
        if host.name not in measured:
            continue
        for name, planned, live in zip(("cpus", "memory_mib"), (host.cpus, host.memory_mib), measured[host.name]):
            if planned > live:
                raise InputError(f"cluster.hosts[{index}].{name}",
                                 f"the plan gives {host.name} {planned}, the host has {live}")
            if planned < live:
                warnings.append(f"{host.name} has {live} {name} now, the plan was made for {planned}")
    return tuple(warnings)


def check_plan_demands(plan: Plan, live: Cluster) -> None:
    """Refuse a plan whose VMs ask for other amounts of the extra resources than the inventory's
    `vm_resources` rules give them now (a VM understated to squeeze it in). VMs not seen live are
    left to the staleness check."""
    for index, vm in enumerate(plan.cluster.vms):
        now = live.vm_by_name.get(vm.name)
        if now is not None and dict(now.resources) != dict(vm.resources):
            raise InputError(f"cluster.vms[{index}].resources",
                             f"{quote(dict(vm.resources))} differs from the inventory's {quote(dict(now.resources))} "
                             f"for {vm.name}")


def check_no_nova_moves(plan: Plan, nova_managed: Iterable[tuple[str, str]]) -> None:
    """Refuse a plan that moves a domain the live hosts report as Nova-managed, whatever the plan's
    own cluster says about it (`nova_managed`: (uuid, name) of each such domain). Matched by UUID
    and by name, so neither edit lets a move through."""
    pairs = tuple(nova_managed)
    uuids, names = {uuid for uuid, _ in pairs if uuid}, {name for _, name in pairs}
    for index, move in enumerate(plan.moves):
        if move.vm in names or (move.uuid and move.uuid in uuids):
            raise InputError(f"moves[{index}].vm", f"{move.vm} ({move.source} → {move.destination}) is {NOVA_REASON}; "
                                                   f"rebalance never migrates it")


def _check_host(host: Host, declared: InventoryHost, field: str) -> None:
    expected: dict[str, Any] = {
        "uri": declared.uri,
        "migration_uri": declared.migration_uri,
        "state": declared.state,
        "cpu_allocation_ratio": declared.cpu_allocation_ratio,
        "ram_allocation_ratio": declared.ram_allocation_ratio,
        "reserved_memory_mib": declared.reserved_memory_mib,
        "labels": dict(declared.labels),
        "resources": dict(declared.resources),
    }
    if declared.cpus is not None:
        expected["cpus"] = declared.cpus
    if declared.memory_mib is not None:
        expected["memory_mib"] = declared.memory_mib
    for name, value in expected.items():
        found = getattr(host, name)
        if name == "state" and found is HostState.DISABLED and value is HostState.ACTIVE:
            continue  # cordoned when the plan was made (operations.cordons): the plan only asks less of it
        if (dict(found) if name in ("labels", "resources") else found) != value:
            raise InputError(f"{field}.{name}", f"{quote(_plain(found))} differs from the inventory's "
                                                f"{quote(_plain(value))} for {host.name}")


def _check_move(plan: Plan, move: Move, index: int, trusted: Mapping[str, InventoryHost]) -> None:
    field = f"moves[{index}]"
    vm = plan.cluster.vm_by_name.get(move.vm)
    if vm is None:
        raise InputError(f"{field}.vm", f"VM {quote(move.vm)} is not in the plan's cluster")
    for name in ("source", "destination"):
        host = getattr(move, name)
        if host not in plan.cluster.host_by_name or host not in trusted:
            raise InputError(f"{field}.{name}", f"host {quote(host)} is not in both the plan's cluster and the "
                                                f"inventory")
    if move.source != vm.host:
        raise InputError(f"{field}.source", f"VM {vm.name} is on {vm.host} in the plan's cluster, not {move.source}")
    if move.destination == move.source:
        raise InputError(f"{field}.destination", f"VM {vm.name} would move to the host it is on ({move.source})")
    destination = trusted[move.destination]
    if destination.state is not HostState.ACTIVE:
        raise InputError(f"{field}.destination", f"{destination.name} is {destination.state.value} in the "
                                                 f"inventory: it takes no new VMs")
    for name in ("uuid", "memory_mib", "vcpus"):
        if getattr(move, name) != getattr(vm, name):
            raise InputError(f"{field}.{name}", f"{quote(getattr(move, name))} differs from VM {vm.name}'s "
                                                f"{quote(getattr(vm, name))} in the plan's cluster")


def _check_moved_once(plan: Plan) -> None:
    first: dict[str, int] = {}
    for index, move in enumerate(plan.moves):
        if move.vm in first:
            raise InputError(f"moves[{index}].vm", f"VM {move.vm} is moved twice (first at moves[{first[move.vm]}])")
        first[move.vm] = index


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)  # an enum member as the word the files use
