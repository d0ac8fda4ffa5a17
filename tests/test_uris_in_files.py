"""A URI that would make a connection run a command is refused in every file that holds one: a
scenario, a snapshot, a plan (issue 19: "refused everywhere a URI is read")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rebalance.cli import cli

REPO = Path(__file__).resolve().parent.parent
HOSTILE = ["qemu+ext:///system?command=/tmp/own-the-host", "qemu+ssh://h/system?netcat=/tmp/x",
           "qemu+unix:///system?socket=/run/libvirt/s;command=/tmp/x", "test:///default"]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


@pytest.mark.parametrize("uri", HOSTILE)
def test_a_scenario_with_a_hostile_host_uri_is_refused_naming_the_field(tmp_path: Path, uri: str) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(json.dumps({"cluster": {"hosts": [{"name": "a", "cpus": 4, "memory_mib": 8192, "uri": uri}],
                                                "vms": []}}), encoding="utf-8")
    code, output = run("plan", "--scenario", str(scenario))
    assert code == 2
    assert "cluster.hosts[0].uri" in output and "Traceback" not in output


@pytest.mark.parametrize("field", ["uri", "migration_uri"])
def test_a_plan_edited_to_a_hostile_uri_is_refused_even_for_a_dry_run(tmp_path: Path, field: str) -> None:
    plan = tmp_path / "plan.json"
    code, _ = run("plan", "--scenario", str(REPO / "scenarios" / "nova-classic.yaml"), "--time-limit", "2",
                  "-o", str(plan))
    assert code == 0
    record = json.loads(plan.read_text(encoding="utf-8"))
    record["cluster"]["hosts"][1][field] = "qemu+ext:///system?command=/tmp/own-the-host"
    plan.write_text(json.dumps(record), encoding="utf-8")

    code, output = run("apply", str(plan), "--dry-run")

    assert code == 2
    assert f"cluster.hosts[1].{field}" in output
