"""Resuming from the live cluster: where each planned VM really is decides what is left to do."""

from __future__ import annotations

from executor.hypervisor import LiveState, LiveVM
from executor.journal import History
from executor.reconcile import Settled, reconcile
from planner.domain.model import Cluster
from tests.executor.builders import host, make_plan, vm

CLUSTER = Cluster([host("a"), host("b"), host("p")], [vm("x", "a", 2), vm("y", "a", 2)])
PLAN = make_plan(CLUSTER, {"x": "b", "y": "b"})


def live(**where: tuple[str, bool]) -> LiveState:
    return LiveState({name: LiveVM(name, host_name, 2048, 1, active) for name, (host_name, active) in where.items()})


def test_a_vm_shut_off_since_the_plan_is_not_moved_and_still_holds_its_host() -> None:
    state = reconcile(PLAN, live(x=("a", False), y=("a", True)), History(0, {}))
    assert state.targets == {"y": "b"}
    assert [(s.move.vm, s.how) for s in state.settled] == [("x", Settled.SHUT_OFF)]
    assert state.start["x"] == "a"  # its memory stays counted where it is defined


def test_a_vm_a_crash_left_on_its_parking_host_still_goes_to_its_destination() -> None:
    state = reconcile(PLAN, live(x=("p", True), y=("a", True)), History(1, {"x": "p"}))
    assert state.targets == {"x": "b", "y": "b"} and state.start["x"] == "p"


def test_a_vm_on_a_host_nobody_parked_it_on_was_moved_by_someone_else() -> None:
    state = reconcile(PLAN, live(x=("p", True), y=("a", True)), History(1, {}))
    assert [(s.move.vm, s.how) for s in state.settled] == [("x", Settled.MOVED_ELSEWHERE)]
