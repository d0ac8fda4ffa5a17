"""A drain that finds a migration of the hosts' VMs still under way (left to libvirt by a crashed
run) waits for it to end instead of counting that VM as one that cannot leave."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from executor.config import ExecutorConfig
from operations import cluster_access
from planner.domain.model import Cluster, Host, VM
from planner.domain.policy import Policy
from rebalance import drain_flow
from rebalance.apply_command import ApplySettings

CLUSTER = Cluster([Host("a", 8, 4096), Host("b", 8, 4096)], [VM("v", "a", 1, 512, 100)])


@dataclass
class Settling:
    """A site whose VM is reported migrating for the first `busy` measurements."""

    busy: int
    measured: int = 0

    def host_names(self) -> tuple[str, ...]:
        return ("a", "b")

    def measure(self) -> cluster_access.Reading:
        self.measured += 1
        vm = CLUSTER.vms[0]
        if self.measured <= self.busy:
            vm = replace(vm, migratable=False, unmigratable_reason="migrating away from a")
        return cluster_access.Reading(replace(CLUSTER, vms=(vm,)), ())

    def defined_on(self, hosts: Sequence[str]) -> dict[str, tuple[str, ...]]:
        return {h: () for h in hosts}


def request(tmp_path: Path) -> drain_flow.DrainRequest:
    state = str(tmp_path / "state")
    return drain_flow.DrainRequest(("a",), Policy(), "<defaults>", state, ExecutorConfig(), ApplySettings("x", state))


def test_a_migration_under_way_is_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drain_flow, "SETTLE_POLL_S", 0.0)
    site = Settling(busy=2)
    surveyed = drain_flow._settled_survey(site, request(tmp_path))
    assert site.measured == 3 and surveyed.stuck == ()


def test_one_that_does_not_end_is_listed_after_the_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drain_flow, "SETTLE_POLL_S", 0.0)
    monkeypatch.setattr(drain_flow, "SETTLE_S", 0.0)
    site = Settling(busy=99)
    surveyed = drain_flow._settled_survey(site, request(tmp_path))
    assert site.measured == 1 and [s.reason for s in surveyed.stuck] == ["migrating away from a"]
