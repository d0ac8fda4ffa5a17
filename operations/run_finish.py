"""The end of a run: its record appended to the history and, if asked, its metrics written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from executor.hypervisor import LiveState
from operations.history import RunRecord, append_run, history_path
from operations.metrics_file import RunMetrics, write_metrics
from operations.run_log import RunLog
from operations.run_outcome import RunOutcome
from planner.domain.metrics import HostUsage, usage_by_host
from planner.domain.plan import Plan


@dataclass(frozen=True)
class Finisher:
    """What every record of this run shares; `finish` writes one with the outcome and the counts."""

    state_dir: Path
    metrics_file: str | None
    started: datetime
    goal: str
    clock: Callable[[], datetime]
    log: RunLog
    plan_file: str = ""  # set once the plan is written

    def finish(self, outcome: RunOutcome, plan: Plan | None = None, live: LiveState | None = None,
               **counts: Any) -> RunRecord:
        record = RunRecord(self.started, self.clock(), self.goal, outcome, plan=self.plan_file, **counts)
        append_run(history_path(self.state_dir), record)
        if self.metrics_file:
            for warning in write_metrics(self.metrics_file, run_metrics(record, plan, live)):
                self.log.warning(warning)
        return record


def run_metrics(record: RunRecord, plan: Plan | None, live: LiveState | None) -> RunMetrics:
    """The record's counts, and the cluster's peaks before the plan and after the run (as measured
    live when the run migrated, else as planned)."""
    before: tuple[HostUsage, ...] = ()
    after: tuple[HostUsage, ...] = ()
    if plan is not None:
        before = tuple(plan.before)
        placement = {vm: found.host for vm, found in live.vms.items()} if live is not None else None
        after = tuple(usage_by_host(plan.cluster, placement).values())
    return RunMetrics(
        finished_unix=record.finished.timestamp(), goal=record.goal, success=record.outcome.succeeded,
        moves_done=record.moves_done, moves_failed=record.moves_failed, moves_not_run=record.moves_not_run,
        moved_bytes=record.moved_mib * 2**20, hosts_freed=len(record.hosts_freed),
        peak_cpu_before=_peak(before, "cpu_permille"), peak_cpu_after=_peak(after, "cpu_permille"),
        peak_memory_before=_peak(before, "memory_permille"), peak_memory_after=_peak(after, "memory_permille"))


def _peak(usages: tuple[HostUsage, ...], attribute: str) -> float:
    return max((getattr(u, attribute) for u in usages), default=0) / 1000
