"""A hand-edited plan is refused before apply acts on it: each tampered field is named.

The plan is made by the planner from a cluster the collector's own `cluster_of` derives from the
inventory, then written to JSON, edited as an attacker would, and read back. Most edits recompute
the fingerprint (it is a plain hash: anyone can), so each test reaches the check it is about.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from executor.trust import check_fingerprint, check_plan_against_inventory, check_plan_capacities
from cluster.collector import HostSample, cluster_of
from planner.domain.errors import InputError
from cluster.inventory import Inventory, parse_inventory
from planner.domain.model import Cluster, HostState
from planner.domain.plan import Plan, cluster_fingerprint
from planner.formats.plan_io import parse_plan, plan_to_json
from planner.domain.policy import Goal
from planner.formats.scenario import parse_cluster
from tests.builders import plan_for, policy, vm

INVENTORY = parse_inventory({
    "defaults": {"live_migration_uri": "qemu+tls://%s.mig/system", "reserved_memory_mib": 512},
    "hosts": [
        {"name": "a", "uri": "qemu+tls://a/system", "cpus": 8, "memory_mib": 16896, "labels": {"rack": "r1"}},
        {"name": "b", "uri": "qemu+unix:///system?socket=/run/libvirt/b-sock"},  # capacity as measured
        {"name": "c", "uri": "qemu+ssh://root@c/system", "cpus": 8, "memory_mib": 16896, "state": "disabled"},
    ],
})
MEASURED = {"a": (32, 65536), "b": (8, 16896), "c": (8, 16896)}  # what libvirt reports (a, c declared)
A, B, C = 0, 1, 2  # the hosts' positions in the plan's cluster

Record = dict[str, Any]


@pytest.fixture(scope="module")
def plan() -> Plan:
    """Every VM on a, b empty, c disabled: spreading moves some VMs from a to b, none to c."""
    samples = [HostSample(name, cpus, memory, 0.1, ()) for name, (cpus, memory) in MEASURED.items()]
    hosts = cluster_of(INVENTORY, samples).hosts
    made = plan_for(Cluster(hosts, tuple(vm(f"vm{i}", on="a", memory_mib=2048) for i in range(6))),
                    policy(Goal.SPREAD))
    assert made.moves and {m.destination for m in made.moves} == {"b"}
    return made


def edited(plan: Plan, edit: Callable[[Record], None], refingerprint: bool = True) -> Plan:
    """The plan as JSON, edited, read back as apply would read it."""
    record = json.loads(plan_to_json(plan))
    edit(record)
    if refingerprint:
        record["fingerprint"] = cluster_fingerprint(parse_cluster(record["cluster"]))
    return parse_plan(record)


def setting(host: int, **fields: Any) -> Callable[[Record], None]:
    return lambda record: record["cluster"]["hosts"][host].update(fields)


def refused(plan: Plan, inventory: Inventory = INVENTORY) -> InputError:
    with pytest.raises(InputError) as raised:
        check_plan_against_inventory(plan, inventory)
    return raised.value


def test_an_untampered_plan_passes_as_made_and_as_read_back(plan: Plan) -> None:
    assert check_plan_against_inventory(plan, INVENTORY) == ()
    assert check_plan_against_inventory(edited(plan, lambda record: None, refingerprint=False), INVENTORY) == ()
    assert check_plan_capacities(plan, {"b": MEASURED["b"]}) == ()


@pytest.mark.parametrize("host, fields, field", [
    (A, {"uri": "qemu+ext:///system?command=/tmp/x"}, "cluster.hosts[0].uri"),
    (B, {"uri": "qemu+unix:///system?socket=/home/eve/sock"}, "cluster.hosts[1].uri"),  # a stranger's daemon
    (B, {"uri": "qemu+tcp://b/system"}, "cluster.hosts[1].uri"),  # allowed by the policy, not this host's
    (A, {"uri": ""}, "cluster.hosts[0].uri"),  # would fall back to a template apply chooses
    (B, {"migration_uri": "qemu+tls://eve.example.org/system"}, "cluster.hosts[1].migration_uri"),
    (A, {"cpus": 64}, "cluster.hosts[0].cpus"),
    (A, {"memory_mib": 1048576}, "cluster.hosts[0].memory_mib"),
    (C, {"memory_mib": 8192}, "cluster.hosts[2].memory_mib"),  # smaller is a different host too
    (A, {"cpu_allocation_ratio": 16.0}, "cluster.hosts[0].cpu_allocation_ratio"),
    (B, {"ram_allocation_ratio": 1.5}, "cluster.hosts[1].ram_allocation_ratio"),
    (A, {"reserved_memory_mib": 0}, "cluster.hosts[0].reserved_memory_mib"),
    (C, {"state": "active"}, "cluster.hosts[2].state"),  # un-disabling a host
    (A, {"state": "maintenance"}, "cluster.hosts[0].state"),
    (A, {"labels": {"rack": "r2"}}, "cluster.hosts[0].labels"),
])
def test_a_host_field_that_differs_from_the_inventory_is_refused(
        plan: Plan, host: int, fields: dict[str, Any], field: str) -> None:
    try:
        tampered = edited(plan, setting(host, **fields))
    except InputError as error:  # a URI that would run a command is refused as soon as the file is read
        assert error.within("cluster").field == field and "refused" in error.message
        return
    error = refused(tampered)
    assert error.field == field
    assert "inventory" in error.message


def test_a_host_the_inventory_lacks_is_refused(plan: Plan) -> None:
    def add_host(record: Record) -> None:
        eve = {**record["cluster"]["hosts"][B], "name": "eve", "uri": "qemu+tls://eve/system"}
        record["cluster"]["hosts"].append(eve)

    error = refused(edited(plan, add_host))
    assert error.field == "cluster.hosts[3].name" and "'eve'" in error.message


def test_a_host_left_out_of_the_plan_is_a_warning_unless_a_move_touches_it(plan: Plan) -> None:
    without_c = edited(plan, lambda record: record["cluster"]["hosts"].pop(C))
    warnings = check_plan_against_inventory(without_c, INVENTORY)
    assert len(warnings) == 1 and "inventory host c" in warnings[0]

    hosts_without_b = tuple(h for h in plan.cluster.hosts if h.name != "b")
    cluster = Cluster(hosts_without_b, plan.cluster.vms)  # b had no VMs before the plan
    error = refused(replace(plan, cluster=cluster, fingerprint=cluster_fingerprint(cluster)))
    assert error.field == "moves[0].destination" and "'b'" in error.message


def test_a_plan_host_removed_from_the_inventory_is_refused(plan: Plan) -> None:
    smaller = Inventory(tuple(h for h in INVENTORY.hosts if h.name != "c"), "hosts.yaml")
    error = refused(plan, smaller)
    assert error.field == "cluster.hosts[2].name" and "hosts.yaml" in error.message


def test_an_edited_fingerprint_is_refused(plan: Plan) -> None:
    digits = plan.fingerprint[-1]
    other = plan.fingerprint[:-1] + ("0" if digits != "0" else "1")
    error = refused(edited(plan, lambda record: record.update(fingerprint=other), refingerprint=False))
    assert error.field == "fingerprint" and "does not match" in error.message


@pytest.mark.parametrize("fingerprint", [
    "md5:0123456789abcdef0123456789abcdef",
    "sha256:" + "A" * 64,
    "sha256:" + "0" * 63,
    "sha256:" + "0" * 65,
    "sha256:" + "0" * 64 + "\n",
    "0" * 64,
    5,
])
def test_a_malformed_fingerprint_is_refused(plan: Plan, fingerprint: object) -> None:
    with pytest.raises(InputError) as raised:
        check_fingerprint(replace(plan, fingerprint=fingerprint))  # type: ignore[arg-type]
    assert raised.value.field == "fingerprint" and "64 lower-case hex" in raised.value.message


@pytest.mark.parametrize("edit", [
    setting(A, cpus=64),
    setting(C, state="active"),
    lambda record: record["cluster"]["vms"][0].update(memory_mib=1),
    lambda record: record["cluster"]["vms"][0].update(host="b"),
])
def test_a_cluster_edited_under_an_unchanged_fingerprint_is_refused(
        plan: Plan, edit: Callable[[Record], None]) -> None:
    error = refused(edited(plan, edit, refingerprint=False))
    assert error.field == "fingerprint"


def test_a_move_to_a_disabled_host_is_refused(plan: Plan) -> None:
    error = refused(edited(plan, lambda record: record["moves"][0].update(destination="c")))
    assert error.field == "moves[0].destination" and "disabled" in error.message


def test_a_move_to_a_host_disabled_only_in_the_inventory_is_refused(plan: Plan) -> None:
    """The trusted state counts, even when the plan's cluster agrees with a stale inventory."""
    hosts = tuple(replace(h, state=HostState.DISABLED) if h.name == "b" else h for h in INVENTORY.hosts)
    error = refused(plan, replace(INVENTORY, hosts=hosts))
    assert error.field in ("cluster.hosts[1].state", "moves[0].destination")
    cluster = Cluster(tuple(replace(h, state=HostState.DISABLED) if h.name == "b" else h for h in plan.cluster.hosts),
                      plan.cluster.vms)
    error = refused(replace(plan, cluster=cluster, fingerprint=cluster_fingerprint(cluster)),
                    replace(INVENTORY, hosts=hosts))
    assert error.field == "moves[0].destination" and "disabled" in error.message


