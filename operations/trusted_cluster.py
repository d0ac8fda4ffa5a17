"""The cluster `apply` is allowed to believe: the operator's inventory and what the live hosts report.

A plan file is untrusted data. Before anything connects, its hosts are compared with the inventory
(executor.trust); then the hosts are measured over the inventory's own URIs and the plan's
capacities compared with the measurement, and no move may touch a domain Nova manages. The
libvirt backend is built from the inventory's URIs, never from the plan's, and the cluster lock
covers every host of the inventory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from cluster.collector import collect
from cluster.insecure_control import refuse_insecure_control
from cluster.inventory import Inventory, load_inventory
from executor.config import ExecutorConfig
from executor.libvirt_driver import LibvirtBackend
from executor.trust import check_no_nova_moves, check_plan_against_inventory, check_plan_capacities, check_plan_demands
from planner.domain.errors import InputError
from planner.domain.model import Host
from planner.domain.plan import Plan

DEFAULT_INVENTORY = "/etc/rebalance/hosts.yaml"


@dataclass(frozen=True)
class TrustedCluster:
    inventory: Inventory
    hosts: Mapping[str, Host]  # the plan's hosts, with the inventory's URIs
    warnings: tuple[str, ...]

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.inventory.hosts)

    def backend(self, config: ExecutorConfig) -> LibvirtBackend:
        reserve = {h.name: h.reserve_inactive_memory for h in self.inventory.hosts}
        return LibvirtBackend(self.hosts, config, reserve_inactive=reserve)


def trusted_cluster(plan: Plan, plan_file: str, inventory_path: str, config: ExecutorConfig,
                    allow_insecure: bool = False) -> TrustedCluster:
    """Refuse (InputError naming the plan file and field, exit 2) a plan the inventory or the live
    hosts contradict."""
    inventory = _load(inventory_path)
    refuse_insecure_control(inventory, allow_insecure)
    try:
        warnings = [*inventory.warnings, *check_plan_against_inventory(plan, inventory)]  # before any connection
        collection = collect(inventory, interval_s=0.0, timeout_s=config.call_timeout_s, skip_unreachable=True)
        warnings += check_plan_capacities(plan, {h.name: (h.cpus, h.memory_mib) for h in collection.cluster.hosts})
        check_plan_demands(plan, collection.cluster)
        check_no_nova_moves(plan, ((d.uuid, d.name) for s in collection.samples for d in s.domains if d.nova))
    except InputError as error:
        raise error.in_file(plan_file) from None
    warnings += collection.warnings
    declared = {h.name: h for h in inventory.hosts}
    hosts = {name: replace(host, uri=declared[name].uri, migration_uri=declared[name].migration_uri)
             for name, host in plan.cluster.host_by_name.items()}
    return TrustedCluster(inventory, hosts, tuple(warnings))


def _load(path: str) -> Inventory:
    if path == DEFAULT_INVENTORY and not os.path.exists(path):
        raise InputError("--inventory", f"no inventory at {DEFAULT_INVENTORY}: apply takes hosts, URIs and "
                                        f"capacities from the inventory and the live cluster, never from the plan "
                                        f"file; pass --inventory FILE (or --dry-run to only preview)")
    return load_inventory(path)
