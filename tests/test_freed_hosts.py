"""Which hosts a run emptied: only those with no domain at all defined on them (issue 19, case 6)."""

from __future__ import annotations

import pytest

from executor.hypervisor import LiveState, LiveVM
from executor.report import StepRecord, StepStatus
from executor.steps import StepKind
from planner.domain.plan import Plan
from planner.domain.policy import Goal
from operations.freed_hosts import emptied_hosts
from tests.builders import cluster, host, plan_for, policy, vm


@pytest.fixture(scope="module")
def drain_b() -> Plan:
    plan = plan_for(cluster([host("a"), host("b")], [vm("web", "b")]), policy(Goal.DRAIN, drain_hosts=frozenset({"b"})))
    assert plan.drained_hosts == ("b",) and [(m.vm, m.destination) for m in plan.moves] == [("web", "a")]
    return plan


DONE = (StepRecord("web", "b", "a", StepKind.MOVE, StepStatus.DONE),)


def test_a_drained_host_with_nothing_defined_on_it_is_emptied(drain_b: Plan) -> None:
    live = LiveState({"web": LiveVM("web", "a", 1024, 1)})
    assert emptied_hosts(drain_b, DONE, live) == ("b",)


@pytest.mark.parametrize("left_behind", [
    LiveVM("old", "b", 2048, 2, active=False),  # defined and shut off: still lives on b's disk
    LiveVM("old", "b", 2048, 2, active=True),  # appeared while the run drained b
])
def test_a_host_with_any_domain_defined_on_it_is_not_emptied(drain_b: Plan, left_behind: LiveVM) -> None:
    live = LiveState({"web": LiveVM("web", "a", 1024, 1), left_behind.name: left_behind})
    assert emptied_hosts(drain_b, DONE, live) == ()


def test_a_shut_off_domain_elsewhere_does_not_keep_the_drained_host_busy(drain_b: Plan) -> None:
    live = LiveState({"web": LiveVM("web", "a", 1024, 1), "old": LiveVM("old", "a", 2048, 2, active=False)})
    assert emptied_hosts(drain_b, DONE, live) == ("b",)


def test_a_shut_off_leftover_of_a_vm_running_elsewhere_keeps_its_host_from_being_emptied(drain_b: Plan) -> None:
    # A migration without UNDEFINE_SOURCE leaves a shut-off copy of `web` on b while it runs on a.
    live = LiveState({"web": LiveVM("web", "a", 1024, 1)}, shadowed=(LiveVM("web", "b", 1024, 1, active=False),))
    assert emptied_hosts(drain_b, DONE, live) == ()
