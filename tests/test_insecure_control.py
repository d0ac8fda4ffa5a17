"""apply and run refuse a plain-TCP control connection unless the operator accepts it (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.domain.errors import InputError
from cluster.insecure_control import refuse_insecure_control
from cluster.inventory import parse_inventory
from planner.domain.model import Cluster
from planner.formats.plan_io import write_plan
from rebalance.cli import cli
from tests.executor.builders import host, make_plan, vm

# "localhost": if a refusal ever came too late, the only address tried would be the loopback.
TCP = {"defaults": {"live_migration_uri": "qemu+tcp://%s/system"}, "hosts": [{"name": "localhost"}]}
TLS = {"defaults": {"live_migration_uri": "qemu+tcp://%s/system", "uri": "qemu+tls://%s/system"},
       "hosts": [{"name": "localhost"}]}


def test_a_plain_tcp_control_uri_is_refused_naming_the_host_unless_accepted() -> None:
    with pytest.raises(InputError, match="plain qemu\\+tcp") as raised:
        refuse_insecure_control(parse_inventory(TCP, "hosts.yaml"), allowed=False)
    assert raised.value.field == "hosts[0].uri"
    refuse_insecure_control(parse_inventory(TCP, "hosts.yaml"), allowed=True)
    accepted = {**TCP, "hosts": [{"name": "localhost", "allow_insecure_tcp": True}]}
    refuse_insecure_control(parse_inventory(accepted, "hosts.yaml"), allowed=False)
    refuse_insecure_control(parse_inventory(TLS, "hosts.yaml"), allowed=False)  # tls control, tcp peers: fine


def test_apply_refuses_before_connecting(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(yaml.safe_dump(TCP))
    plan = tmp_path / "plan.json"
    cluster = Cluster([host("localhost"), host("other")], [vm("v", "localhost")])
    write_plan(make_plan(cluster, {"v": "other"}), plan)
    result = CliRunner().invoke(cli, ["apply", str(plan), "--inventory", str(inventory), "--yes"])
    assert result.exit_code == 2
    assert "hosts[0].uri" in result.stderr and "--allow-insecure" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_run_refuses_before_collecting(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(yaml.safe_dump(TCP))
    result = CliRunner().invoke(cli, ["run", "--inventory", str(inventory), "--state-dir", str(tmp_path / "state"),
                                      "--yes"])
    assert result.exit_code == 2
    assert "plain qemu+tcp" in result.stderr and "hosts[0].uri" in result.stderr