@pytest.mark.parametrize("fields, field", [
    ({"source": "b"}, "moves[0].source"),  # the VM is on a
    ({"destination": "a"}, "moves[0].destination"),  # where it already is
    ({"memory_mib": 1}, "moves[0].memory_mib"),  # would let apply order it as smaller than it is
    ({"vcpus": 64}, "moves[0].vcpus"),
    ({"uuid": "uuid-of-another-vm"}, "moves[0].uuid"),
])
def test_a_move_that_disagrees_with_the_plans_cluster_is_refused(
        plan: Plan, fields: dict[str, Any], field: str) -> None:
    error = refused(edited(plan, lambda record: record["moves"][0].update(fields)))
    assert error.field == field


def test_a_vm_moved_twice_is_refused(plan: Plan) -> None:
    twice = replace(plan, moves=(*plan.moves, plan.moves[0]))
    error = refused(twice)
    assert error.field == f"moves[{len(plan.moves)}].vm" and "moved twice" in error.message


def test_measured_capacities_bound_what_the_plan_may_claim(plan: Plan) -> None:
    raised = edited(plan, setting(B, cpus=64))
    assert check_plan_against_inventory(raised, INVENTORY) == ()  # b's capacity is left to measurement
    with pytest.raises(InputError) as error:
        check_plan_capacities(raised, {"b": MEASURED["b"]})
    assert error.value.field == "cluster.hosts[1].cpus" and "64" in error.value.message
    with pytest.raises(InputError) as error:
        check_plan_capacities(edited(plan, setting(B, memory_mib=999999)), {"b": MEASURED["b"]})
    assert error.value.field == "cluster.hosts[1].memory_mib"
    grown = check_plan_capacities(plan, {"b": (16, MEASURED["b"][1])})
    assert len(grown) == 1 and "16 cpus" in grown[0]
