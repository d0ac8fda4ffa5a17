"""Every numeric option of every command refuses nan, ±inf, negatives, huge integers and values
past its range, and every output path that cannot be written is refused, all before any work:
exit 2, one line on stderr naming the option, no traceback.

The commands get valid, tiny inputs, so an option that slipped through would run (exit 0) or fail
on something else (a message not naming the option): either way the test fails.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner, Result

from executor.journal import journal_path
from executor.lock import LOCK_DIR_ENV
from operations.history import history_path
from planner.domain.model import Cluster
from planner.formats.plan_io import write_plan
from planner.formats.scenario import load_cluster
from rebalance.cli import COMMANDS, cli
from rebalance.output_paths import output_problem
from tests.executor.builders import host, make_plan, vm
from tests.harness import invoke as simulated_invoke

HUGE = str(2**70)
ALWAYS_BAD = ["nan", "inf", "-inf", "-1", HUGE]

# command → option → values past its range (on top of ALWAYS_BAD).
OUT_OF_RANGE = {
    "plan": {"--max-moves": ["1000001"], "--time-limit": ["0.05", "86401"], "--seed": [str(2**31)],
             "--workers": ["0", "257"], "--interval": ["0.05", "3601"], "--demand-window": ["0.5s", "367d", "5"]},
    "apply": {"--max-parallel": ["0", "257"], "--per-host": ["0", "65"]},
    "collect": {"--interval": ["0.05", "3601"], "--timeout": ["0", "3601"], "--every": ["0.5s", "2d", "60"],
                "--count": ["0", "1000001"], "--retention": ["30s", "367d"]},
    "doctor": {"--timeout": ["0", "3601"]},
    "history": {"--last": ["0", "1000001"]},
    "run": {"--max-moves": ["1000001"], "--max-moved-gib": ["1000001"], "--max-share": ["100.5"],
            "--cooldown-hours": ["8761"], "--max-parallel": ["0", "257"], "--per-host": ["0", "65"],
            "--time-limit": ["0.05", "86401"], "--workers": ["0", "257"], "--seed": [str(2**31)],
            "--interval": ["0.05", "3601"], "--demand-window": ["0.5s", "367d"]},
}
CASES = [(command, option, value) for command, options in OUT_OF_RANGE.items()
         for option, values in options.items() for value in ALWAYS_BAD + values]


def cluster_file(path: Path) -> Path:
    document = {
        "hosts": [{"name": h, "cpus": 8, "memory_mib": 8192 + 512} for h in "abc"],
        "vms": [{"name": f"{h}{i}", "host": h, "vcpus": 1, "memory_mib": 1024, "cpu_load_millicores": 100}
                for h in "abc" for i in range(2)],
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def plan_file(tmp_path: Path) -> Path:
    swap = Cluster([host("a", 8), host("b", 8), host("p", 8)], [vm("v1", "a", 8), vm("v2", "b", 8)])
    path = tmp_path / "plan.json"
    write_plan(make_plan(swap, {"v1": "b", "v2": "a"}), path)
    return path


def valid_command(command: str, tmp_path: Path) -> list[str]:
    """Arguments with which `command` would do real (simulated or tiny) work: `invoke` runs `apply`
    and `run` on a simulated cluster (tests/harness.py), whose snapshot is run's --inventory."""
    cluster = cluster_file(tmp_path / "cluster.yaml")
    solver = ["--time-limit", "1", "--workers", "1"]
    return {
        "plan": ["plan", "--snapshot", str(cluster), "--goal", "consolidate", *solver],
        "apply": ["apply", str(plan_file(tmp_path)), "--yes"],
        "collect": ["collect", "--inventory", str(tmp_path / "hosts.yaml")],
        "doctor": ["doctor", "--inventory", str(tmp_path / "hosts.yaml")],
        "history": ["history", "--state-dir", str(tmp_path / "state")],
        "run": ["run", "--inventory", str(cluster), "--state-dir", str(tmp_path / "state"), "--goal", "consolidate",
                *solver],
    }[command]


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return simulated_invoke(*args, env=env)


def assert_refused(result: Result, option: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert option in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("command", "option", "value"), CASES)
def test_a_numeric_option_out_of_range_is_one_line_naming_it_and_exit_2(
        command: str, option: str, value: str, tmp_path: Path) -> None:
    result = invoke(*valid_command(command, tmp_path), option, value)

    assert_refused(result, f"'{option}'")
    assert not (tmp_path / "state").exists()  # run refused before taking its lock or writing history


def test_a_refused_apply_option_migrates_nothing(tmp_path: Path) -> None:
    args = valid_command("apply", tmp_path)
    assert_refused(invoke(*args, "--per-host", "nan"), "--per-host")
    assert not journal_path(args[1]).exists()


@pytest.mark.solver
def test_the_bounds_themselves_are_accepted(tmp_path: Path) -> None:
    result = invoke(*valid_command("plan", tmp_path), "--seed", str(2**31 - 1), "--max-moves", "1000000")
    assert result.exit_code == 0, result.output


