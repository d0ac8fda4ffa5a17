"""What an apply did: one record per step (or settled move), and the totals the CLI prints."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from executor.hypervisor import MigrationProgress
from executor.schedule import Finish
from executor.steps import Step, StepKind


class StepStatus(str, enum.Enum):
    DONE = "done"
    SKIPPED = "skipped"  # nothing to do or nothing we could do: VM gone, already there, moved by someone
    FAILED = "failed"
    BLOCKED = "blocked"  # never started: something it waits for failed, or no room came
    NOT_STARTED = "not-started"  # never started: the run was stopped (Ctrl-C, --stop-on-error)
    UNKNOWN = "unknown"  # started, but libvirt never said how it ended: a person must check both hosts


@dataclass(frozen=True)
class StepRecord:
    vm: str
    source: str
    destination: str
    kind: StepKind
    status: StepStatus
    reason: str = ""
    duration_s: float = 0.0
    finish: Finish = Finish.FAILED  # what the dispatcher makes of it
    location: str | None = None  # where the VM is afterwards, as far as we know (None: gone or unknown)
    time_elapsed_ms: int = 0  # the hypervisor's own timing of a completed migration (0: unknown)
    downtime_ms: int = 0

    @classmethod
    def of(cls, step: Step, status: StepStatus, reason: str = "", duration_s: float = 0.0,
           finish: Finish = Finish.FAILED, location: str | None = None) -> "StepRecord":
        return cls(step.vm, step.source, step.destination, step.kind, status, reason, duration_s, finish, location)


@dataclass(frozen=True)
class ApplyReport:
    records: tuple[StepRecord, ...]
    journal: Path
    interrupted: bool = False
    warnings: tuple[str, ...] = ()
    journal_error: str = ""  # why the journal stopped being written ("" when it was written throughout)

    def count(self, status: StepStatus, parking: bool | None = None) -> int:
        return sum(1 for r in self.records if r.status is status
                   and (parking is None or (r.kind is StepKind.PARK) == parking))

    @property
    def done(self) -> int:
        return self.count(StepStatus.DONE, parking=False)

    @property
    def parked(self) -> int:
        return self.count(StepStatus.DONE, parking=True)

    @property
    def skipped(self) -> int:
        return self.count(StepStatus.SKIPPED)

    @property
    def failed(self) -> int:
        return self.count(StepStatus.FAILED)

    @property
    def unknown(self) -> int:
        return self.count(StepStatus.UNKNOWN)

    @property
    def not_run(self) -> int:
        return self.count(StepStatus.BLOCKED) + self.count(StepStatus.NOT_STARTED)

    @property
    def ok(self) -> bool:
        return (not self.interrupted and self.failed == 0 and self.not_run == 0 and self.unknown == 0
                and not self.journal_error)


class EventKind(str, enum.Enum):
    STARTED = "started"
    PROGRESS = "progress"
    FINISHED = "finished"


@dataclass(frozen=True)
class RunEvent:
    """Progress for a display: one step's news plus the run's totals and an ETA in seconds."""

    kind: EventKind
    step: Step
    finished_steps: int
    total_steps: int
    eta_s: float
    progress: MigrationProgress | None = None
    record: StepRecord | None = None


EventSink = Callable[[RunEvent], None]
