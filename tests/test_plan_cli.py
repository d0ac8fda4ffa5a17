"""`rebalance plan` and `rebalance show` through click's CliRunner: exit codes, files, exact renderings."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from planner.formats.plan_io import SCHEMA_PATH, load_plan
from planner.check.validate import validate_placement
from planner.formats.scenario import load_scenario
from rebalance.cli import cli

SCENARIO = """\
description: three hosts, everything on a
cluster:
  defaults: {uri: "qemu+tcp://%s/system"}
  hosts:
    - {name: a, cpus: 4, memory_mib: 8704}
    - {name: b, cpus: 4, memory_mib: 8704}
    - {name: c, cpus: 4, memory_mib: 8704}
  vms:
    - {name: v1, host: a, vcpus: 2, memory_mib: 2048, cpu_load_millicores: 1500, uuid: 00000000-0000-0000-0000-000000000001}
    - {name: v2, host: a, vcpus: 2, memory_mib: 2048, cpu_load_millicores: 1500}
    - {name: v3, host: a, vcpus: 1, memory_mib: 1024, cpu_load_millicores: 500}
policy:
  goal: spread
  solver: {time_limit_s: 5, seed: 1}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "three.yaml"
    path.write_text(SCENARIO)
    return path


def run(*args: str) -> "CliRunner.invoke":
    return CliRunner().invoke(cli, list(args))


def test_plan_prints_tables_and_writes_a_plan_that_validates(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = run("plan", "--scenario", str(scenario), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Goal: spread — peak CPU‰ + peak memory‰: ")
    assert "host  state" in result.output
    assert f"Plan written to {out}. Run it with: rebalance apply {out}" in result.output
    plan = load_plan(out)
    assert len(plan.moves) == 2  # three VMs on a, two empty hosts: one VM stays, two move
    loaded = load_scenario(scenario)
    assert validate_placement(loaded.cluster, loaded.policy, plan.target_placement) == []
    assert plan.cluster.host_by_name["b"].uri == "qemu+tcp://b/system"


def test_plan_json_matches_the_published_schema(scenario: Path) -> None:
    result = run("plan", "--scenario", str(scenario), "--json")
    assert result.exit_code == 0
    document = json.loads(result.output)
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert document["summary"]["moves"] == len(document["moves"])


def test_show_renders_exactly_what_plan_printed(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    planned = run("plan", "--scenario", str(scenario), "-o", str(out))
    shown = run("show", str(out))
    assert shown.exit_code == 0
    assert planned.output.split("\n\nPlan written to")[0] + "\n" == shown.output


def test_plan_file_round_trips(scenario: Path, tmp_path: Path) -> None:
    out, again = tmp_path / "plan.json", tmp_path / "again.json"
    run("plan", "--scenario", str(scenario), "-o", str(out))
    run("show", str(out), "--json")
    from planner.formats.plan_io import write_plan
    write_plan(load_plan(out), again)
    assert json.loads(out.read_text()) == json.loads(again.read_text())


def test_draining_every_host_exits_1_and_says_there_is_nowhere_to_go(scenario: Path) -> None:
    result = run("plan", "--scenario", str(scenario), "--drain", "a", "--drain", "b", "--drain", "c")
    assert result.exit_code == 1
    assert result.stderr.startswith("infeasible: cannot drain a, b, c: VM v")
    assert result.stderr.count("\n") == 1


def test_infeasible_drain_exits_1_and_names_hosts(tmp_path: Path) -> None:
    path = tmp_path / "full.yaml"
    path.write_text(SCENARIO.replace("memory_mib: 2048, cpu_load_millicores: 1500}", "memory_mib: 6144, cpu_load_millicores: 1500}"))
    result = run("plan", "--scenario", str(path), "--drain", "a", "--drain", "b")
    assert result.exit_code == 1
    assert result.stderr.startswith("infeasible: cannot drain a, b:")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_goal_and_max_moves_options_override_the_policy(scenario: Path) -> None:
    result = run("plan", "--scenario", str(scenario), "--max-moves", "1", "--json")
    assert result.exit_code == 0
    assert len(json.loads(result.output)["moves"]) == 1
    result = run("plan", "--scenario", str(scenario), "--goal", "consolidate", "--json")
    assert json.loads(result.output)["goal"] == "consolidate"


@pytest.mark.parametrize("command", [["--help"], ["plan", "--help"], ["show", "--help"]])
def test_help_explains(command: list[str]) -> None:
    result = run(*command)
    assert result.exit_code == 0
    assert "Usage: " in result.output


def test_plan_help_documents_exit_codes() -> None:
    assert "Exit codes: 0 plan made (possibly empty), 1 the goal cannot be met, 2 bad input." in run("plan", "--help").output


ROOM_TO_MAKE = """\
description: d's VM fits only once a2 leaves a
cluster:
  defaults: {uri: "qemu+tcp://%s/system"}
  hosts:
    - {name: d, cpus: 4, memory_mib: 8704}
    - {name: a, cpus: 4, memory_mib: 8704}
    - {name: b, cpus: 4, memory_mib: 8704}
    - {name: c, cpus: 4, memory_mib: 8704}
  vms:
    - {name: big, host: d, vcpus: 1, memory_mib: 4096}
    - {name: a3, host: a, vcpus: 1, memory_mib: 3072}
    - {name: a2, host: a, vcpus: 1, memory_mib: 2048}
    - {name: b5, host: b, vcpus: 1, memory_mib: 5120}
    - {name: c6, host: c, vcpus: 1, memory_mib: 6144}
policy:
  goal: spread
  solver: {time_limit_s: 5, seed: 1}
"""


def test_a_drain_that_needs_room_made_names_the_vm_moved_aside(tmp_path: Path) -> None:
    path, out = tmp_path / "room.yaml", tmp_path / "plan.json"
    path.write_text(ROOM_TO_MAKE)
    result = run("plan", "--scenario", str(path), "--drain", "d", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "Note: 1 VM(s) not on the drained hosts move too (a2): the drained VMs fit the room the others left " \
           "only once these moved aside" in result.output
    plan = load_plan(out)
    where = {m.vm: m.destination for m in plan.moves}
    assert where.keys() == {"big", "a2"} and where["big"] == "a" and where["a2"] in {"b", "c"}
    assert next(m.reason for m in plan.moves if m.vm == "a2") == "moved aside to make room on a for a VM of a drained host"
