"""Ordering by hand-made cases: swaps, rotations, full hosts, hosts that start over capacity."""

from __future__ import annotations

import pytest

from executor.capacity import CapacityLedger
from executor.errors import UnsafePlanError
from executor.graph import order_moves, order_plan
from executor.schedule import Limits, simulate
from executor.steps import StepKind
from planner.domain.model import Cluster
from tests.executor.builders import host, make_plan, vm
from tests.executor.checker import violations


def replay_is_safe(cluster: Cluster, target: dict[str, str], limits: Limits = Limits()) -> None:
    ordering = order_moves(cluster, cluster.placement, target)
    timeline = simulate(ordering, CapacityLedger.from_placement(cluster, cluster.placement), limits,
                        lambda s: s.memory_mib / 1024)
    assert not timeline.stalled
    assert violations(cluster, cluster.placement, target, timeline) == []


def test_moves_with_room_wait_for_nothing() -> None:
    cluster = Cluster([host("a", 16), host("b", 16)], [vm("v1", "a", 4), vm("v2", "b", 4)])
    ordering = order_moves(cluster, cluster.placement, {"v1": "b", "v2": "a"})
    assert [s.kind for s in ordering.steps] == [StepKind.MOVE, StepKind.MOVE]
    assert all(ordering.waits_for(s.index) == () for s in ordering.steps)


def test_a_move_waits_for_the_move_that_frees_its_room() -> None:
    # b is full; v1 can only go there once v2 has left for c.
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8)], [vm("v1", "a", 8), vm("v2", "b", 8)])
    ordering = order_moves(cluster, cluster.placement, {"v1": "b", "v2": "c"})
    by_vm = {s.vm: s for s in ordering.steps}
    assert ordering.waits_for(by_vm["v1"].index) == (by_vm["v2"].index,)
    assert ordering.waits_for(by_vm["v2"].index) == ()
    assert ordering.parked == ()


def test_swap_between_two_full_hosts_parks_one_vm_on_the_host_with_room() -> None:
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8)], [vm("v1", "a", 8), vm("v2", "b", 8)])
    ordering = order_moves(cluster, cluster.placement, {"v1": "b", "v2": "a"})
    park = [s for s in ordering.steps if s.kind is StepKind.PARK]
    unpark = [s for s in ordering.steps if s.kind is StepKind.UNPARK]
    assert len(park) == 1 and len(unpark) == 1
    assert park[0].vm == unpark[0].vm and park[0].destination == "c" == unpark[0].source
    assert park[0].index in ordering.waits_for(unpark[0].index)
    replay_is_safe(cluster, {"v1": "b", "v2": "a"})


def test_swap_with_no_room_anywhere_is_refused_naming_the_cycle() -> None:
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 4)], [vm("v1", "a", 8), vm("v2", "b", 8)])
    with pytest.raises(UnsafePlanError, match="cannot be executed safely") as raised:
        order_moves(cluster, cluster.placement, {"v1": "b", "v2": "a"})
    assert "v1 (a→b" in str(raised.value) and "v2 (b→a" in str(raised.value)


def test_three_cycle_on_full_hosts_goes_through_one_parking_host() -> None:
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8), host("park", 8)],
                      [vm("v1", "a", 8), vm("v2", "b", 8), vm("v3", "c", 8)])
    target = {"v1": "b", "v2": "c", "v3": "a"}
    ordering = order_moves(cluster, cluster.placement, target)
    assert len(ordering.parked) == 1
    assert len(ordering.steps) == 4
    replay_is_safe(cluster, target)


def test_three_cycle_with_room_for_one_more_needs_no_parking() -> None:
    cluster = Cluster([host("a", 16), host("b", 8), host("c", 8)],
                      [vm("v1", "a", 8), vm("v2", "b", 8), vm("v3", "c", 8)])
    ordering = order_moves(cluster, cluster.placement, {"v1": "b", "v2": "c", "v3": "a"})
    assert ordering.parked == ()
    assert [s.vm for s in ordering.steps] == ["v3", "v2", "v1"]


def test_fully_packed_cluster_with_one_empty_host_rotates_safely() -> None:
    hosts = [host(f"h{i}", 8, cpus=2) for i in range(4)] + [host("empty", 8, cpus=2)]
    vms = [vm(f"v{i}{j}", f"h{i}", 4) for i in range(4) for j in range(2)]
    target = {f"v{i}{j}": f"h{(i + 1) % 4}" for i in range(4) for j in range(2)}
    cluster = Cluster(hosts, vms)
    replay_is_safe(cluster, target, Limits(3, 1, 1))


def test_vcpus_count_as_a_hard_limit_too() -> None:
    # Memory has room but b has no vCPU left until v2 leaves: v1 must wait for it.
    cluster = Cluster([host("a", 16, cpus=1), host("b", 16, cpus=1), host("c", 16, cpus=1)],
                      [vm("v1", "a", 1, vcpus=4), vm("v2", "b", 1, vcpus=4)])
    ordering = order_moves(cluster, cluster.placement, {"v1": "b", "v2": "c"})
    by_vm = {s.vm: s for s in ordering.steps}
    assert ordering.waits_for(by_vm["v1"].index) == (by_vm["v2"].index,)


def test_host_over_capacity_at_start_takes_nothing_until_it_is_under() -> None:
    # a starts at 12 GiB of 8 usable: v3 may only come in once v1 and v2 have both left.
    cluster = Cluster([host("a", 8), host("b", 16), host("c", 16)],
                      [vm("v1", "a", 6), vm("v2", "a", 6), vm("v3", "c", 4)])
    target = {"v1": "b", "v2": "b", "v3": "a"}
    ordering = order_moves(cluster, cluster.placement, target)
    by_vm = {s.vm: s for s in ordering.steps}
    assert set(ordering.waits_for(by_vm["v3"].index)) == {by_vm["v1"].index, by_vm["v2"].index}
    replay_is_safe(cluster, target)


def test_target_over_capacity_is_refused() -> None:
    cluster = Cluster([host("a", 8), host("b", 8)], [vm("v1", "a", 6), vm("v2", "b", 6)])
    with pytest.raises(UnsafePlanError, match="cannot be executed safely"):
        order_moves(cluster, cluster.placement, {"v1": "b"})


def test_order_plan_uses_the_plans_snapshot_and_moves() -> None:
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8)], [vm("v1", "a", 8), vm("v2", "b", 8)])
    ordering = order_plan(make_plan(cluster, {"v1": "b", "v2": "a"}))
    assert {s.vm for s in ordering.steps} == {"v1", "v2"}
    assert len(ordering.parked) == 1
