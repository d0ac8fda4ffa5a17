"""`rebalance collect` prints one fixed-width table, in the style of plan and apply: a header, a
dashed rule, one row per measured host. libvirt is faked at the collector's sampler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import rebalance.collect_command as collect_command_module
from cluster.collector import DomainSample, HostSample, collect
from cluster.inventory import Inventory, InventoryHost
from planner.formats.scenario import load_cluster
from rebalance.cli import cli

HEADER = ["host", "state", "cpus", "memory_mib", "cpu_busy_%", "vms", "vcpus", "vm_memory_mib", "vm_load_mc",
          "unmigratable"]


def sample(host: InventoryHost, interval_s: float) -> HostSample:
    """Host a runs two guests (one unmigratable), b one; both report 16 cores, 64 GiB, a quarter busy."""
    guests = [DomainSample(f"uuid-{host.name}-1", f"{host.name}-1", 2, 512, 250, True)]
    if host.name == "a":
        guests.append(DomainSample("uuid-a-2", "a-2", 4, 1024, 1500, False, "local disk"))
    return HostSample(host.name, 16, 65536, 0.25, tuple(guests))


@pytest.fixture()
def faked_libvirt(monkeypatch: pytest.MonkeyPatch) -> None:
    def collect_with_fake(inventory: Inventory, interval_s: float, timeout_s: float, skip: bool) -> Any:
        return collect(inventory, interval_s, timeout_s, skip, sampler=sample)

    monkeypatch.setattr(collect_command_module, "collect", collect_with_fake)


def run_collect(tmp_path: Path, *options: str) -> tuple[int, str]:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(yaml.safe_dump({"hosts": [{"name": "a", "cpus": 4}, {"name": "b", "memory_mib": 2048}]}))
    result = CliRunner().invoke(cli, ["collect", "--inventory", str(inventory), "--interval", "0.1", *options])
    return result.exit_code, result.output


def table_of(output: str) -> str:
    """The summary table: what collect prints before the blank line (then where the sample went)."""
    return output.split("\n\n", 1)[0]


def test_collect_prints_a_header_a_rule_and_one_row_per_host(tmp_path: Path, faked_libvirt: None) -> None:
    exit_code, output = run_collect(tmp_path)

    assert exit_code == 0, output
    header, rule, *rows = table_of(output).splitlines()
    assert header.split() == HEADER
    assert set(rule.replace("  ", "")) == {"-"} and len(rule.split()) == len(HEADER)
    # The inventory's cpus (a) and memory (b) win over what the host reports; sums are per host.
    assert [row.split() for row in rows] == [
        ["a", "active", "4", "65536", "25.0", "2", "6", "1536", "1750", "1"],
        ["b", "active", "16", "2048", "25.0", "1", "2", "512", "250", "0"],
    ]


def test_numbers_are_right_aligned_under_their_header(tmp_path: Path, faked_libvirt: None) -> None:
    _, output = run_collect(tmp_path)
    header, _, first, second = table_of(output).splitlines()
    cpus_end = header.index("cpus") + len("cpus")
    assert first[:cpus_end].endswith(" 4") and second[:cpus_end].endswith("16")
    assert header.index("host") == first.index("a") == 0  # names stay left-aligned


def test_the_snapshot_written_alongside_holds_what_the_table_counts(tmp_path: Path, faked_libvirt: None) -> None:
    snapshot = tmp_path / "snapshot.json"
    exit_code, output = run_collect(tmp_path, "-o", str(snapshot))

    assert exit_code == 0, output
    cluster = load_cluster(str(snapshot))
    assert {h.name: len(cluster.vms_by_host[h.name]) for h in cluster.hosts} == {"a": 2, "b": 1}
    assert f"Snapshot written to {snapshot}" in output
