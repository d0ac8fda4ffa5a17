"""One step carried out in a worker thread: migrate, then believe only what the hosts show.

A backend's report is checked against where the VM runs afterwards: a reported success with the
VM on both hosts is a failure, and a reported error with the VM on its destination is a success.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from executor.config import ExecutorConfig
from executor.hypervisor import Hypervisor, MigrationOutcome, MigrationProgress, MigrationRequest, MigrationResult
from executor.report import StepRecord, StepStatus
from executor.schedule import Finish
from executor.steps import Step


def migrate_and_verify(backend: Hypervisor, config: ExecutorConfig, step: Step,
                       on_progress: Callable[[MigrationProgress], None]) -> StepRecord:
    began = time.monotonic()
    try:
        request = MigrationRequest(step.vm, step.uuid, step.source, step.destination, step.memory_mib,
                                   config.completion_timeout_s(step.memory_mib))
        result = backend.migrate(request, on_progress)
        return _verify(backend, step, result)
    except Exception as error:  # a backend bug or a lost connection must not kill the other migrations
        where = _where(backend, step.vm)
        finish = Finish.DONE if where == step.destination else Finish.FAILED
        status = StepStatus.DONE if finish is Finish.DONE else StepStatus.FAILED
        return StepRecord.of(step, status, f"backend error: {error}", time.monotonic() - began, finish, where)


def _verify(backend: Hypervisor, step: Step, result: MigrationResult) -> StepRecord:
    if result.outcome is MigrationOutcome.UNKNOWN:
        return StepRecord.of(step, StepStatus.UNKNOWN, f"{result.message}; check {step.vm} on {step.source} and "
                                                       f"{step.destination}", result.duration_s, Finish.UNKNOWN)
    on_destination = backend.runs_on(step.destination, step.vm)
    on_source = backend.runs_on(step.source, step.vm)
    if result.completed:
        if on_destination and not on_source:
            return replace(StepRecord.of(step, StepStatus.DONE, "", result.duration_s, Finish.DONE, step.destination),
                           time_elapsed_ms=result.time_elapsed_ms, downtime_ms=result.downtime_ms)
        where = "both hosts" if on_destination else step.source if on_source else "neither host"
        return StepRecord.of(step, StepStatus.FAILED, f"migration reported success but the VM runs on {where}",
                             result.duration_s, Finish.FAILED, _where(backend, step.vm))
    if on_destination and not on_source:  # it got there despite the error report: the truth wins
        return StepRecord.of(step, StepStatus.DONE, f"completed despite: {result.message}", result.duration_s,
                             Finish.DONE, step.destination)
    stays = "the VM stays on the source" if on_source else "the VM is not on the source any more"
    return StepRecord.of(step, StepStatus.FAILED, f"{result.outcome.value}: {result.message}; {stays}",
                         result.duration_s, Finish.FAILED, step.source if on_source else _where(backend, step.vm))


def _where(backend: Hypervisor, vm: str) -> str | None:
    try:
        return backend.locate(vm)
    except Exception:
        return None
