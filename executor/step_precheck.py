"""The live look just before a step starts: is the VM still on its source, is the destination up,
and does the VM fit there beside everything it holds (this run's arrivals still under way included)?"""

from __future__ import annotations

from dataclasses import dataclass

from executor.hypervisor import Hypervisor
from executor.live_room import RoomCheck, room_on
from executor.report import StepRecord, StepStatus
from executor.schedule import Finish
from executor.steps import Step
from planner.domain.model import Cluster


@dataclass(frozen=True)
class Wait:
    """The precheck's answer when the destination has no room right now."""

    reason: str


def precheck(backend: Hypervisor, cluster: Cluster, step: Step, heading_there: tuple[Step, ...]) -> StepRecord | Wait | None:
    """None when the step may start; a Wait when it must wait for room; else the record that settles it."""
    source = backend.host_status(step.source)
    if not source.reachable:
        return StepRecord.of(step, StepStatus.FAILED, f"source {step.source} unreachable: {source.reason}",
                             location=step.source)
    if not backend.runs_on(step.source, step.vm):
        return _not_on_source(backend, step)
    destination = backend.host_status(step.destination)
    if not destination.reachable:
        return StepRecord.of(step, StepStatus.FAILED, f"destination {step.destination} unreachable: "
                                                      f"{destination.reason}", location=step.source)
    check: RoomCheck = room_on(cluster.host_by_name[step.destination], destination, heading_there, step)
    return None if check.fits else Wait(check.reason)


def _not_on_source(backend: Hypervisor, step: Step) -> StepRecord:
    try:
        where = backend.locate(step.vm)
    except Exception as error:  # a host that does not answer: where the VM is cannot be told
        return StepRecord.of(step, StepStatus.FAILED, f"cannot tell where {step.vm} is: {error}",
                             location=step.source)
    if where is None:
        return StepRecord.of(step, StepStatus.SKIPPED, "VM no longer exists", finish=Finish.GONE)
    if where == step.destination:
        return StepRecord.of(step, StepStatus.SKIPPED, f"already on {where}", finish=Finish.DONE, location=where)
    return StepRecord.of(step, StepStatus.SKIPPED, f"moved outside this plan: now on {where}",
                         finish=Finish.GONE, location=where)
