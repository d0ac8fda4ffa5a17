"""Extra named resources on a live cluster: the inventory declares each host's capacity and, by
`vm_resources` rules, what VMs need (libvirt measures neither); the collector puts both in the
snapshot, and apply believes neither from a plan file unless the inventory says the same."""

from __future__ import annotations

import json
import pytest

from cluster.collector import HostSample, collect
from cluster.domain_presence import Presence
from cluster.inventory import InventoryHost, parse_inventory
from executor.trust import check_plan_against_inventory, check_plan_demands
from planner.domain.errors import InputError
from planner.domain.model import Cluster
from planner.domain.plan import cluster_fingerprint
from planner.domain.policy import Goal
from planner.formats.plan_io import parse_plan, plan_to_json
from planner.formats.scenario import parse_cluster
from tests.builders import plan_for, policy
from tests.test_collector_units import _domain_on

RAW = {
    "defaults": {"uri": "qemu+tls://%s/system", "resources": {"disk_iops": 20000, "net_mbit": 10000}},
    "hosts": [{"name": "a"}, {"name": "b", "resources": {"disk_iops": 5000}}],
    "vm_resources": [
        {"match": "db-*", "resources": {"disk_iops": 4000, "net_mbit": 500}},
        {"match": "db-big", "resources": {"disk_iops": 9000}},  # later rules override, key by key
        {"match": "nova-web-*", "resources": {"net_mbit": 2000}},
    ],
}


def test_hosts_declare_capacities_merged_with_the_defaults() -> None:
    inventory = parse_inventory(RAW)
    assert [dict(h.resources) for h in inventory.hosts] == [
        {"disk_iops": 20000, "net_mbit": 10000}, {"disk_iops": 5000, "net_mbit": 10000}]


@pytest.mark.parametrize("edit, field", [
    (lambda raw: raw["hosts"].append({"name": "c", "resources": {"gpus": 1}}), "hosts[0].resources.gpus"),
    (lambda raw: raw["vm_resources"].append({"match": "x", "resources": {"gpus": 1}}), "vm_resources[3].resources.gpus"),
    (lambda raw: raw["vm_resources"].append({"match": "x", "resources": {}}), "vm_resources[3].resources"),
    (lambda raw: raw["vm_resources"].append({"match": "", "resources": {"disk_iops": 1}}), "vm_resources[3].match"),
    (lambda raw: raw["vm_resources"].append({"match": "x"}), "vm_resources[3].resources"),
    (lambda raw: raw["defaults"]["resources"].update(disk_iops=-1), "defaults.resources.disk_iops"),
    (lambda raw: raw["hosts"][0].update(resources={"vcpus": 3}), "hosts[0].resources.vcpus"),
])
def test_bad_declarations_are_refused_naming_the_field(edit, field: str) -> None:
    raw = json.loads(json.dumps(RAW))
    edit(raw)
    with pytest.raises(InputError) as raised:
        parse_inventory(raw)
    assert raised.value.field == field


def _sample(domains: dict[str, list]):
    def sample(host: InventoryHost, interval_s: float) -> HostSample:
        return HostSample(host.name, 16, 65536, 0.1, tuple(domains.get(host.name, [])))
    return sample


def test_the_snapshot_carries_capacities_and_the_rules_demands() -> None:
    domains = {"a": [_domain_on("db-1"), _domain_on("db-big"), _domain_on("cache")],
               "b": [_domain_on("db-off", presence=Presence.SHUT_OFF)]}
    cluster = collect(parse_inventory(RAW), 0, 5, sampler=_sample(domains)).cluster
    assert dict(cluster.host_by_name["b"].resources) == {"disk_iops": 5000, "net_mbit": 10000}
    demands = {v.name: dict(v.resources) for v in cluster.vms}
    assert demands["db-1"] == {"disk_iops": 4000, "net_mbit": 500}
    assert demands["db-big"] == {"disk_iops": 9000, "net_mbit": 500}
    assert demands["cache"] == {}
    # A shut-off domain holds what it asks for when it starts again, as it holds its memory.
    off = cluster.vm_by_name["db-off"]
    assert not off.migratable and dict(off.resources) == {"disk_iops": 4000, "net_mbit": 500}


def _plan_and_inventory():
    inventory = parse_inventory(RAW)
    domains = {"a": [_domain_on(f"db-{i}", memory_mib=2048) for i in range(4)]}
    live = collect(inventory, 0, 5, sampler=_sample(domains)).cluster
    return plan_for(live, policy(Goal.SPREAD)), inventory, live


def _edited(plan, edit):
    record = json.loads(plan_to_json(plan))
    edit(record)
    record["fingerprint"] = cluster_fingerprint(parse_cluster(record["cluster"]))
    return parse_plan(record)


def test_apply_believes_no_capacity_the_inventory_does_not_declare() -> None:
    plan, inventory, live = _plan_and_inventory()
    assert plan.moves, "the premise: the spread plan moves databases"
    assert check_plan_against_inventory(plan, inventory) == ()
    inflated = _edited(plan, lambda r: r["cluster"]["hosts"][1]["resources"].update(disk_iops=90000))
    with pytest.raises(InputError) as raised:
        check_plan_against_inventory(inflated, inventory)
    assert raised.value.field == "cluster.hosts[1].resources"


def test_apply_refuses_a_plan_whose_vms_ask_less_than_the_inventory_says() -> None:
    plan, _, live = _plan_and_inventory()
    check_plan_demands(plan, live)
    understated = _edited(plan, lambda r: r["cluster"]["vms"][0]["resources"].update(disk_iops=1))
    with pytest.raises(InputError) as raised:
        check_plan_demands(understated, live)
    assert raised.value.field == "cluster.vms[0].resources"
    # A VM not seen live is the staleness check's to report, not this one's.
    name = understated.cluster.vms[0].name
    check_plan_demands(understated, Cluster(live.hosts, tuple(v for v in live.vms if v.name != name)))
