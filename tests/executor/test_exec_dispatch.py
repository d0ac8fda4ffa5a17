"""Streaming dispatch: limits per host and overall, larger VMs first, no barrier between waves."""

from __future__ import annotations

from executor.capacity import CapacityLedger, Demand
from executor.graph import order_moves
from executor.schedule import Dispatcher, Finish, Limits, simulate
from planner.domain.model import Cluster
from tests.executor.builders import host, vm


def test_global_limit_and_larger_vms_first() -> None:
    hosts = [host(f"s{i}", 16) for i in range(3)] + [host(f"d{i}", 16) for i in range(3)]
    vms = [vm("small", "s0", 1), vm("big", "s1", 8), vm("mid", "s2", 4)]
    cluster = Cluster(hosts, vms)
    ordering = order_moves(cluster, cluster.placement, {"small": "d0", "big": "d1", "mid": "d2"})
    dispatcher = Dispatcher(ordering, CapacityLedger.from_placement(cluster, cluster.placement), Limits(2, 1, 1))
    assert [s.vm for s in dispatcher.start_ready()] == ["big", "mid"]
    assert dispatcher.start_ready() == []


def test_one_outgoing_and_one_incoming_per_host() -> None:
    cluster = Cluster([host("a", 32), host("b", 32), host("c", 32)],
                      [vm("v1", "a", 2), vm("v2", "a", 2), vm("v3", "c", 2)])
    ordering = order_moves(cluster, cluster.placement, {"v1": "b", "v2": "c", "v3": "b"})
    dispatcher = Dispatcher(ordering, CapacityLedger.from_placement(cluster, cluster.placement), Limits(5, 1, 1))
    started = dispatcher.start_ready()
    assert len(started) == 1  # v1 and v2 share the source a; v3 and v1 share the destination b
    assert started[0].vm in {"v1", "v2", "v3"}


def test_a_dependent_starts_as_soon_as_its_room_is_free_without_waiting_for_a_wave() -> None:
    # v2 (slow, independent) is still running when v1 leaves b; v0 must start right then.
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 16), host("x", 64), host("y", 64)],
                      [vm("v0", "a", 8), vm("v1", "b", 8), vm("v2", "x", 32)])
    ordering = order_moves(cluster, cluster.placement, {"v0": "b", "v1": "c", "v2": "y"})
    timeline = simulate(ordering, CapacityLedger.from_placement(cluster, cluster.placement), Limits(2, 1, 1),
                        lambda s: s.memory_mib / 1024)
    at = {e.step.vm: e for e in timeline.entries}
    assert at["v0"].start == at["v1"].end == 8
    assert at["v2"].end == 32 and at["v0"].start < at["v2"].end


def test_a_failed_move_blocks_only_its_dependents() -> None:
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8), host("d", 8), host("e", 8)],
                      [vm("v1", "a", 8), vm("v2", "b", 8), vm("v3", "d", 2)])
    ordering = order_moves(cluster, cluster.placement, {"v1": "b", "v2": "c", "v3": "e"})
    dispatcher = Dispatcher(ordering, CapacityLedger.from_placement(cluster, cluster.placement), Limits(4, 1, 1))
    first = {s.vm: s for s in dispatcher.start_ready()}
    assert set(first) == {"v2", "v3"}
    dispatcher.finish(first["v2"], Finish.FAILED)
    dispatcher.finish(first["v3"], Finish.DONE)
    assert dispatcher.start_ready() == []
    assert {ordering.steps[i].vm for i in dispatcher.blocked} == {"v1"}


def test_the_ledger_holds_back_a_ready_move_when_live_room_is_short() -> None:
    cluster = Cluster([host("a", 16), host("b", 8)], [vm("v1", "a", 4), vm("v2", "a", 4)])
    ordering = order_moves(cluster, cluster.placement, {"v1": "b"})
    ledger = CapacityLedger.from_placement(cluster, {**cluster.placement, "v2": "b"})  # someone put v2 on b
    ledger.reserve("b", Demand(4 * 1024, 0))  # and something else holds the rest
    dispatcher = Dispatcher(ordering, ledger, Limits())
    assert dispatcher.start_ready() == []
    assert [s.vm for s in dispatcher.give_up()] == ["v1"]
