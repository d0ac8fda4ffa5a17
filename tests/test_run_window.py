"""Windows: parsing (local time, crossing midnight), and the executor's deadline on a fake clock.

The deadline test drives the real runner on the simulated backend with a clock that is simply the
number of migrations completed so far: exact, and no waiting.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from executor.config import ExecutorConfig
from executor.hypervisor import MigrationRequest, MigrationResult, ProgressCallback
from executor.report import StepStatus
from executor.runner import ApplyOptions, apply_plan
from executor.schedule import Deadline
from executor.simulated import SimulatedBackend
from operations.window import parse_window
from planner.domain.errors import InputError
from planner.domain.model import Cluster
from tests.executor.builders import host, make_plan, vm

CET = timezone(timedelta(hours=1))


def at(hour: int, minute: int = 0, day: int = 26) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=CET)


def test_a_night_window_contains_its_hours_and_closes_at_its_end() -> None:
    window = parse_window("01:00-05:00")
    assert [window.contains(at(h)) for h in (0, 1, 4, 5, 12)] == [False, True, True, False, False]
    assert window.closes_at(at(4, 59)) == at(5)


def test_a_window_may_cross_midnight() -> None:
    window = parse_window("22:00-04:00")
    assert window.contains(at(23)) and window.contains(at(2)) and not window.contains(at(4)) and not window.contains(at(12))
    assert window.closes_at(at(23)) == at(4, day=27)
    assert window.closes_at(at(2)) == at(4)


@pytest.mark.parametrize("text", ["1-5", "01:00-01:00", "25:00-04:00", "01:00-04:60", "night"])
def test_bad_windows_are_input_errors_naming_the_option(text: str) -> None:
    with pytest.raises(InputError) as error:
        parse_window(text)
    assert error.value.field == "--window"


class RecordingBackend(SimulatedBackend):
    """Notes the (fake) time each migration starts at."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self.started_at: list[int] = []

    def migrate(self, request: MigrationRequest, progress: ProgressCallback) -> MigrationResult:
        self.started_at.append(len(self.completed_migrations))
        return super().migrate(request, progress)


CLUSTER = Cluster([host("a"), host("b")], [vm(f"v{i}", "a", memory_gib=1) for i in range(5)])
TARGET = {f"v{i}": "b" for i in range(5)}


def test_no_migration_starts_once_the_deadline_passes_and_the_next_run_finishes_the_rest(tmp_path: Path) -> None:
    plan, path = make_plan(CLUSTER, TARGET), tmp_path / "plan.json"
    backend = RecordingBackend(CLUSTER)
    config = ExecutorConfig(max_parallel_migrations=1)
    deadline = Deadline(at=2, clock=lambda: len(backend.completed_migrations))  # closes after 2 migrations

    first = apply_plan(plan, path, backend, ApplyOptions(config, deadline=deadline))

    assert backend.started_at == [0, 1]  # every start before the deadline
    assert first.interrupted and first.done == 2 and first.failed == 0
    assert first.count(StepStatus.NOT_STARTED) == 3
    second = apply_plan(plan, path, backend, ApplyOptions(config))  # next night: resumes
    assert second.ok and second.done == 3
    assert backend.placement() == TARGET
    assert len(backend.completed_migrations) == 5  # nothing ran twice


def test_a_deadline_already_passed_starts_nothing(tmp_path: Path) -> None:
    backend = SimulatedBackend(CLUSTER)
    report = apply_plan(make_plan(CLUSTER, TARGET), tmp_path / "plan.json", backend,
                        ApplyOptions(deadline=Deadline(at=0, clock=lambda: 0)))
    assert backend.attempted_migrations == []
    assert report.count(StepStatus.NOT_STARTED) == 5
