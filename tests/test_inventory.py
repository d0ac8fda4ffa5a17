"""The inventory reader: URIs filled from templates and checked, overrides, and one-line errors (exit 2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.domain.errors import InputError
from cluster.inventory import DEFAULT_MIGRATION_URI, load_inventory, parse_inventory
from planner.domain.model import HostState
from planner.formats.uri_policy import DEFAULT_SOCKET_DIRS
from rebalance.cli import cli


def test_uris_default_to_novas_live_migration_uri_with_the_host_name() -> None:
    inventory = parse_inventory({"hosts": [{"name": "node1"}]})
    host = inventory.hosts[0]
    assert DEFAULT_MIGRATION_URI == "qemu+tcp://%s/system"
    assert (host.uri, host.migration_uri) == ("qemu+tcp://node1/system", "qemu+tcp://node1/system")
    assert host.instances_path == "/var/lib/nova/instances"
    assert (host.cpus, host.memory_mib, host.exec_prefix) == (None, None, ())


def test_control_and_migration_uris_are_separate_and_defaults_apply_to_every_host() -> None:
    inventory = parse_inventory({
        "defaults": {"live_migration_uri": "qemu+tls://%s.mig/system", "uri": "qemu+ssh://root@%s/system",
                     "cpu_allocation_ratio": 2, "labels": {"dc": "x"}},
        "hosts": [
            {"name": "n1", "labels": {"rack": "r1"}},
            {"name": "n2", "uri": "qemu+unix:///system?socket=/lab/n2.sock", "migration_uri": "qemu+tcp://n2/system",
             "unix_socket_dirs": ["/lab"], "cpus": 8, "memory_mib": 4096, "state": "disabled", "exec": "ssh root@n2"},
        ],
    })
    n1, n2 = inventory.hosts
    assert (n1.uri, n1.migration_uri) == ("qemu+ssh://root@n1/system", "qemu+tls://n1.mig/system")
    assert dict(n1.labels) == {"dc": "x", "rack": "r1"} and n1.cpu_allocation_ratio == 2.0
    assert (n2.uri, n2.migration_uri) == ("qemu+unix:///system?socket=/lab/n2.sock", "qemu+tcp://n2/system")
    assert (n2.cpus, n2.memory_mib, n2.state, n2.exec_prefix) == (8, 4096, HostState.DISABLED, ("ssh", "root@n2"))
    assert (n1.unix_socket_dirs, n2.unix_socket_dirs) == (DEFAULT_SOCKET_DIRS, ("/lab",))


def test_shut_off_domains_keep_their_memory_unless_a_host_says_otherwise() -> None:
    inventory = parse_inventory({"defaults": {"reserve_inactive_memory": False},
                                 "hosts": [{"name": "n1"}, {"name": "n2", "reserve_inactive_memory": True}]})
    assert [h.reserve_inactive_memory for h in inventory.hosts] == [False, True]
    assert parse_inventory({"hosts": [{"name": "n1"}]}).hosts[0].reserve_inactive_memory is True


def test_a_unix_socket_must_lie_in_a_declared_directory() -> None:
    inside = {"name": "n1", "uri": "qemu+unix:///system?socket=/run/libvirt/libvirt-sock"}
    assert parse_inventory({"hosts": [inside]}).hosts[0].uri == inside["uri"]
    stranger = {"name": "n1", "uri": "qemu+unix:///system?socket=/home/eve/libvirt-sock"}
    with pytest.raises(InputError) as raised:
        parse_inventory({"hosts": [stranger]})
    assert raised.value.field == "hosts[0].uri" and "socket directories" in raised.value.message
    declared = parse_inventory({"defaults": {"unix_socket_dirs": ["/home/eve"]}, "hosts": [stranger]})
    assert declared.hosts[0].uri == stranger["uri"]


def test_plain_tcp_is_read_with_a_warning_naming_host_and_field() -> None:
    inventory = parse_inventory({"hosts": [{"name": "n1", "uri": "qemu+tls://n1/system"}]})
    assert inventory.warnings == ("hosts[0].migration_uri: 'qemu+tcp://n1/system': plain TCP is neither "
                                  "authenticated nor encrypted: anyone who reaches the port can drive the daemon "
                                  "or read the migration stream; prefer qemu+tls or qemu+ssh",)
    secure = parse_inventory({"defaults": {"live_migration_uri": "qemu+tls://%s/system"}, "hosts": [{"name": "n1"}]})
    assert secure.warnings == ()


@pytest.mark.parametrize("hosts, field", [
    ([{"name": "evil/system?x=1"}], "hosts[0].name"),  # names are checked before they enter a URI
    ([{"name": "a b"}], "hosts[0].name"),
    ([{"name": "n1", "uri": "n1"}], "hosts[0].uri"),
    ([{"name": "n1", "migration_uri": "qemu+tcp://%s/%s"}], "hosts[0].migration_uri"),
    ([{"name": "n1", "cpus": 0}], "hosts[0].cpus"),
    ([{"name": "n1", "memory_mib": "lots"}], "hosts[0].memory_mib"),
    ([{"name": "n1", "state": "gone"}], "hosts[0].state"),
    ([{"name": "n1", "instances_path": "relative"}], "hosts[0].instances_path"),
    ([{"name": "n1", "exec": 3}], "hosts[0].exec"),
    ([{"name": "n1", "cpu": 4}], "hosts[0].cpu"),  # a typo, not silently ignored
    ([{"name": "n1", "uri": "qemu+ext:///system?command=/tmp/x"}], "hosts[0].uri"),  # would run /tmp/x as root
    ([{"name": "n1", "uri": "qemu+unix:///system?socket=/tmp/x"}], "hosts[0].uri"),  # outside the socket dirs
    ([{"name": "n1", "migration_uri": "qemu+unix:///system"}], "hosts[0].migration_uri"),
    ([{"name": "n1", "migration_uri": "qemu+ssh://n1/system?netcat=/tmp/x"}], "hosts[0].migration_uri"),
    ([{"name": "n1", "live_migration_uri": "test://%s/default", "uri": "qemu+tls://n1/system",
       "migration_uri": "qemu+tls://n1/system"}], "hosts[0].live_migration_uri"),  # checked though overridden
    ([{"name": "n1", "unix_socket_dirs": "/run/libvirt"}], "hosts[0].unix_socket_dirs"),
    ([{"name": "n1", "unix_socket_dirs": ["run/libvirt"]}], "hosts[0].unix_socket_dirs[0]"),
    ([{"name": "n1", "unix_socket_dirs": ["/run/../tmp"]}], "hosts[0].unix_socket_dirs[0]"),
    ([{"name": "n1", "reserve_inactive_memory": "yes"}], "hosts[0].reserve_inactive_memory"),
    ([{"name": "n1"}, {"name": "n1"}], "hosts[1].name"),
    ([], "hosts"),
])
def test_bad_hosts_name_the_field(hosts: list, field: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_inventory({"hosts": hosts})
    assert raised.value.field == field


def test_a_bad_default_names_the_defaults_field() -> None:
    with pytest.raises(InputError) as raised:
        parse_inventory({"defaults": {"unix_socket_dirs": []}, "hosts": [{"name": "n1"}]})
    assert raised.value.field == "defaults.unix_socket_dirs"
    with pytest.raises(InputError) as raised:
        parse_inventory({"defaults": {"uri": "qemu+ext:///system?command=/x"}, "hosts": [{"name": "n1"}]})
    assert raised.value.field == "hosts[0].uri"


def test_a_template_without_the_host_name_is_refused() -> None:
    with pytest.raises(InputError) as raised:
        parse_inventory({"defaults": {"live_migration_uri": "qemu+tcp://node/system"}, "hosts": [{"name": "n1"}]})
    assert raised.value.field == "hosts[0].live_migration_uri"


@pytest.mark.parametrize("command", [["collect"], ["doctor"], ["plan", "--goal", "spread"]])
def test_a_bad_inventory_is_one_line_naming_file_and_field_and_exit_2(
        command: list[str], write_file: Callable[[str, str], Path]) -> None:
    path = write_file("hosts.yaml", "hosts:\n  - name: n1\n    memory_mib: -5\n")
    result = CliRunner().invoke(cli, [*command, "--inventory", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {path}: hosts[0].memory_mib: must be a positive integer, got -5"]


def test_a_missing_inventory_file_is_exit_2(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        load_inventory(tmp_path / "nope.yaml")
    assert raised.value.source == str(tmp_path / "nope.yaml")
