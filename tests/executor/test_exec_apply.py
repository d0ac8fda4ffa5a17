"""apply on the simulated backend: the fault matrix, resume, locking, stopping, stale plans.

Every test checks the outcome against the backend's ground truth: each VM is on exactly one host,
and the journal's account of where each VM went matches where it is.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from executor.config import ExecutorConfig
from executor.errors import ApplyLockedError, UnsafePlanError
from executor.faults import Fault, FaultKind, SimulatedCrash
from executor.journal import JournalEvent, journal_path, read_journal
from executor.report import ApplyReport, EventKind, RunEvent, StepStatus
from executor.runner import ApplyOptions, apply_plan
from executor.simulated import SimulatedBackend
from planner.domain.errors import StalePlanError
from planner.domain.model import Cluster
from planner.domain.plan import Plan
from tests.executor.builders import expired_plan, host, make_plan, vm

# b is full until v2 leaves it, so v1 waits for v2; v3 and v4 are independent of both.
CLUSTER = Cluster(
    [host("a", 8), host("b", 8), host("c", 8), host("d", 16), host("e", 16)],
    [vm("v1", "a", 8), vm("v2", "b", 8), vm("v3", "d", 4), vm("v4", "d", 4), vm("still", "e", 2)],
)
TARGET = {"v1": "b", "v2": "c", "v3": "e", "v4": "e"}


@pytest.fixture
def plan() -> Plan:
    return make_plan(CLUSTER, TARGET)


@pytest.fixture
def plan_path(tmp_path: Path) -> Path:
    return tmp_path / "plan.json"


def status_of(report: ApplyReport) -> dict[str, StepStatus]:
    return {r.vm: r.status for r in report.records}


def assert_truthful(plan: Plan, plan_path: Path, backend: SimulatedBackend) -> None:
    actual = backend.placement()
    for name in actual:
        assert sum(backend.runs_on(h.name, name) for h in plan.cluster.hosts) <= 1
    journaled: dict[str, str] = plan.cluster.placement
    results = (JournalEvent.STEP_DONE, JournalEvent.STEP_SKIPPED, JournalEvent.STEP_FAILED,
               JournalEvent.STEP_BLOCKED, JournalEvent.STEP_NOT_STARTED)
    for entry in read_journal(journal_path(plan_path)):
        if entry.event in results:
            journaled[entry.vm] = entry.location  # "" means gone
    for name, host_name in journaled.items():
        assert actual.get(name, "") == host_name, f"journal puts {name} on {host_name!r}, it is on {actual.get(name)!r}"


def test_all_moves_done_and_journaled(plan: Plan, plan_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER)
    report = apply_plan(plan, plan_path, backend)
    assert report.ok and report.done == 4 and report.failed == 0
    assert backend.placement() == plan.target_placement
    assert journal_path(plan_path) == plan_path.with_name("plan.journal.jsonl")
    assert_truthful(plan, plan_path, backend)


def test_failed_migration_blocks_only_its_dependents(plan: Plan, plan_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER, faults=[Fault(FaultKind.FAIL, vm="v2")])
    report = apply_plan(plan, plan_path, backend)
    assert status_of(report) == {"v2": StepStatus.FAILED, "v1": StepStatus.BLOCKED,
                                 "v3": StepStatus.DONE, "v4": StepStatus.DONE}
    assert not report.ok
    assert backend.placement()["v2"] == "b" and backend.placement()["v1"] == "a"
    assert_truthful(plan, plan_path, backend)


def test_hung_migration_is_aborted_at_the_timeout_and_the_vm_stays(plan: Plan, plan_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER, faults=[Fault(FaultKind.HANG, vm="v3")])
    report = apply_plan(plan, plan_path, backend)
    assert status_of(report)["v3"] is StepStatus.FAILED
    assert backend.placement()["v3"] == "d"
    assert report.done == 3
    assert_truthful(plan, plan_path, backend)


def test_vm_vanished_before_apply_is_skipped_not_failed(plan: Plan, plan_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER, faults=[Fault(FaultKind.VANISH, vm="v3")])
    report = apply_plan(plan, plan_path, backend)
    assert status_of(report)["v3"] is StepStatus.SKIPPED
    assert report.ok and report.skipped == 1 and report.done == 3
    assert "v3" not in backend.placement()
    assert_truthful(plan, plan_path, backend)


def test_vm_vanished_while_waiting_for_its_turn_is_skipped(plan: Plan, plan_path: Path) -> None:
    # v1 waits for v2; v1 disappears once the first migration has completed.
    backend = SimulatedBackend(CLUSTER, faults=[Fault(FaultKind.VANISH, vm="v1", after=1)])
    report = apply_plan(plan, plan_path, backend, ApplyOptions(ExecutorConfig(max_parallel_migrations=1)))
    assert status_of(report)["v1"] is StepStatus.SKIPPED
    assert report.ok
    assert "v1" not in [m[0] for m in backend.completed_migrations]
    assert_truthful(plan, plan_path, backend)


def test_destination_down_fails_its_moves_and_the_rest_go_on(plan: Plan, plan_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER, faults=[Fault(FaultKind.HOST_DOWN, host="e")])
    report = apply_plan(plan, plan_path, backend)
    assert status_of(report) == {"v1": StepStatus.DONE, "v2": StepStatus.DONE,
                                 "v3": StepStatus.FAILED, "v4": StepStatus.FAILED}
    assert backend.placement()["v3"] == "d" == backend.placement()["v4"]
    assert_truthful(plan, plan_path, backend)


def test_crash_after_k_moves_then_resume_completes_without_repeating(plan: Plan, plan_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER, faults=[Fault(FaultKind.CRASH, after=2)])
    with pytest.raises(SimulatedCrash):
        apply_plan(plan, plan_path, backend, ApplyOptions(ExecutorConfig(max_parallel_migrations=1)))
    assert len(backend.completed_migrations) == 2
    report = apply_plan(plan, plan_path, backend)
    assert report.ok
    assert backend.placement() == plan.target_placement
    moved = Counter(m[0] for m in backend.completed_migrations)
    assert all(count == 1 for count in moved.values()) and set(moved) == set(TARGET)
    assert report.skipped == 2 and report.done == 2  # the two crashed-run moves are reconciled, not redone
    runs = [e for e in read_journal(journal_path(plan_path)) if e.event is JournalEvent.RUN_STARTED]
    assert [e.run for e in runs] == [1, 2]
    assert_truthful(plan, plan_path, backend)


def test_resume_after_a_parking_detour_continues_from_the_parking_host(tmp_path: Path) -> None:
    cluster = Cluster([host("a", 8), host("b", 8), host("p", 8)], [vm("v1", "a", 8), vm("v2", "b", 8)])
    swap = make_plan(cluster, {"v1": "b", "v2": "a"})
    backend = SimulatedBackend(cluster, faults=[Fault(FaultKind.CRASH, after=1)])
    with pytest.raises(SimulatedCrash):
        apply_plan(swap, tmp_path / "plan.json", backend)
    parked = backend.placement()
    assert "p" in parked.values()
    report = apply_plan(swap, tmp_path / "plan.json", backend)
    assert report.ok and backend.placement() == swap.target_placement
    assert len(backend.completed_migrations) == 3  # park, move, unpark: nothing twice
    assert_truthful(swap, tmp_path / "plan.json", backend)


def test_second_apply_while_one_runs_is_refused(plan: Plan, plan_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER, time_scale=0.05)  # an 8 GiB move takes 0.4 s of real time
    running = threading.Event()

    def first_apply() -> None:
        apply_plan(plan, plan_path, backend, on_event=lambda e: running.set())

    worker = threading.Thread(target=first_apply)
    worker.start()
    try:
        assert running.wait(10)
        with pytest.raises(ApplyLockedError, match="holds host"):
            apply_plan(plan, plan_path, SimulatedBackend(CLUSTER))
    finally:
        worker.join(30)
    assert backend.placement() == plan.target_placement


def test_stop_event_stops_dispatching_and_in_flight_moves_finish(plan: Plan, plan_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER, time_scale=0.02)
    stop = threading.Event()

    def on_event(event: RunEvent) -> None:
        if event.kind is EventKind.STARTED:
            stop.set()

    options = ApplyOptions(ExecutorConfig(max_parallel_migrations=1))
    report = apply_plan(plan, plan_path, backend, options, on_event=on_event, stop=stop)
    assert report.interrupted and not report.ok
    assert report.done == 1 and report.not_run == 3
    entries = read_journal(journal_path(plan_path))
    assert entries[-1].event is JournalEvent.RUN_INTERRUPTED
    assert_truthful(plan, plan_path, backend)
    resumed = apply_plan(plan, plan_path, backend)
    assert resumed.ok and backend.placement() == plan.target_placement
    assert len(backend.completed_migrations) == 4


def test_interrupt_with_abort_leaves_the_in_flight_vm_on_its_source(plan: Plan, plan_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER, time_scale=0.05)
    stop = threading.Event()
    options = ApplyOptions(ExecutorConfig(max_parallel_migrations=1, abort_on_interrupt=True))
    report = apply_plan(plan, plan_path, backend, options,
                        on_event=lambda e: stop.set() if e.kind is EventKind.STARTED else None, stop=stop)
    assert report.interrupted and report.done == 0
    assert backend.completed_migrations == []
    assert backend.placement() == CLUSTER.placement
    assert_truthful(plan, plan_path, backend)


def test_stop_on_error_starts_nothing_after_a_failure(plan: Plan, plan_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER, faults=[Fault(FaultKind.FAIL, vm="v2")])
    options = ApplyOptions(ExecutorConfig(max_parallel_migrations=1), stop_on_error=True)
    report = apply_plan(plan, plan_path, backend, options)
    assert report.failed == 1 and report.done == 0  # v2 is the largest ready move, so it runs first
    assert backend.placement() == CLUSTER.placement


def test_expired_plan_is_refused_unless_forced(plan_path: Path) -> None:
    old = expired_plan(CLUSTER, TARGET)
    backend = SimulatedBackend(CLUSTER)
    with pytest.raises(StalePlanError, match="expired"):
        apply_plan(old, plan_path, backend)
    assert backend.attempted_migrations == []
    report = apply_plan(old, plan_path, backend, ApplyOptions(force=True))
    assert report.ok and report.warnings


def test_drifted_cluster_is_refused_but_the_plans_own_vms_may_have_moved(plan: Plan, plan_path: Path) -> None:
    drifted = CLUSTER.with_placement({"still": "a"})  # a VM the plan does not move was moved
    with pytest.raises(StalePlanError, match="still is on a"):
        apply_plan(plan, plan_path, SimulatedBackend(drifted))
    partly_done = CLUSTER.with_placement({"v3": "e"})  # one of the plan's own moves already happened
    backend = SimulatedBackend(partly_done)
    report = apply_plan(plan, plan_path, backend)
    assert report.ok and status_of(report)["v3"] is StepStatus.SKIPPED


def test_vm_moved_elsewhere_by_someone_else_is_skipped(plan_path: Path) -> None:
    cluster = Cluster([host("a", 8), host("b", 8), host("c", 8)], [vm("v1", "a", 2), vm("v2", "a", 2)])
    plan = make_plan(cluster, {"v1": "b", "v2": "b"})
    backend = SimulatedBackend(cluster.with_placement({"v2": "c"}))
    report = apply_plan(plan, plan_path, backend)
    assert status_of(report) == {"v1": StepStatus.DONE, "v2": StepStatus.SKIPPED}
    assert report.ok and backend.placement() == {"v1": "b", "v2": "c"}
    assert_truthful(plan, plan_path, backend)


def test_unsafe_plan_is_refused_before_anything_runs(plan_path: Path) -> None:
    cluster = Cluster([host("a", 8), host("b", 8)], [vm("v1", "a", 8), vm("v2", "b", 8)])
    backend = SimulatedBackend(cluster)
    with pytest.raises(UnsafePlanError, match="cannot be executed safely"):
        apply_plan(make_plan(cluster, {"v1": "b", "v2": "a"}), plan_path, backend)
    assert backend.attempted_migrations == []
    assert not journal_path(plan_path).exists()


def test_abort_event_aborts_the_in_flight_migration(plan: Plan, plan_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER, time_scale=0.05)
    stop, abort = threading.Event(), threading.Event()

    def on_event(event: RunEvent) -> None:
        if event.kind is EventKind.STARTED:
            stop.set()
            abort.set()

    report = apply_plan(plan, plan_path, backend, ApplyOptions(ExecutorConfig(max_parallel_migrations=1)),
                        on_event=on_event, stop=stop, abort=abort)
    assert report.interrupted and report.done == 0
    assert backend.placement() == CLUSTER.placement
    assert_truthful(plan, plan_path, backend)


def test_forced_past_a_new_vm_the_live_room_check_refuses_to_overfill(plan: Plan, plan_path: Path) -> None:
    crowded = Cluster(CLUSTER.hosts, CLUSTER.vms + (vm("intruder", "c", 4),))
    backend = SimulatedBackend(crowded)
    with pytest.raises(StalePlanError, match="new VM intruder on c"):
        apply_plan(plan, plan_path, backend)
    report = apply_plan(plan, plan_path, backend, ApplyOptions(ExecutorConfig(room_wait_s=0.2), force=True))
    assert status_of(report)["v2"] is StepStatus.BLOCKED and status_of(report)["v1"] is StepStatus.BLOCKED
    reasons = {r.vm: r.reason for r in report.records}
    assert "for room: no room on c now" in reasons["v2"] and "intruder" not in reasons["v2"]
    assert "1 domain(s)" in reasons["v2"]  # the intruder is what the live host holds
    assert not report.ok
    assert backend.placement()["v2"] == "b"
    assert_truthful(plan, plan_path, backend)
