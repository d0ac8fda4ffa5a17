"""The migrating half of a nightly run: apply the plan within the window, run the freed-host
command for each host the run emptied, and record what happened."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from executor.config import load_config
from executor.report import ApplyReport, EventKind, RunEvent, StepStatus
from executor.runner import ApplyOptions, apply_plan
from executor.schedule import Deadline
from operations.cluster_access import RunSite
from operations.freed_hosts import emptied_hosts, run_hook
from operations.history import VMMove
from operations.run_finish import Finisher
from operations.run_log import RunLog
from operations.run_outcome import RunOutcome
from operations.cordons import cordon_of
from operations.run_request import RunRequest, RunResult
from operations.run_signals import migration_signals
from planner.domain.plan import Plan


def apply_night(plan: Plan, plan_file: Path, request: RunRequest, site: RunSite, log: RunLog,
                finisher: Finisher) -> RunResult:
    config = load_config(request.config_path).with_limits(request.max_parallel, request.per_host)
    backend = site.backend(plan, config)
    deadline = None
    if request.window:
        closes = request.window.closes_at(site.now())
        deadline = Deadline(closes.timestamp(), lambda: site.now().timestamp())
        log.info(f"migrations may start until {closes.isoformat(timespec='minutes')}")
    events = MoveEvents(log, site.now)
    options = ApplyOptions(config, deadline=deadline, lock_held=True, closed_to=cordon_of(request.state_dir))
    with migration_signals() as interrupts:
        report = apply_plan(plan, plan_file, backend, options, on_event=events, stop=interrupts.stop,
                            abort=interrupts.abort, abandon=interrupts.abandon)
    live = backend.inventory()
    emptied = emptied_hosts(plan, report.records, live)
    hooks_ok = run_hooks(emptied, request.on_freed, log)
    failed = report.failed + report.count(StepStatus.BLOCKED) + report.unknown
    if report.journal_error:
        log.error(f"journal: {report.journal_error}; nothing more was started")
    signalled = interrupts.signalled.is_set()
    outcome = night_outcome(report, failed, signalled)
    _log_summary(log, report, outcome, emptied)
    finisher.finish(outcome, plan, live, moves_done=report.done, moves_failed=failed, moves_skipped=report.skipped,
                    moves_not_run=report.count(StepStatus.NOT_STARTED), moved_mib=_moved_mib(plan, events.moves),
                    hosts_freed=emptied, moves=tuple(events.moves))
    return RunResult(outcome, failed=bool(failed or report.journal_error or not hooks_ok or signalled))


def night_outcome(report: ApplyReport, failed: int, signalled: bool) -> RunOutcome:
    if signalled:
        return RunOutcome.INTERRUPTED
    if failed or report.journal_error:
        return RunOutcome.PARTLY_FAILED
    return RunOutcome.WINDOW_CLOSED if report.interrupted else RunOutcome.DONE


def _moved_mib(plan: Plan, moves: list[VMMove]) -> int:
    """Memory of the VMs that reached their planned destination (parking detours not counted twice)."""
    target, vms = plan.target_placement, plan.cluster.vm_by_name
    return sum(vms[m.vm].memory_mib for m in moves if m.vm in vms and target.get(m.vm) == m.destination)


def run_hooks(hosts: tuple[str, ...], template: str | None, log: RunLog) -> bool:
    """`--on-freed` for each emptied host; False if any failed."""
    ok = True
    for host in hosts:
        if not template:
            log.info(f"emptied {host}")
            continue
        result = run_hook(template, host)
        if result.ok:
            log.info(f"emptied {host}; --on-freed: {result.detail}")
        else:
            ok = False
            log.error(f"emptied {host} but --on-freed failed: {result.detail}")
    return ok


def _log_summary(log: RunLog, report: ApplyReport, outcome: RunOutcome, emptied: tuple[str, ...]) -> None:
    for record in report.records:
        if record.status is StepStatus.NOT_STARTED:
            log.info(f"left for the next run: {record.vm} {record.source} → {record.destination}")
        elif record.status in (StepStatus.BLOCKED, StepStatus.UNKNOWN):
            log.error(f"{record.status.value}: {record.vm} {record.source} → {record.destination}: {record.reason}")
    line = (f"run {outcome}: {report.done} done, {report.failed} failed, {report.skipped} skipped, "
            f"{report.not_run} not run; hosts emptied: {', '.join(emptied) or 'none'}")
    (log.info if outcome in (RunOutcome.DONE, RunOutcome.WINDOW_CLOSED) else log.error)(line)


class MoveEvents:
    """Log lines per step, and the verified moves with the time they completed."""

    def __init__(self, log: RunLog, clock: Callable[[], datetime]) -> None:
        self.log = log
        self.clock = clock
        self.moves: list[VMMove] = []

    def __call__(self, event: RunEvent) -> None:
        if event.kind is EventKind.STARTED:
            self.log.info(f"start {event.step.describe()}")
        elif event.kind is EventKind.FINISHED and event.record is not None:
            record = event.record
            text = f"{record.status.value} {event.step.describe()} ({record.duration_s:.1f} s)"
            if record.status is StepStatus.DONE:
                self.moves.append(VMMove(record.vm, record.source, record.destination, self.clock()))
                self.log.info(text)
            elif record.status in (StepStatus.FAILED, StepStatus.UNKNOWN):
                self.log.error(f"{text}: {record.reason}")
            else:
                self.log.warning(f"{text}: {record.reason}")