@pytest.mark.solver
def test_run_with_every_bound_at_its_edge_runs(tmp_path: Path) -> None:
    result = invoke(*valid_command("run", tmp_path), "--dry-run", "--max-moved-gib", "1000000",
                    "--max-share", "100", "--cooldown-hours", "8760", "--max-parallel", "256", "--per-host", "64")
    assert result.exit_code == 0, result.stderr


def test_an_unwritable_metrics_file_is_refused_before_anything_migrates(tmp_path: Path) -> None:
    """A regular file where a directory should be: unwritable even for root."""
    not_a_directory = tmp_path / "file.txt"
    not_a_directory.write_text("")
    args = valid_command("run", tmp_path)
    snapshot = Path(args[args.index("--inventory") + 1])
    before = load_cluster(snapshot).placement

    result = invoke(*args, "--metrics-file", str(not_a_directory / "metrics.prom"))

    assert_refused(result, "'--metrics-file'")
    assert load_cluster(snapshot).placement == before
    assert not (tmp_path / "state").exists()
    assert not history_path(tmp_path / "state").exists()


@pytest.mark.parametrize("option", ["--html", "--metrics-file", "--state-dir"])
def test_run_refuses_an_output_under_a_regular_file(option: str, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("")
    result = invoke(*valid_command("run", tmp_path), option, str(tmp_path / "file.txt" / "out"))
    assert_refused(result, f"'{option}'")


@pytest.mark.parametrize("option", ["--html", "--metrics-file"])
def test_run_refuses_an_output_that_is_a_directory_or_in_a_missing_one(option: str, tmp_path: Path) -> None:
    args = valid_command("run", tmp_path)
    assert_refused(invoke(*args, option, str(tmp_path)), f"'{option}'")
    assert_refused(invoke(*args, option, str(tmp_path / "missing" / "out")), f"'{option}'")


def test_a_missing_state_directory_under_a_writable_one_is_fine(tmp_path: Path) -> None:
    assert output_problem(tmp_path / "a" / "b" / "state", directory=True) is None


@pytest.mark.parametrize("path", ["file.txt/plan.json", ".", "missing/plan.json"])
def test_plan_refuses_an_unwritable_output_before_planning(path: str, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("")
    result = invoke(*valid_command("plan", tmp_path), "-o", str(tmp_path / path))
    assert_refused(result, "--output")
    assert result.stdout == ""  # no plan was printed: nothing was planned


def test_collect_refuses_an_unwritable_output_before_reading_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("")
    result = invoke(*valid_command("collect", tmp_path), "-o", str(tmp_path / "file.txt" / "snapshot.json"))
    assert_refused(result, "--output")  # not the missing inventory: the output was checked first


def test_show_refuses_an_unwritable_html_report(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("")
    result = invoke("show", str(plan_file(tmp_path)), "--html", str(tmp_path / "file.txt" / "report.html"))
    assert_refused(result, "'--html'")


def test_apply_refuses_a_plan_whose_journal_cannot_be_written_before_migrating(tmp_path: Path) -> None:
    path = plan_file(tmp_path)
    journal_path(path).mkdir()  # a directory where the journal goes

    result = invoke("apply", str(path), "--yes")

    assert_refused(result, "PLAN_FILE")
    assert "journal" in result.stderr
    assert "start" not in result.stdout
    dry_run = invoke("apply", str(path), "--dry-run")  # writes no journal, so it needs none
    assert dry_run.exit_code == 0, dry_run.output


def test_apply_with_an_unusable_lock_directory_is_exit_2_and_migrates_nothing(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("")
    path = plan_file(tmp_path)

    result = invoke("apply", str(path), "--yes",
                    env={LOCK_DIR_ENV: str(tmp_path / "file.txt" / "locks")})

    assert_refused(result, "lock_dir")
    assert not journal_path(path).exists()


def test_run_with_an_unusable_lock_directory_is_exit_2_and_migrates_nothing(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("")
    args = valid_command("run", tmp_path)
    snapshot = Path(args[args.index("--inventory") + 1])
    before = load_cluster(snapshot).placement

    result = invoke(*args, env={LOCK_DIR_ENV: str(tmp_path / "file.txt" / "locks")})

    assert_refused(result, "lock_dir")
    assert load_cluster(snapshot).placement == before
    assert not history_path(tmp_path / "state").exists()


@pytest.mark.parametrize("arguments", [["plan", "--bogus"], ["bogus"], ["apply"], ["run", "--goal", "sideways"],
                                       ["history", "--last"]])
def test_every_usage_error_is_one_line_and_exit_2(arguments: list[str]) -> None:
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output


@pytest.mark.parametrize("name", list(COMMANDS))
def test_no_command_has_a_hidden_option(name: str) -> None:
    """Test-only switches (a fake backend, a pretend clock) live in tests/harness.py, never in the product."""
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert [p.name for p in command.params if isinstance(p, click.Option) and p.hidden] == []


@pytest.mark.parametrize("arguments", [["run", "--backend", "simulated"], ["run", "--now", "2026-11-26T01:00"],
                                       ["run", "--snapshot", "cluster.json"], ["apply", "plan.json", "--faults", "f"],
                                       ["apply", "plan.json", "--sim-bandwidth", "10"]])
def test_the_former_test_only_options_are_unknown(arguments: list[str]) -> None:
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 2 and "No such option" in result.stderr
