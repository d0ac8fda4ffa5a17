"""The at-scale benchmark (issue 24): every goal on a memory-tight cluster, each row beside its
bound, the drain on the hosts it names, and its runner writes its files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmarks import at_scale
from benchmarks.tight_generator import generate_tight_cluster
from planner.domain.policy import Goal


def test_drain_names_the_busiest_hosts_without_pinned_vms() -> None:
    cluster = generate_tight_cluster(100, 2000, 0.8, seed=1)
    policy = at_scale.goal_policy(cluster, Goal.DRAIN, 1, 5, 1)
    pinned = {vm.host for vm in cluster.vms if vm.labels.get("pinned") == "true"}
    assert len(policy.drain_hosts) == 2 and not policy.drain_hosts & pinned
    fewest_drained = min(len(cluster.vms_by_host[h]) for h in policy.drain_hosts)
    assert all(len(cluster.vms_by_host[h.name]) <= fewest_drained
               for h in cluster.hosts if h.name not in policy.drain_hosts | pinned)
    assert at_scale.goal_policy(cluster, Goal.SPREAD, 1, 5, 1).drain_hosts == frozenset()


@pytest.mark.parametrize("profile", ["five", "four"])
def test_every_goal_gets_a_valid_row_at_or_above_its_bound(tmp_path: Path, profile: str) -> None:
    at_scale.main(["--sizes", "50x800", "--fills", "0.8", "--seeds", "1", "--time-limit", "2", "--host-types", profile,
                   "--out", str(tmp_path)])
    with (tmp_path / "at_scale.csv").open() as rows:
        by_goal = {row["goal"]: row for row in csv.DictReader(rows)}
    assert set(by_goal) == {"spread", "consolidate", "drain"}
    assert {row["host_types"] for row in by_goal.values()} == {profile}
    for row in by_goal.values():
        assert row["valid"] == "True" and int(row["value"]) >= int(row["bound"]) > 0, row
        assert int(row["peak_rss_mib"]) > 0 and float(row["plan_s"]) > 0
    assert by_goal["drain"]["moves"] == by_goal["drain"]["value"]  # a drain's value is its moves
    table = (tmp_path / "at_scale.md").read_text().splitlines()
    assert table[0].startswith("| size | fill | goal |") and table[2].startswith("| 50x800 | 0.80 | spread | 1 |")


def test_a_drain_the_others_cannot_take_is_a_row_not_a_crash() -> None:
    row = at_scale.run_one("10x150", 0.8, 1, Goal.DRAIN, 2)  # the busiest hosts hold more than the rest has free
    assert row.status.startswith("infeasible: cannot drain") and not row.valid


def test_drain_skips_a_host_whose_vm_no_other_host_has_room_for() -> None:
    from tests.builders import cluster, host, vm

    hosts = [host(f"h{i}") for i in range(4)]  # 16 GiB usable each
    vms = [vm("huge", "h0", memory_mib=12288), vm("s1", "h0"), vm("s2", "h0"),  # the busiest: 2 GiB free
           vm("m1", "h1", memory_mib=4096), vm("m2", "h1", memory_mib=4096),  # 8 GiB free
           vm("f2", "h2", memory_mib=8192), vm("f3", "h3", memory_mib=8192)]
    clu = cluster(hosts, vms)
    assert at_scale._hosts_with_room(clu)[(12288, 1)] == set()  # no host has 12 GiB free for huge
    assert at_scale._hosts_with_room(clu)[(4096, 1)] == {"h1", "h2", "h3"}
    assert at_scale.goal_policy(clu, Goal.DRAIN, 1, 5, 1).drain_hosts == {"h1"}  # not h0, the busiest
