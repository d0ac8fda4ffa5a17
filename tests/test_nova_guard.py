"""Labels and the Nova mark from collected domains into the snapshot, apply's refusal of a plan that
moves a Nova-managed domain, doctor's count, and the plan output's list of what cannot move.
(The libvirt ends of each are in tests/lab/test_lab_labels.py.)"""

from __future__ import annotations

from types import MappingProxyType

import pytest

from cluster.collector import DomainSample, HostSample, collect
from cluster.doctor import Status
from cluster.doctor_nova import nova_domains
from cluster.domain_metadata import NOVA_REASON, NovaInstance
from cluster.domain_presence import Presence
from cluster.inventory import InventoryHost, parse_inventory
from cluster.sightings import PLACEHOLDER_LABEL
from executor.trust import check_no_nova_moves
from planner.domain.errors import InputError
from planner.domain.policy import Goal
from rebalance.render import render_plan, unmigratable_lines
from tests.builders import cluster, host, plan_for, policy, vm

INVENTORY = parse_inventory({"hosts": [{"name": "a"}, {"name": "b"}],
                             "vm_labels": [{"match": "web-*", "labels": {"app": "web", "tier": "front"}}]})
SHOP = NovaInstance("web-9", "m1.small", "shop",
                    MappingProxyType({"nova.name": "web-9", "nova.flavor": "m1.small", "nova.project": "shop"}))


def sample(name: str, labels: dict[str, str] | None = None, nova: NovaInstance | None = None, problem: str = "",
           presence: Presence = Presence.RUNNING, migrating_out: bool = False) -> DomainSample:
    migratable, reason = (False, NOVA_REASON) if nova else (True, "")
    return DomainSample(f"uuid-{name}", name, 1, 512, 100, migratable, reason, presence, migrating_out,
                        MappingProxyType(labels or {}), nova, problem)


def hosts_with(domains: dict[str, list[DomainSample]]):
    def measure(inventory_host: InventoryHost, interval_s: float) -> HostSample:
        return HostSample(inventory_host.name, 16, 65536, 0.1, tuple(domains.get(inventory_host.name, [])))
    return measure


def test_the_snapshot_carries_merged_labels_and_the_nova_reason() -> None:
    domains = {"a": [sample("web-1", {"tier": "back"}), sample("instance-0000002a", nova=SHOP), sample("db-1")]}
    collection = collect(INVENTORY, 0, 5, sampler=hosts_with(domains))
    vms = collection.cluster.vm_by_name
    assert dict(vms["web-1"].labels) == {"app": "web", "tier": "back"}  # its own metadata wins over the rule
    nova = vms["instance-0000002a"]
    # the rule matched the Nova instance name web-9; Nova's own labels are there too
    assert dict(nova.labels) == {"app": "web", "tier": "front", "nova.name": "web-9", "nova.flavor": "m1.small",
                                 "nova.project": "shop"}
    assert (nova.migratable, nova.unmigratable_reason) == (False, NOVA_REASON)
    assert dict(vms["db-1"].labels) == {}
    assert collection.warnings == ()


def test_a_placeholder_carries_only_its_own_label_not_the_vms() -> None:
    halves = {"a": [sample("web-1", {"x": "1"}, presence=Presence.RUNNING, migrating_out=True)],
              "b": [sample("web-1", {"x": "1"}, presence=Presence.INCOMING)]}
    vms = collect(INVENTORY, 0, 5, sampler=hosts_with(halves)).cluster.vms
    by_host = {v.host: v for v in vms}
    assert dict(by_host["a"].labels) == {"app": "web", "tier": "front", "x": "1"}
    assert dict(by_host["b"].labels) == {PLACEHOLDER_LABEL: "web-1"}


def test_unreadable_metadata_is_a_warning_of_the_collection() -> None:
    domains = {"b": [sample("odd", problem="its rebalance labels metadata is invalid (x): those labels are ignored")]}
    collection = collect(INVENTORY, 0, 5, sampler=hosts_with(domains))
    assert collection.warnings == ("domain odd on b: its rebalance labels metadata is invalid (x): those labels "
                                   "are ignored",)
    assert dict(collection.cluster.vm_by_name["odd"].labels) == {}


# -- apply's trust check ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spread_plan():
    made = plan_for(cluster([host("a"), host("b")], [vm(f"vm{i}", "a", memory_mib=2048, uuid=f"u{i}")
                                                      for i in range(4)]), policy(Goal.SPREAD))
    assert made.moves
    return made


def test_a_plan_moving_a_domain_the_live_hosts_call_nova_managed_is_refused_by_uuid_or_name(spread_plan) -> None:
    move = spread_plan.moves[0]
    index = 0
    for managed in ([(move.uuid, "renamed")], [("other-uuid", move.vm)]):
        with pytest.raises(InputError) as caught:
            check_no_nova_moves(spread_plan, managed)
        assert caught.value.field == f"moves[{index}].vm"
        assert caught.value.message == (f"{move.vm} ({move.source} → {move.destination}) is {NOVA_REASON}; "
                                        f"rebalance never migrates it")


def test_a_plan_moving_no_nova_domain_passes(spread_plan) -> None:
    moved = {m.vm for m in spread_plan.moves}
    still = next(v for v in spread_plan.cluster.vms if v.name not in moved)
    check_no_nova_moves(spread_plan, [(still.uuid, still.name), ("", "")])


# -- doctor ------------------------------------------------------------------------------------------------

class Domain:
    def __init__(self, xml: str) -> None:
        self.xml = xml

    def XMLDesc(self, flags: int) -> str:
        return self.xml


class Connection:
    def __init__(self, *xmls: str, fails: bool = False) -> None:
        self.domains, self.fails = [Domain(x) for x in xmls], fails

    def listAllDomains(self, flags: int) -> list[Domain]:
        if self.fails:
            raise RuntimeError("connection reset")
        return self.domains


PLAIN = "<domain><name>p</name></domain>"
NOVA = "<domain><metadata><nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'/></metadata></domain>"


def test_doctor_counts_the_nova_managed_domains() -> None:
    check = nova_domains({"a": Connection(PLAIN, NOVA), "b": Connection(NOVA, PLAIN, PLAIN)})
    assert check.status is Status.WARN
    assert check.detail.startswith("Nova-managed cluster: 2 of 5 domains carry Nova metadata")
    assert NOVA_REASON in check.detail


def test_doctor_passes_a_cluster_without_nova_and_warns_when_it_cannot_look() -> None:
    assert nova_domains({"a": Connection(PLAIN)}).status is Status.PASS
    failed = nova_domains({"a": Connection(PLAIN), "b": Connection(fails=True)})
    assert failed.status is Status.WARN and failed.detail == "b: cannot read the domains: connection reset"


# -- plan output ----------------------------------------------------------------------------------------

def test_the_plan_lists_unmigratable_vms_with_their_reason() -> None:
    vms = [vm("web-1", "a"), vm("web-2", "a"), vm("instance-1", "a", migratable=False, unmigratable_reason=NOVA_REASON)]
    vms += [vm(f"gpu-{i}", "b", migratable=False, unmigratable_reason="host device pci") for i in range(7)]
    made = plan_for(cluster([host("a"), host("b")], vms), policy(Goal.SPREAD))
    assert "instance-1" not in {m.vm for m in made.moves}
    assert unmigratable_lines(made) == [
        "", "Not migratable, left where they are:",
        f"  instance-1: {NOVA_REASON}",
        "  gpu-0, gpu-1, gpu-2, gpu-3, gpu-4 and 2 more: host device pci",
    ]
    assert f"  instance-1: {NOVA_REASON}" in render_plan(made).splitlines()
