"""A host closed while a plan runs (a cordon made mid-run) takes none of the steps not yet started:
each is blocked with the reason, its dependants too, and nothing ends on that host."""

from __future__ import annotations

from pathlib import Path

from executor.report import EventKind, RunEvent, StepStatus
from executor.runner import ApplyOptions, apply_plan
from executor.simulated import SimulatedBackend
from operations.cordons import add_cordons, cordon_of
from planner.domain.model import Cluster
from tests.executor.builders import host, make_plan, vm

# One migration at a time: v1 goes to b first, then v2 and v3 to c.
CLUSTER = Cluster([host("a", 32), host("b", 32), host("c", 32)],
                  [vm("v1", "a", 4), vm("v2", "a", 4), vm("v3", "a", 4)])
TARGET = {"v1": "b", "v2": "c", "v3": "c"}


def test_a_cordon_made_mid_run_blocks_the_steps_to_that_host(tmp_path: Path) -> None:
    state = tmp_path / "state"
    plan = make_plan(CLUSTER, TARGET)
    backend = SimulatedBackend(CLUSTER)
    config = ApplyOptions().config.with_limits(1, 1)

    def cordon_c_after_the_first_move(event: RunEvent) -> None:
        if event.kind is EventKind.FINISHED:
            add_cordons(state, ["c"], "alice", "fan failure")

    report = apply_plan(plan, tmp_path / "plan.json", backend, ApplyOptions(config, closed_to=cordon_of(state)),
                        on_event=cordon_c_after_the_first_move)

    statuses = {r.vm: r.status for r in report.records}
    assert statuses == {"v1": StepStatus.DONE, "v2": StepStatus.BLOCKED, "v3": StepStatus.BLOCKED}
    assert all("c takes no VMs now: cordoned by alice" in r.reason and "(fan failure)" in r.reason
               for r in report.records if r.vm != "v1")
    assert backend.placement() == {"v1": "b", "v2": "a", "v3": "a"}


def test_a_question_that_fails_closes_the_host(tmp_path: Path) -> None:
    plan = make_plan(CLUSTER, {"v1": "b"})
    backend = SimulatedBackend(CLUSTER)

    def broken(host_name: str) -> str:
        raise OSError("cordons.json: I/O error")

    report = apply_plan(plan, tmp_path / "plan.json", backend, ApplyOptions(closed_to=broken))

    (record,) = report.records
    assert record.status is StepStatus.BLOCKED and "cannot tell whether b takes VMs now" in record.reason
    assert backend.placement()["v1"] == "a"


def test_without_a_cordon_every_step_runs(tmp_path: Path) -> None:
    plan = make_plan(CLUSTER, TARGET)
    backend = SimulatedBackend(CLUSTER)
    report = apply_plan(plan, tmp_path / "plan.json", backend, ApplyOptions(closed_to=cordon_of(tmp_path / "s")))
    assert {r.status for r in report.records} == {StepStatus.DONE}
    assert backend.placement() == TARGET
