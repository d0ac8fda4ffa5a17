"""Faults on the real lab: a migration past its completion timeout, a destination daemon that dies."""

from __future__ import annotations

import time
from pathlib import Path

from executor.journal import JournalEvent
from lab.control import Lab
from tests.lab.helpers import PLAN_TIME_LIMIT, journal, outcomes, rebalance, rebalance_process, write_yaml


def test_a_migration_past_its_completion_timeout_is_aborted_and_the_guest_stays_on_the_source(
        clean_lab: Lab, inventory: Path, tmp_path: Path) -> None:
    clean_lab.start_guest("lab-a", "fat", memory_mib=64, fat=True)  # 48 MiB of random RAM: ~48 s at 1 MiB/s
    plan_file = tmp_path / "plan.json"
    assert rebalance("plan", "--inventory", inventory, "--drain", "lab-a", *PLAN_TIME_LIMIT,
                     "-o", plan_file).exit_code == 0
    config = write_yaml(tmp_path / "executor.yaml", {
        "live_migration_bandwidth": 1,  # MiB/s
        "live_migration_completion_timeout": 2,  # s per GiB, at least one GiB: 2 s for this guest
        "progress_interval_s": 0.2,
    })

    began = time.monotonic()
    result = rebalance("apply", plan_file, "--inventory", inventory, "--yes", "--config", config)

    assert result.exit_code == 1
    assert time.monotonic() - began < 30  # aborted, not waited out
    assert outcomes(plan_file) == {"fat": JournalEvent.STEP_FAILED}
    assert clean_lab.placement() == {"fat": ["lab-a"]}  # still running on the source, and only there


def test_a_destination_daemon_killed_mid_plan_fails_its_move_only_and_a_rerun_completes(
        clean_lab: Lab, inventory: Path, tmp_path: Path) -> None:
    clean_lab.start_guest("lab-a", "to-b", memory_mib=64, fat=True)  # slow enough to be killed under
    clean_lab.start_guest("lab-a", "to-c", memory_mib=32)
    policy = write_yaml(tmp_path / "policy.yaml", {
        "drain_hosts": ["lab-a"],
        "rules": {"host_groups": [{"name": "b", "vms": ["to-b"], "hosts": ["lab-b"]},
                                  {"name": "c", "vms": ["to-c"], "hosts": ["lab-c"]}]},
    })
    plan_file = tmp_path / "plan.json"
    planned = rebalance("plan", "--inventory", inventory, "--policy", policy, "--goal", "drain", *PLAN_TIME_LIMIT,
                        "-o", plan_file)
    assert planned.exit_code == 0, planned.output
    config = write_yaml(tmp_path / "executor.yaml", {
        "live_migration_bandwidth": 4,  # the fat guest needs ~12 s
        "max_concurrent_live_migrations": 2,  # both leave lab-a at once: independent moves
        "live_migration_retry_count": 2,
    })

    apply = rebalance_process("apply", plan_file, "--inventory", inventory, "--yes", "--config", config)
    try:
        deadline = time.monotonic() + 30
        while not any(e.vm == "to-b" and e.event is JournalEvent.STEP_STARTED for e in journal(plan_file)):
            assert time.monotonic() < deadline and apply.poll() is None, apply.communicate()[0]
            time.sleep(0.1)
        time.sleep(1.5)  # well into the transfer
        clean_lab.crash("lab-b")
        output, _ = apply.communicate(timeout=120)
    finally:
        if apply.poll() is None:
            apply.kill()

    assert apply.returncode == 1, output
    assert outcomes(plan_file, run=1) == {"to-b": JournalEvent.STEP_FAILED, "to-c": JournalEvent.STEP_DONE}
    assert clean_lab.placement(("lab-a", "lab-c")) == {"to-b": ["lab-a"], "to-c": ["lab-c"]}

    clean_lab.start("lab-b")
    assert clean_lab.placement() == {"to-b": ["lab-a"], "to-c": ["lab-c"]}  # nothing lost, nothing doubled
    rerun = rebalance("apply", plan_file, "--inventory", inventory, "--yes", "--config", config)

    assert rerun.exit_code == 0, rerun.output
    assert outcomes(plan_file, run=2)["to-b"] is JournalEvent.STEP_DONE
    assert clean_lab.placement() == {"to-b": ["lab-b"], "to-c": ["lab-c"]}
