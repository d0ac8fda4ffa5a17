"""`rebalance apply` through CliRunner on a simulated cluster (tests/harness.py), with exact exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from executor.journal import JournalEvent, journal_path, read_journal
from executor.lock import ClusterLock
from planner.domain.model import Cluster
from planner.domain.plan import Plan
from planner.formats.plan_io import write_plan
from rebalance.cli import cli
from tests.executor.builders import expired_plan, host, make_plan, vm
from tests.harness import invoke

SWAP = Cluster([host("a", 8), host("b", 8), host("p", 8)], [vm("v1", "a", 8), vm("v2", "b", 8)])
SWAP_TARGET = {"v1": "b", "v2": "a"}


def saved(tmp_path: Path, plan: Plan) -> Path:
    path = tmp_path / "plan.json"
    write_plan(plan, path)
    return path


def run(*args: str, input: str | None = None, faults: Path | None = None) -> Result:
    return invoke("apply", *args, input=input, faults=faults)


def test_dry_run_prints_the_order_with_the_parking_move_and_migrates_nothing(tmp_path: Path) -> None:
    path = saved(tmp_path, make_plan(SWAP, SWAP_TARGET))
    result = run(str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line[:1].isdigit() or line.strip()[:1].isdigit()]
    assert [r[3:6] for r in rows] == [["v1", "a", "p"], ["v2", "b", "a"], ["v1", "p", "b"]]
    assert "park" in rows[0] and "(1 parking detour" in result.output
    assert not journal_path(path).exists()


def test_apply_runs_the_swap_and_prints_the_summary(tmp_path: Path) -> None:
    path = saved(tmp_path, make_plan(SWAP, SWAP_TARGET))
    result = run(str(path), "--yes")
    assert result.exit_code == 0, result.output
    assert "Summary: 2 done, 1 parked, 0 skipped, 0 failed" in result.output
    done = [e for e in read_journal(journal_path(path)) if e.event is JournalEvent.STEP_DONE]
    assert [(e.vm, e.location) for e in done] == [("v1", "p"), ("v2", "a"), ("v1", "b")]


def test_a_failed_migration_exits_1(tmp_path: Path) -> None:
    path = saved(tmp_path, make_plan(SWAP, SWAP_TARGET))
    faults = tmp_path / "faults.yaml"
    faults.write_text("faults:\n  - {kind: fail, vm: v2}\n")
    result = run(str(path), "--yes", faults=faults)
    assert result.exit_code == 1
    assert "1 failed" in result.output


def test_confirmation_declined_exits_1_and_runs_nothing(tmp_path: Path) -> None:
    path = saved(tmp_path, make_plan(SWAP, SWAP_TARGET))
    result = run(str(path), input="n\n")
    assert result.exit_code == 1
    assert not journal_path(path).exists()
    accepted = run(str(path), input="y\n")
    assert accepted.exit_code == 0


def test_expired_plan_exits_2_unless_forced(tmp_path: Path) -> None:
    path = saved(tmp_path, expired_plan(SWAP, SWAP_TARGET))
    refused = run(str(path), "--yes")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: stale plan: the plan expired")
    assert len(refused.stderr.splitlines()) == 1
    forced = run(str(path), "--yes", "--force")
    assert forced.exit_code == 0


def test_unsafe_plan_exits_1_before_migrating(tmp_path: Path) -> None:
    tight = Cluster([host("a", 8), host("b", 8)], [vm("v1", "a", 8), vm("v2", "b", 8)])
    path = saved(tmp_path, make_plan(tight, SWAP_TARGET))
    result = run(str(path), "--yes")
    assert result.exit_code == 1
    assert "cannot be executed safely" in result.stderr


def test_second_apply_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    plan = make_plan(SWAP, SWAP_TARGET)
    path = saved(tmp_path, plan)
    with ClusterLock([plan.cluster.hosts[0].name]):  # one host of its cluster is enough to refuse
        result = run(str(path), "--yes")
    assert result.exit_code == 1
    assert f"holds host {plan.cluster.hosts[0].name}" in result.stderr
    assert run(str(path), "--yes").exit_code == 0


def test_limits_come_from_the_command_line(tmp_path: Path) -> None:
    cluster = Cluster([host(f"h{i}", 16) for i in range(4)], [vm(f"v{i}", f"h{i}", 4) for i in range(4)])
    path = saved(tmp_path, make_plan(cluster, {f"v{i}": f"h{(i + 1) % 4}" for i in range(4)}))
    two = run(str(path), "--dry-run")
    four = run(str(path), "--dry-run", "--max-parallel", "4", "--per-host", "2")
    assert "estimated 0:08 with at most 2 at once" in two.output
    assert "estimated 0:04 with at most 4 at once and 2 out / 2 in per host" in four.output


@pytest.mark.parametrize("text, field", [
    ("max_parallel_migrations: 0\n", "max_parallel_migrations"),
    ("live_migration_timeout_action: explode\n", "live_migration_timeout_action"),
    ("live_migration_flag: [VIR_MIGRATE_LIVE, VIR_MIGRATE_NOPE]\n", "live_migration_flag[1]"),
    ("max_paralel_migrations: 3\n", "max_paralel_migrations"),
])
def test_bad_config_exits_2_naming_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = saved(tmp_path, make_plan(SWAP, SWAP_TARGET))
    config = tmp_path / "executor.yaml"
    config.write_text(text)
    result = run(str(path), "--dry-run", "--config", str(config))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {config}: {field}: ")


def test_missing_plan_file_exits_2(tmp_path: Path) -> None:
    result = run(str(tmp_path / "nope.json"), "--dry-run")
    assert result.exit_code == 2


def test_progress_lines_keep_a_seven_letter_status_apart_from_the_vm(tmp_path: Path) -> None:
    path = saved(tmp_path, make_plan(SWAP, SWAP_TARGET))
    faults = tmp_path / "faults.yaml"
    faults.write_text("faults:\n  - {kind: vanish, vm: v2, after: 1}\n")
    result = run(str(path), "--yes", faults=faults)
    assert "skipped v2 b→a" in result.output, result.output


def test_apply_on_a_live_cluster_without_an_inventory_exits_2_before_connecting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REBALANCE_INVENTORY", raising=False)
    path = saved(tmp_path, make_plan(SWAP, SWAP_TARGET))
    result = CliRunner().invoke(cli, ["apply", str(path), "--yes"])  # the product's own cluster access
    assert result.exit_code == 2
    assert "no inventory at /etc/rebalance/hosts.yaml" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not journal_path(path).exists()
