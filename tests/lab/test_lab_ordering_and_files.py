"""Issue 19, cases 9 and 7 on real libvirt: a plan the old greedy replay refused is ordered and run
with every host within capacity throughout; planted symlinks make apply refuse before anything moves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from executor.journal import journal_path
from executor.lock import LOCK_DIR_ENV
from lab.control import Lab
from tests.lab.helpers import PLAN_TIME_LIMIT, rebalance, write_yaml
from tests.lab.safety_checks import MemorySampler, assert_each_guest_once_within_capacity

MIB_PER_UNIT = 32  # the unit test's GiB, scaled to lab guests

# tests/executor/test_exec_order_search.py's three-move deadlock: the greedy replay starts v5 first,
# which takes the memory on lab-b that v0 needs; v2 cannot enter lab-a before v0 leaves (vCPUs);
# lab-c is disabled, so nothing can park. The only safe order is v0, v2, v5.
HOSTS = {"lab-a": (24, 14), "lab-b": (12, 6), "lab-c": (4, 2)}  # (memory units, vCPUs)
GUESTS = {"v0": ("lab-a", 5, 4), "v1": ("lab-a", 8, 3), "v2": ("lab-b", 3, 2), "v3": ("lab-a", 4, 3),
          "v4": ("lab-a", 1, 3), "v5": ("lab-a", 6, 1)}
TARGET = {"v0": "lab-b", "v2": "lab-a", "v5": "lab-b"}


def tight_inventory(lab: Lab, path: Path) -> Path:
    lab.inventory(path)
    document = yaml.safe_load(path.read_text())
    document["defaults"].update({"cpu_allocation_ratio": 1.0, "reserved_memory_mib": 0})
    for host in document["hosts"]:
        units, vcpus = HOSTS[host["name"]]
        host.update({"memory_mib": units * MIB_PER_UNIT, "cpus": vcpus})
        if host["name"] == "lab-c":
            host["state"] = "disabled"
    return write_yaml(path, document)


def planned_with_moves(inventory: Path, plan_file: Path, target: dict[str, str]) -> dict[str, Any]:
    """A plan of the live cluster, its moves set to `target`: the cluster part (and so the
    fingerprint) is the planner's own, so apply's trust checks still hold it to the inventory."""
    result = rebalance("plan", "--inventory", inventory, *PLAN_TIME_LIMIT, "-o", plan_file)
    assert result.exit_code == 0, result.output
    plan = json.loads(plan_file.read_text())
    vms = {vm["name"]: vm for vm in plan["cluster"]["vms"]}
    plan["moves"] = [{"vm": name, "uuid": vms[name]["uuid"], "source": vms[name]["host"], "destination": host,
                      "memory_mib": vms[name]["memory_mib"], "vcpus": vms[name]["vcpus"],
                      "cpu_load_millicores": 0, "reason": "test"} for name, host in target.items()]
    plan_file.write_text(json.dumps(plan))
    return plan


def test_a_plan_the_greedy_replay_deadlocked_on_runs_in_its_only_safe_order(clean_lab: Lab, tmp_path: Path) -> None:
    for name, (host, units, vcpus) in GUESTS.items():
        clean_lab.start_guest(host, name, memory_mib=units * MIB_PER_UNIT, vcpus=vcpus)
    inventory = tight_inventory(clean_lab, tmp_path / "hosts.yaml")
    plan_file = tmp_path / "plan.json"
    planned_with_moves(inventory, plan_file, TARGET)
    capacity = {name: units * MIB_PER_UNIT for name, (units, _) in HOSTS.items()}

    preview = rebalance("apply", plan_file, "--dry-run")
    assert preview.exit_code == 0, preview.output
    order = [line.split()[3] for line in preview.output.splitlines() if line.strip()[:1].isdigit()]
    assert order == ["v0", "v2", "v5"]
    with MemorySampler(clean_lab).running() as sampler:
        result = rebalance("apply", plan_file, "--inventory", inventory, "--yes", "--max-parallel", "1")

    assert result.exit_code == 0, result.output
    sampler.assert_within(capacity)
    assert_each_guest_once_within_capacity(clean_lab, set(GUESTS), capacity)
    placement = clean_lab.placement()
    assert {name: placement[name][0] for name in TARGET} == TARGET


def test_planted_symlinks_at_the_journal_or_the_lock_directory_refuse_apply_before_anything_moves(
        clean_lab: Lab, inventory: Path, tmp_path: Path, monkeypatch: Any) -> None:
    clean_lab.start_guest("lab-a", "g1", memory_mib=32)
    clean_lab.start_guest("lab-a", "g2", memory_mib=32)
    plan_file = tmp_path / "plan.json"
    result = rebalance("plan", "--inventory", inventory, "--drain", "lab-a", *PLAN_TIME_LIMIT, "-o", plan_file)
    assert result.exit_code == 0, result.output
    victim = tmp_path / "root-owned-file"
    victim.write_text("precious\n")
    before = clean_lab.placement()

    journal_path(plan_file).symlink_to(victim)
    through_journal = rebalance("apply", plan_file, "--inventory", inventory, "--yes")
    journal_path(plan_file).unlink()
    (tmp_path / "locks-elsewhere").mkdir(mode=0o700)
    (tmp_path / "locks").symlink_to(tmp_path / "locks-elsewhere")
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "locks"))
    through_lock_dir = rebalance("apply", plan_file, "--inventory", inventory, "--yes")

    for refused in (through_journal, through_lock_dir):
        assert refused.exit_code == 2, refused.output
        assert "Traceback" not in refused.output
    assert victim.read_text() == "precious\n"
    assert clean_lab.placement() == before
    assert list((tmp_path / "locks-elsewhere").iterdir()) == []
    assert (plan_file.stat().st_mode & 0o777) == 0o600  # the plan itself was written private
