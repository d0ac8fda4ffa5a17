"""apply: precheck → journal the intent → migrate → verify → journal the outcome, for every step.

The runner's main thread owns the run state (dispatcher, ledger, journal) and makes every decision;
each migration runs in a daemon worker thread that reports back through a queue. The main thread
never blocks on libvirt for longer than the backend's bounded calls, so a stop, an abort or a
deadline is always acted on within seconds:

- before a step starts, its destination is re-read live (every domain there, plus this run's
  migrations still heading there) and the step waits while it does not fit;
- its intent is fsync'd to the journal before it is submitted, so a crash never hides a migration;
- a migration that outlives its hard deadline (completion timeout + abort grace + verification) is
  reported "unknown", its hosts are quarantined and the run stops: nothing else touches them;
- stop (Ctrl-C) ends dispatching; abort also aborts what runs and waits at most the abort grace;
  abandon gives up on whatever has not returned, at once.

This module prepares a run (the lock, the journal, what earlier runs settled) and hands each pass
over the steps to executor/execution.py; how a caller steers it is in executor/run_controls.py.
"""

from __future__ import annotations

import threading
from pathlib import Path

from executor.execution import Execution, journal_entry
from executor.graph import order_moves
from executor.hypervisor import Hypervisor
from executor.journal import History, Journal, JournalEntry, JournalEvent, history_of, journal_path, read_journal
from executor.lock import ClusterLock
from executor.reconcile import Reconciled, Settled, SettledMove, reconcile
from executor.report import ApplyReport, EventSink, StepRecord, StepStatus
from executor.run_controls import ApplyOptions, Controls
from executor.schedule import Finish
from executor.staleness import check_fresh
from executor.steps import StepKind
from executor.stranded import independent, return_steps, where_now
from planner.domain.plan import Plan

__all__ = ["ApplyOptions", "Controls", "apply_plan", "resume_history"]


def apply_plan(plan: Plan, plan_path: str | Path, backend: Hypervisor, options: ApplyOptions = ApplyOptions(),
               on_event: EventSink | None = None, stop: threading.Event | None = None,
               abort: threading.Event | None = None, abandon: threading.Event | None = None) -> ApplyReport:
    """Run the plan against the live cluster behind `backend`; resumes from the journal beside the plan.

    Raises before anything runs: ApplyLockedError, StalePlanError, UnsafePlanError, InputError
    (an unreadable journal), JournalWriteError (a journal that cannot be opened).
    """
    controls = Controls(stop or threading.Event(), abort or threading.Event(), abandon or threading.Event())
    if options.lock_held:
        return _apply_locked(plan, plan_path, backend, options, on_event, controls)
    hosts = options.lock_hosts or tuple(h.name for h in plan.cluster.hosts)
    with ClusterLock(hosts, options.config.lock_dir or None):
        return _apply_locked(plan, plan_path, backend, options, on_event, controls)


def _apply_locked(plan: Plan, plan_path: str | Path, backend: Hypervisor, options: ApplyOptions,
                  on_event: EventSink | None, controls: Controls) -> ApplyReport:
    journal_file = journal_path(plan_path)
    history = history_of(read_journal(journal_file), plan.fingerprint)
    live = backend.inventory()
    warnings = check_fresh(plan, live, options.force)
    state = reconcile(plan, live, history)
    ordering = order_moves(plan.cluster, state.start, state.targets)
    with Journal(journal_file) as journal:
        run = history.runs + 1
        notes = list(warnings)
        if journal.repaired_bytes:
            notes.append(f"cut a torn last journal line of {journal.repaired_bytes} bytes left by a crash")
        journal.write(JournalEntry(JournalEvent.RUN_STARTED, run, plan=plan.fingerprint, reason="; ".join(notes)))
        settled = [_settled_record(s) for s in state.settled]
        for record in settled:
            journal.write(journal_entry(run, record))
        execution = Execution(plan, ordering, state.start, backend, options, journal, run, on_event, controls)
        records, interrupted = execution.run()
        if not interrupted:
            records += _bring_back_stranded(plan, state, history, records, execution, backend, options, journal, run,
                                            on_event, controls)
            interrupted = execution.interrupted
        execution.journal_quietly(JournalEntry(
            JournalEvent.RUN_INTERRUPTED if interrupted else JournalEvent.RUN_FINISHED, run))
        journal_error = journal.broken
    return ApplyReport(tuple(settled + records), journal_file, interrupted, warnings, journal_error)


def _bring_back_stranded(plan: Plan, state: Reconciled, history: History, records: list[StepRecord],
                         execution: Execution, backend: Hypervisor, options: ApplyOptions, journal: Journal,
                         run: int, on_event: EventSink | None, controls: Controls) -> list[StepRecord]:
    """Parked VMs whose destination never took them go back to their source (see executor.stranded)."""
    parked = set(history.parked_at) | {r.vm for r in records if r.kind is StepKind.PARK and r.status is StepStatus.DONE}
    placement = where_now(state.start, records)
    steps = return_steps(plan, placement, parked)
    if not steps:
        return []
    returns = Execution(plan, independent(steps), placement, backend, options, journal, run, on_event, controls)
    returned, interrupted = returns.run()
    execution.interrupted = execution.interrupted or interrupted
    return returned


def resume_history(plan: Plan, plan_path: str | Path) -> History:
    """What earlier runs of this plan journaled (for displays that want to say 'resuming')."""
    return history_of(read_journal(journal_path(plan_path)), plan.fingerprint)


def _settled_record(settled: SettledMove) -> StepRecord:
    move = settled.move
    finish = Finish.DONE if settled.how is Settled.ALREADY_DONE else Finish.GONE
    return StepRecord(move.vm, move.source, move.destination, StepKind.MOVE, StepStatus.SKIPPED, settled.reason,
                      0.0, finish, settled.location)
