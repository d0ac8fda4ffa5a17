"""`rebalance run` through CliRunner on a simulated cluster (tests/harness.py): the night, the
window, budgets, exit codes, the freed-host command, history and metrics.

The file given as --inventory is the simulated cluster's snapshot: a run writes the VMs' new places
back into it, so the next run sees what the previous one did.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from executor.lock import ClusterLock
from operations.history import history_path, read_runs
from planner.formats.scenario import load_cluster
from tests.harness import invoke
from tests.prometheus_text import prometheus_samples

pytestmark = pytest.mark.solver


def cluster_file(path: Path, per_host: int = 4, hosts: str = "abc", **host_extra: object) -> Path:
    document = {
        "hosts": [{"name": h, "cpus": 8, "memory_mib": 16384 + 512, **host_extra} for h in hosts],
        "vms": [{"name": f"{h}{i}", "host": h, "vcpus": 1, "memory_mib": 1024, "cpu_load_millicores": 100}
                for h in hosts for i in range(per_host)],
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def rebalance_run(snapshot: Path, state: Path, *options: str, now: str | None = None,
                  faults: Path | None = None) -> Result:
    args = ["run", "--inventory", str(snapshot), "--state-dir", str(state), "--time-limit", "2", "--workers", "1",
            *options]
    return invoke(*args, now=now, faults=faults, catch_exceptions=False)


def placement(snapshot: Path) -> dict[str, str]:
    return load_cluster(snapshot).placement


def test_a_consolidation_night_empties_hosts_runs_on_freed_once_each_and_a_second_run_moves_nothing(
        tmp_path: Path) -> None:
    snapshot, state, freed = cluster_file(tmp_path / "cluster.yaml"), tmp_path / "state", tmp_path / "freed.txt"
    metrics = tmp_path / "rebalance.prom"

    first = rebalance_run(snapshot, state, "--goal", "consolidate", "--yes", "--on-freed", f"echo {{host}} >> {freed}",
                          "--metrics-file", str(metrics))

    assert first.exit_code == 0, first.stderr
    hosts_in_use = set(placement(snapshot).values())
    assert len(hosts_in_use) == 1
    emptied = sorted(set("abc") - hosts_in_use)
    assert sorted(freed.read_text().split()) == emptied
    [record] = read_runs(history_path(state))
    assert (record.outcome, record.moves_done, record.moves_failed) == ("done", 8, 0)
    assert sorted(record.hosts_freed) == emptied and record.moved_mib == 8 * 1024
    assert {m.vm for m in record.moves} == {vm for vm in placement(snapshot) if vm[0] not in hosts_in_use}
    assert prometheus_samples(metrics)["rebalance_last_run_moves", ("consolidate", "done")] == 8

    second = rebalance_run(snapshot, state, "--goal", "consolidate", "--on-freed", f"echo {{host}} >> {freed}")

    assert second.exit_code == 0, second.stderr
    runs = read_runs(history_path(state))
    assert [r.outcome for r in runs] == ["done", "nothing-to-do"]
    assert runs[1].moves_done == 0
    second_plan = json.loads(Path(runs[1].plan).read_text())
    assert second_plan["moves"] == []
    assert sorted(freed.read_text().split()) == emptied  # the command ran once per host, not again


def test_the_window_closes_mid_run_and_the_next_night_completes_the_rest(tmp_path: Path) -> None:
    snapshot, state = cluster_file(tmp_path / "cluster.yaml"), tmp_path / "state"
    # 1 GiB per move at the simulated 1 GiB/s, one at a time: starts at +0, +1, +2 s; the window
    # closes at +2.5 s, so the 4th move (at +3 s) must not start.
    night = ["--goal", "consolidate", "--window", "01:00-05:00", "--max-parallel", "1"]

    first = rebalance_run(snapshot, state, *night, now="2026-11-26T04:59:57.500+01:00")

    assert first.exit_code == 0, first.stderr
    [record] = read_runs(history_path(state))
    assert (record.outcome, record.moves_done, record.moves_not_run) == ("window-closed", 3, 5)
    assert all(m.finished.isoformat() <= "2026-11-26T05:00:00.500000+01:00" for m in record.moves)
    assert len(set(placement(snapshot).values())) == 3  # nothing emptied yet

    outside = rebalance_run(snapshot, state, *night, now="2026-11-26T12:00:00+01:00")
    assert outside.exit_code == 0 and len(read_runs(history_path(state))) == 1  # nothing done, nothing recorded

    second = rebalance_run(snapshot, state, *night, now="2026-11-27T01:00:00+01:00")

    assert second.exit_code == 0, second.stderr
    runs = read_runs(history_path(state))
    assert (runs[1].outcome, runs[1].moves_done) == ("done", 5)
    assert not {m.vm for m in runs[0].moves} & {m.vm for m in runs[1].moves}  # nothing moved back or twice
    assert len(set(placement(snapshot).values())) == 1


def test_a_second_run_holding_the_lock_exits_3(tmp_path: Path) -> None:
    snapshot, state = cluster_file(tmp_path / "cluster.yaml"), tmp_path / "state"
    state.mkdir()
    with ClusterLock((), state_dir=state):
        result = rebalance_run(snapshot, state, "--goal", "consolidate")
    assert result.exit_code == 3
    assert placement(snapshot) == placement(cluster_file(tmp_path / "fresh.yaml"))


@pytest.mark.parametrize("options", [["--window", "25:00-04:00"], ["--policy", "missing.yaml"],
                                     ["--config", "missing.yaml"]])
def test_bad_configuration_exits_2_with_one_line(tmp_path: Path, options: list[str]) -> None:
    result = rebalance_run(cluster_file(tmp_path / "cluster.yaml"), tmp_path / "state", *options)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_failed_migration_exits_1_and_the_host_is_not_reported_freed(tmp_path: Path) -> None:
    snapshot, state, freed = cluster_file(tmp_path / "cluster.yaml", per_host=1), tmp_path / "state", tmp_path / "f"
    faults = tmp_path / "faults.yaml"
    faults.write_text("faults:\n  - {kind: fail, vm: a0}\n  - {kind: fail, vm: b0}\n  - {kind: fail, vm: c0}\n")
    result = rebalance_run(snapshot, state, "--goal", "consolidate", "--on-freed", f"echo {{host}} >> {freed}",
                           faults=faults)
    assert result.exit_code == 1
    [record] = read_runs(history_path(state))
    assert record.outcome == "partly-failed" and record.moves_failed >= 1 and record.hosts_freed == ()
    assert not freed.exists()


def test_a_failing_on_freed_command_exits_1(tmp_path: Path) -> None:
    snapshot, state = cluster_file(tmp_path / "cluster.yaml"), tmp_path / "state"
    result = rebalance_run(snapshot, state, "--goal", "consolidate", "--on-freed", "exit 7")
    assert result.exit_code == 1
    assert len(set(placement(snapshot).values())) == 1  # the moves themselves were done


def hot_cluster(path: Path, vms: int = 4) -> Path:
    """Everything on a, b empty: spread wants to move half of it, the busy db VMs (v0-v3) first."""
    document = {"hosts": [{"name": h, "cpus": 8, "memory_mib": 16384 + 512} for h in "ab"],
                "vms": [{"name": f"v{i}", "host": "a", "vcpus": 1, "memory_mib": 1024,
                         "cpu_load_millicores": 1500 if i < 4 else 500,
                         "labels": {"tier": "db" if i < 4 else "web"}} for i in range(vms)]}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def moved_to_b(snapshot: Path) -> set[str]:
    return {vm for vm, h in placement(snapshot).items() if h == "b"}


def test_the_move_budget_limits_a_run(tmp_path: Path) -> None:
    snapshot = hot_cluster(tmp_path / "hot.yaml")
    result = rebalance_run(snapshot, tmp_path / "state", "--goal", "spread", "--max-moves", "1")
    assert result.exit_code == 0, result.stderr
    assert len(moved_to_b(snapshot)) == 1


def test_the_share_budget_holds_back_a_host_groups_surplus(tmp_path: Path) -> None:
    snapshot = hot_cluster(tmp_path / "hot.yaml", vms=8)
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  host_groups:\n    - {name: db, vms: {labels: {tier: db}}, hosts: [a, b]}\n")
    result = rebalance_run(snapshot, tmp_path / "state", "--goal", "spread", "--policy", str(policy),
                           "--max-share", "25")
    assert result.exit_code == 0, result.stderr
    moved = moved_to_b(snapshot)
    assert len({vm for vm in moved if int(vm[1:]) < 4}) == 1  # 25 % of the 4 db VMs
    assert len(moved) == 2  # 25 % of all 8 VMs: a web VM takes the second move


def test_quiet_prints_nothing_on_a_good_night(tmp_path: Path) -> None:
    result = rebalance_run(cluster_file(tmp_path / "cluster.yaml"), tmp_path / "state", "--goal", "consolidate",
                           "--quiet")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""


def contrib_commands() -> list[list[str]]:
    contrib = Path(__file__).resolve().parent.parent / "contrib"
    service = (contrib / "rebalance-nightly.service").read_text().replace("\\\n", " ")
    lines = [line.split("=", 1)[1] for line in service.splitlines() if line.startswith("ExecStart=")]
    lines += [line.split(" root ", 1)[1] for line in (contrib / "rebalance.cron").read_text().splitlines()
              if " root " in line and not line.startswith("#")]
    return [shlex.split(line) for line in lines]


@pytest.mark.parametrize("command", contrib_commands())
def test_the_shipped_cron_and_systemd_commands_parse(command: list[str]) -> None:
    from rebalance.run_command import run  # noqa: PLC0415

    assert command[0].endswith("rebalance") and command[1] == "run"
    context = run.make_context("run", command[2:])
    assert context.params["inventory_path"] == "/etc/rebalance/hosts.yaml"
    assert context.params["window_text"]


def test_a_dry_run_plans_and_reports_but_moves_and_records_nothing(tmp_path: Path) -> None:
    snapshot, state = cluster_file(tmp_path / "cluster.yaml"), tmp_path / "state"
    before = placement(snapshot)
    result = rebalance_run(snapshot, state, "--goal", "consolidate", "--dry-run")
    assert result.exit_code == 0
    assert placement(snapshot) == before and read_runs(history_path(state)) == ()
    [run_dir] = (state / "runs").iterdir()
    assert json.loads((run_dir / "plan.json").read_text())["moves"] and (run_dir / "report.html").exists()
