"""Issue 22 on the real lab: VM labels written with `rebalance label` (libvirt metadata) and given
by inventory rules reach the snapshot; a rule on labels is repaired by plan + apply; a rule that
matches nothing warns (and fails with --strict); a domain carrying Nova's metadata is never
migrated, by plan, apply or run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from cluster.domain_metadata import NOVA_REASON, read_metadata
from executor.journal import JournalEvent
from lab.control import Lab
from lab.guests import guest_xml
from operations.history import history_path, read_runs
from planner.domain.plan import cluster_fingerprint
from planner.formats.scenario import parse_cluster
from tests.lab.helpers import PLAN_TIME_LIMIT, journal, outcomes, rebalance, rebalance_process, write_yaml
from tests.lab.safety_checks import FAT_MIB, custom_inventory, end, make_plan, moves_of, pinned, started, wait_for_journal

NOVA_VM = "instance-0000002a"
NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
NOVA_METADATA = (
    f"<nova:instance xmlns:nova='{NOVA_NS}'>"
    "<nova:package version='27.1.0'/><nova:name>shop-db</nova:name>"
    "<nova:creationTime>2024-05-01 10:00:00</nova:creationTime>"
    "<nova:flavor name='m1.tiny'><nova:memory>32</nova:memory><nova:vcpus>1</nova:vcpus></nova:flavor>"
    "<nova:owner><nova:user uuid='5a1d'>admin</nova:user><nova:project uuid='9f3c'>shop</nova:project></nova:owner>"
    "</nova:instance>")


def with_vm_labels(inventory: Path, rules: list[dict[str, Any]]) -> Path:
    document = yaml.safe_load(inventory.read_text())
    document["vm_labels"] = rules
    return write_yaml(inventory, document)


def snapshot_labels(inventory: Path, tmp_path: Path) -> dict[str, dict[str, str]]:
    snapshot = tmp_path / "snapshot.json"
    result = rebalance("collect", "--inventory", inventory, "-o", snapshot)
    assert result.exit_code == 0, result.output
    return {vm["name"]: vm["labels"] for vm in json.loads(snapshot.read_text())["vms"]}


def label(inventory: Path, *words: str) -> Any:
    return rebalance("label", "--inventory", inventory, *words)


def start_nova_guest(lab: Lab, host: str) -> str:
    connection = lab.connect(host)
    try:
        domain = connection.defineXML(guest_xml(NOVA_VM, 32, metadata=NOVA_METADATA))
        domain.create()
        return domain.UUIDString()
    finally:
        connection.close()


# -- (a) labels from metadata and from the inventory reach the snapshot ---------------------------------

def test_labels_written_with_rebalance_label_and_given_by_inventory_rules_are_in_the_snapshot(
        clean_lab: Lab, inventory: Path, tmp_path: Path) -> None:
    clean_lab.start_guest("lab-a", "web-1")
    clean_lab.start_guest("lab-b", "web-2")
    clean_lab.start_guest("lab-c", "db-1")
    with_vm_labels(inventory, [{"match": "web-*", "labels": {"app": "web", "tier": "front"}}])

    assert label(inventory, "web-1", "tier=edge", "owner=ops").exit_code == 0
    assert label(inventory, "db-1", "app=db").exit_code == 0
    removed = label(inventory, "web-1", "owner-")
    assert removed.exit_code == 0, removed.output

    assert snapshot_labels(inventory, tmp_path) == {
        "web-1": {"app": "web", "tier": "edge"},  # its own metadata wins over the rule
        "web-2": {"app": "web", "tier": "front"},
        "db-1": {"app": "db"},
    }
    shown = label(inventory, "web-1")
    assert shown.exit_code == 0
    rows = {tuple(line.split(None, 2)) for line in shown.stdout.splitlines()[3:]}
    assert rows == {("app", "web", "inventory vm_labels[0] web-*"), ("tier", "edge", "metadata")}


def own_labels(lab: Lab, host: str, name: str) -> dict[str, str]:
    connection = lab.connect(host)
    try:
        return dict(read_metadata(connection.lookupByName(name).XMLDesc(0)).labels)
    finally:
        connection.close()


def test_labels_persist_in_the_configuration_and_every_definition_of_a_shut_off_domain_is_labelled(
        clean_lab: Lab, inventory: Path, tmp_path: Path) -> None:
    clean_lab.start_guest("lab-a", "web-1")
    assert label(inventory, "web-1", "app=web").exit_code == 0
    connection = clean_lab.connect("lab-a")
    try:
        domain = connection.lookupByName("web-1")
        domain.destroy()  # shut off: only the persistent definition is left
        leftover = domain.XMLDesc(0)
    finally:
        connection.close()
    connection = clean_lab.connect("lab-b")
    try:
        connection.defineXML(leftover)  # the same domain (UUID) defined on lab-b too, as a migration leaves it
    finally:
        connection.close()
    assert snapshot_labels(inventory, tmp_path)["web-1"] == {"app": "web"}

    relabelled = label(inventory, "web-1", "tier=back")

    assert relabelled.exit_code == 0, relabelled.output
    assert snapshot_labels(inventory, tmp_path)["web-1"] == {"app": "web", "tier": "back"}
    assert own_labels(clean_lab, "lab-a", "web-1") == own_labels(clean_lab, "lab-b", "web-1") == {
        "app": "web", "tier": "back"}


def test_label_errors_exit_2_for_a_bad_label_and_1_for_an_unknown_vm(clean_lab: Lab, inventory: Path) -> None:
    clean_lab.start_guest("lab-a", "web-1")
    bad = label(inventory, "web-1", "bad key=x")
    assert bad.exit_code == 2 and bad.stderr.startswith("error: label 'bad key=x'")
    missing = label(inventory, "nobody", "app=web")
    assert missing.exit_code == 1
    assert "no domain named 'nobody' on the reachable hosts" in missing.stderr


# -- (b) an anti-affinity rule on labels is repaired by plan + apply ------------------------------------

def test_an_anti_affinity_rule_on_labels_is_repaired_by_plan_and_apply(clean_lab: Lab, tmp_path: Path) -> None:
    for name in ("web-1", "web-2", "db-1"):
        clean_lab.start_guest("lab-a", name)
    inventory = with_vm_labels(clean_lab.inventory(tmp_path / "hosts.yaml", cpus=16),
                               [{"match": "web-2", "labels": {"app": "web"}}])
    assert label(inventory, "web-1", "app=web").exit_code == 0
    # Consolidation on its own would leave all three together: only the rule moves a web guest.
    policy = write_yaml(tmp_path / "policy.yaml", {
        "goal": "consolidate", "consolidate": {"max_cpu_percent": 100},
        "rules": {"anti_affinity": [{"name": "webs-apart", "vms": {"labels": {"app": "web"}}}]}})
    plan_file = tmp_path / "plan.json"

    planned = rebalance("plan", "--inventory", inventory, "--policy", policy, "--strict", *PLAN_TIME_LIMIT,
                        "-o", plan_file)

    assert planned.exit_code == 0, planned.output
    moves = json.loads(plan_file.read_text())["moves"]
    assert len(moves) == 1 and moves[0]["vm"] in ("web-1", "web-2")
    assert "because anti-affinity 'webs-apart' had web-1 and web-2 on lab-a" in moves[0]["reason"], moves[0]
    assert "webs-apart" in planned.output  # the plan's own table says which rule the move is for
    applied = rebalance("apply", plan_file, "--inventory", inventory, "--yes")
    assert applied.exit_code == 0, applied.output
    placement = clean_lab.placement()
    assert placement["web-1"] != placement["web-2"]  # each host's own libvirt says so
    assert all(len(hosts) == 1 for hosts in placement.values())


# -- (c) a rule matching nothing ----------------------------------------------------------------------

def test_a_rule_that_matches_no_vm_warns_and_fails_with_strict(clean_lab: Lab, inventory: Path,
                                                               tmp_path: Path) -> None:
    clean_lab.start_guest("lab-a", "web-1")
    policy = write_yaml(tmp_path / "policy.yaml",
                        {"rules": {"anti_affinity": [{"name": "caches-apart", "vms": {"labels": {"app": "cache"}}}]}})
    command = ["plan", "--inventory", inventory, "--policy", policy, *PLAN_TIME_LIMIT]
    expected = f"{policy}: rules.anti_affinity[0].vms: rule 'caches-apart' selects no VM of the cluster (app=cache)"

    lenient = rebalance(*command)
    strict = rebalance(*command, "--strict")

    assert lenient.exit_code == 0, lenient.output
    assert f"warning: {expected} (an error with --strict)" in lenient.stderr.splitlines()
    assert strict.exit_code == 2 and strict.stdout == ""
    assert strict.stderr.splitlines() == [f"error: {expected}"]


# -- (d) a Nova-managed domain is never migrated --------------------------------------------------------

def test_a_nova_domain_is_unmigratable_in_plans_refused_by_apply_and_left_alone_by_run(
        clean_lab: Lab, inventory: Path, tmp_path: Path) -> None:
    uuid = start_nova_guest(clean_lab, "lab-a")
    for name in ("g1", "g2"):
        clean_lab.start_guest("lab-a", name)
    doctor = rebalance("doctor", "--inventory", inventory)
    assert "[WARN] openstack nova: Nova-managed cluster: 1 of 3 domains carry Nova metadata" in doctor.stdout
    shown = label(inventory, NOVA_VM)
    assert shown.exit_code == 0 and "managed by OpenStack Nova" in shown.stdout.splitlines()[0]
    assert {tuple(line.split(None, 2)) for line in shown.stdout.splitlines()[3:]} == {
        ("nova.flavor", "m1.tiny", "nova"), ("nova.name", "shop-db", "nova"), ("nova.project", "shop", "nova")}

    plan_file = tmp_path / "plan.json"
    planned = rebalance("plan", "--inventory", inventory, "--goal", "spread", *PLAN_TIME_LIMIT, "-o", plan_file)

    assert planned.exit_code == 0, planned.output
    assert f"  {NOVA_VM}: {NOVA_REASON}" in planned.stdout.splitlines()
    document = json.loads(plan_file.read_text())
    assert document["moves"] and NOVA_VM not in {m["vm"] for m in document["moves"]}

    # A hand-edited plan: the Nova domain made migratable in the plan's own cluster, and moved.
    [vm] = [v for v in document["cluster"]["vms"] if v["name"] == NOVA_VM]
    vm.update(migratable=True, unmigratable_reason="")
    document["fingerprint"] = cluster_fingerprint(parse_cluster(document["cluster"]))
    document["moves"].append({**document["moves"][0], "vm": NOVA_VM, "uuid": uuid, "source": "lab-a",
                              "destination": "lab-c", "memory_mib": vm["memory_mib"], "vcpus": vm["vcpus"]})
    plan_file.write_text(json.dumps(document, indent=2))
    before = clean_lab.placement()

    applied = rebalance("apply", plan_file, "--inventory", inventory, "--yes")

    assert applied.exit_code == 2, applied.output
    index = len(document["moves"]) - 1
    assert applied.stderr.splitlines() == [
        f"error: {plan_file}: moves[{index}].vm: {NOVA_VM} (lab-a → lab-c) is {NOVA_REASON}; rebalance never "
        f"migrates it"]
    assert clean_lab.placement() == before  # nothing ran, not even the plan's other moves
    assert not [e for e in journal(plan_file) if e.event is JournalEvent.STEP_STARTED]

    state = tmp_path / "state"
    night = rebalance("run", "--goal", "spread", "--inventory", inventory, "--state-dir", state, "--yes",
                      *PLAN_TIME_LIMIT)

    assert night.exit_code == 0, night.stderr
    [record] = read_runs(history_path(state))
    assert record.moves_done > 0 and NOVA_VM not in {m.vm for m in record.moves}
    assert clean_lab.placement()[NOVA_VM] == ["lab-a"]


def test_the_backend_refuses_a_domain_that_became_nova_managed_after_apply_checked_the_plan(
        clean_lab: Lab, tmp_path: Path) -> None:
    """Defense in depth: the domain's XML is read again right before its own migration starts."""
    # lab-c has room for one guest at a time: `later` can only arrive once `slow` has left.
    inventory = custom_inventory(clean_lab, tmp_path / "hosts.yaml", memory_mib={"lab-c": FAT_MIB + 16})
    clean_lab.start_guest("lab-c", "slow", memory_mib=FAT_MIB, fat=True)
    clean_lab.start_guest("lab-a", "later", memory_mib=32)
    plan_file = tmp_path / "plan.json"
    planned = make_plan(inventory, plan_file, "--policy", pinned(tmp_path, {"slow": "lab-b", "later": "lab-c"}))
    assert moves_of(planned) == {"slow": ("lab-c", "lab-b"), "later": ("lab-a", "lab-c")}
    slow = write_yaml(tmp_path / "slow.yaml", {"live_migration_bandwidth": 3, "progress_interval_s": 0.2})

    apply = rebalance_process("apply", plan_file, "--inventory", inventory, "--yes", "--config", slow)
    try:
        wait_for_journal(plan_file, apply, started("slow"))
        connection = clean_lab.connect("lab-a")
        try:  # Nova takes the domain over while apply is busy with another move
            connection.lookupByName("later").setMetadata(2, "<instance><name>later</name></instance>", "nova",
                                                          NOVA_NS, 1 | 2)
        finally:
            connection.close()
        output, _ = apply.communicate(timeout=120)
    finally:
        end(apply)

    assert apply.returncode == 1, output
    assert outcomes(plan_file) == {"slow": JournalEvent.STEP_DONE, "later": JournalEvent.STEP_FAILED}
    assert f"refused: {NOVA_REASON}" in output
    placement = clean_lab.placement()
    assert (placement["slow"], placement["later"]) == (["lab-b"], ["lab-a"])
