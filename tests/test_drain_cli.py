"""`rebalance drain` on the simulated cluster (tests/harness.py): cordon, plan, apply, verify empty;
unmigratable VMs refused (fail), left (skip) or powered off first (shutdown); --dry-run records nothing."""

from __future__ import annotations

import json
from pathlib import Path

from cluster.domain_metadata import NOVA_REASON
from operations.cordons import read_cordons
from planner.formats.plan_io import load_plan
from tests.harness import invoke


def cluster(path: Path, stuck: bool = False) -> Path:
    """Three VMs on a (one with a local disk when `stuck`), b and c roomy."""
    vms = [{"name": f"v{i}", "host": "a", "vcpus": 1, "memory_mib": 32, "cpu_load_millicores": 100} for i in range(3)]
    if stuck:
        vms[1].update(migratable=False, unmigratable_reason="local disk /var/lib/x.img")
    document = {"hosts": [{"name": h, "cpus": 8, "memory_mib": 4096} for h in "abc"], "vms": vms}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_drain_cordons_moves_everything_and_reports_the_empty_host(tmp_path: Path) -> None:
    snapshot, state = cluster(tmp_path / "snap.json"), tmp_path / "state"
    result = invoke("drain", "a", "--inventory", snapshot, "--state-dir", state, "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == \
        "a drained: 3 VMs moved (96 MiB), host cordoned (uncordon with: rebalance uncordon a)"
    assert read_cordons(state)["a"].why == "drain"
    plans = list((state / "drains").glob("*/plan.json"))
    assert len(plans) == 1 and (plans[0].parent / "plan.journal.jsonl").exists()
    moves = load_plan(plans[0]).moves
    assert sorted(m.vm for m in moves) == ["v0", "v1", "v2"] and all(m.destination != "a" for m in moves)


def test_unmigratable_vms_fail_the_drain_before_anything_moves_and_the_cordon_stays(tmp_path: Path) -> None:
    snapshot, state = cluster(tmp_path / "snap.json", stuck=True), tmp_path / "state"
    result = invoke("drain", "a", "--inventory", snapshot, "--state-dir", state, "--yes")
    assert result.exit_code == 1, result.output
    assert "v1 on a (32 MiB): local disk /var/lib/x.img" in result.stderr
    assert "nothing was moved" in result.stderr and "a stays cordoned" in result.stderr
    assert not (state / "drains").exists() and "a" in read_cordons(state)


def test_skip_drains_the_rest_and_reports_the_one_left(tmp_path: Path) -> None:
    snapshot, state = cluster(tmp_path / "snap.json", stuck=True), tmp_path / "state"
    result = invoke("drain", "a", "--inventory", snapshot, "--state-dir", state, "--yes", "--unmigratable", "skip")
    assert result.exit_code == 0, result.output
    assert "left (unmigratable, skipped): v1 on a" in result.stdout
    assert any(line.split()[:4] == ["a", "disabled", "3", "→"] and line.split()[4] == "1"
               for line in result.stdout.splitlines())  # the per-host table counts the VM left
    assert "2 VMs moved (64 MiB), 1 unmigratable VM left: v1 on a" in result.stdout.splitlines()[-1]
    (plan_file,) = (state / "drains").glob("*/plan.json")
    assert sorted(m.vm for m in load_plan(plan_file).moves) == ["v0", "v2"]


def test_dry_run_prints_the_plan_and_records_nothing(tmp_path: Path) -> None:
    snapshot, state = cluster(tmp_path / "snap.json"), tmp_path / "state"
    result = invoke("drain", "a", "--inventory", snapshot, "--state-dir", state, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "v0" in result.stdout and "nothing cordoned, recorded or moved" in result.stdout
    assert not state.exists() or (read_cordons(state) == {} and not (state / "drains").exists())


def test_shutdown_powers_the_unmigratable_vm_off_first_then_drains_the_rest(tmp_path: Path) -> None:
    snapshot, state = cluster(tmp_path / "snap.json", stuck=True), tmp_path / "state"
    result = invoke("drain", "a", "--inventory", snapshot, "--state-dir", state, "--yes", "--unmigratable", "shutdown")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    written = next(i for i, line in enumerate(lines) if "Plan written" in line)
    assert lines.index("v1 is off (still defined on a)") < written  # powered off before anything migrates
    assert "left (unmigratable, powered off): v1 on a" in result.stdout
    assert "2 VMs moved (64 MiB), 1 unmigratable VM left: v1 on a" in lines[-1]
    (plan_file,) = (state / "drains").glob("*/plan.json")
    assert sorted(m.vm for m in load_plan(plan_file).moves) == ["v0", "v2"]


def test_a_guest_that_ignores_the_power_button_stops_the_drain_before_anything_migrates(tmp_path: Path) -> None:
    snapshot, state = cluster(tmp_path / "snap.json", stuck=True), tmp_path / "state"
    document = json.loads(snapshot.read_text())
    document["vms"][1]["labels"] = {"acpi": "ignores"}
    snapshot.write_text(json.dumps(document))

    result = invoke("drain", "a", "--inventory", snapshot, "--state-dir", state, "--yes", "--unmigratable", "shutdown",
                    "--shutdown-timeout", "5")

    assert result.exit_code == 1, result.output
    assert "v1 did not power off within 5 s" in result.stderr and "nothing was migrated" in result.stderr
    assert "a stays cordoned" in result.stderr and not (state / "drains").exists()


def test_shutdown_leaves_a_nova_guest_alone_and_moves_nothing(tmp_path: Path) -> None:
    snapshot, state = cluster(tmp_path / "snap.json", stuck=True), tmp_path / "state"
    document = json.loads(snapshot.read_text())
    document["vms"][1]["unmigratable_reason"] = NOVA_REASON
    snapshot.write_text(json.dumps(document))

    result = invoke("drain", "a", "--inventory", snapshot, "--state-dir", state, "--yes", "--unmigratable", "shutdown")

    assert result.exit_code == 1, result.output
    assert "can neither live-migrate nor be shut down here; nothing was moved" in result.stderr
    assert "v1 on a: managed by OpenStack Nova: stop it through Nova" in result.stderr
    assert not (state / "drains").exists()


def test_an_unknown_host_is_bad_input(tmp_path: Path) -> None:
    snapshot, state = cluster(tmp_path / "snap.json"), tmp_path / "state"
    unknown = invoke("drain", "zz", "--inventory", snapshot, "--state-dir", state, "--dry-run")
    assert unknown.exit_code == 2 and "zz is not a host of" in unknown.stderr


def test_a_later_spread_plan_places_nothing_on_the_drained_host(tmp_path: Path) -> None:
    snapshot, state = cluster(tmp_path / "snap.json"), tmp_path / "state"
    assert invoke("drain", "a", "--inventory", snapshot, "--state-dir", state, "--yes").exit_code == 0
    (plan_file,) = (state / "drains").glob("*/plan.json")
    after = load_plan(plan_file).target_placement
    moved = tmp_path / "after.json"
    document = json.loads(snapshot.read_text())
    for vm in document["vms"]:
        vm["host"] = after[vm["name"]]
        vm["cpu_load_millicores"] = 3000
    moved.write_text(json.dumps(document))
    spread = invoke("plan", "--snapshot", moved, "--goal", "spread", "--state-dir", state, "--json")
    assert spread.exit_code == 0, spread.output
    assert all(m["destination"] != "a" for m in json.loads(spread.stdout)["moves"])


def test_no_room_elsewhere_is_infeasible_exit_1_and_the_cordon_stays(tmp_path: Path) -> None:
    snapshot, state = tmp_path / "snap.json", tmp_path / "state"
    document = json.loads(cluster(snapshot).read_text())
    document["hosts"] = [{"name": h, "cpus": 8, "memory_mib": 4096 if h == "a" else 512 + 40} for h in "abc"]
    snapshot.write_text(json.dumps(document))
    result = invoke("drain", "a", "--inventory", snapshot, "--state-dir", state, "--yes")
    assert result.exit_code == 1, result.output
    assert "infeasible" in result.stderr and "a stays cordoned" in result.stderr
    assert not (state / "drains").exists()


def test_a_failed_migration_exits_1_keeps_the_cordon_and_says_how_to_resume(tmp_path: Path) -> None:
    snapshot, state = cluster(tmp_path / "snap.json"), tmp_path / "state"
    faults = tmp_path / "faults.yaml"
    faults.write_text("faults:\n  - {kind: fail, vm: v0}\n")
    result = invoke("drain", "a", "--inventory", snapshot, "--state-dir", state, "--yes", faults=faults)
    assert result.exit_code == 1, result.output
    (plan_file,) = (state / "drains").glob("*/plan.json")
    assert f"a stays cordoned; run `rebalance apply {plan_file}` to resume" in result.stdout
    assert "a drained:" not in result.stdout and "a" in read_cordons(state)
