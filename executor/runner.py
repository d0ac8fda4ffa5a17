"""apply: precheck → migrate → verify → journal, for every step, streamed by the dispatcher.

The runner owns the only mutable run state (dispatcher, ledger, journal) and touches it from one
thread; migrations run in worker threads and report back through futures and a progress queue.
A failed step blocks only the steps that wait for it. A stop (Ctrl-C, a stop event,
--stop-on-error) ends dispatching; in-flight migrations finish, or are aborted if so configured,
and the journal records every step's fate before apply returns.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from executor.capacity import CapacityLedger
from executor.config import ExecutorConfig
from executor.graph import Ordering, order_moves
from executor.hypervisor import Hypervisor, MigrationProgress, MigrationRequest, MigrationResult
from executor.journal import History, Journal, JournalEntry, JournalEvent, history_of, journal_path, read_journal
from executor.lock import ApplyLock, lock_paths
from executor.reconcile import Reconciled, Settled, SettledMove, reconcile
from executor.report import ApplyReport, EventKind, EventSink, RunEvent, StepRecord, StepStatus
from executor.schedule import Deadline, Dispatcher, Finish, simulate
from executor.staleness import check_fresh
from executor.steps import Step, StepKind
from planner.plan import Plan

POLL_S = 0.05  # how often the main loop looks at progress while migrations run

_EVENT_OF = {
    StepStatus.DONE: JournalEvent.STEP_DONE,
    StepStatus.SKIPPED: JournalEvent.STEP_SKIPPED,
    StepStatus.FAILED: JournalEvent.STEP_FAILED,
    StepStatus.BLOCKED: JournalEvent.STEP_BLOCKED,
    StepStatus.NOT_STARTED: JournalEvent.STEP_NOT_STARTED,
}


@dataclass(frozen=True)
class ApplyOptions:
    config: ExecutorConfig = field(default_factory=ExecutorConfig)
    force: bool = False
    stop_on_error: bool = False
    deadline: Deadline | None = None  # past it nothing new starts: the run stops as if `stop` were set


def apply_plan(plan: Plan, plan_path: str | Path, backend: Hypervisor, options: ApplyOptions = ApplyOptions(),
               on_event: EventSink | None = None, stop: threading.Event | None = None,
               abort: threading.Event | None = None) -> ApplyReport:
    """Run the plan against the live cluster behind `backend`; resumes from the journal beside the plan.

    `stop` ends dispatching (in-flight migrations finish, or are aborted if the config says so);
    `abort` also aborts the in-flight ones. A KeyboardInterrupt in the runner's thread acts as `stop`,
    a second one as `abort`. Raises before anything runs: ApplyLockedError, StalePlanError, UnsafePlanError.
    """
    journal_file = journal_path(plan_path)
    with ApplyLock(lock_paths(plan_path, plan.fingerprint, options.config.lock_dir)):
        history = history_of(read_journal(journal_file), plan.fingerprint)
        live = backend.inventory()
        warnings = check_fresh(plan, live, options.force)
        state = reconcile(plan, live, history)
        ordering = order_moves(plan.cluster, state.start, state.targets)
        with Journal(journal_file) as journal:
            run = history.runs + 1
            journal.write(JournalEntry(JournalEvent.RUN_STARTED, run, plan=plan.fingerprint, reason="; ".join(warnings)))
            settled = [_settled_record(s) for s in state.settled]
            for record in settled:
                journal.write(_entry(run, record))
            execution = _Execution(plan, ordering, state, backend, options, journal, run, on_event,
                                   stop or threading.Event(), abort or threading.Event())
            records, interrupted = execution.run()
            journal.write(JournalEntry(JournalEvent.RUN_INTERRUPTED if interrupted else JournalEvent.RUN_FINISHED, run))
    return ApplyReport(tuple(settled + records), journal_file, interrupted, warnings)


def resume_history(plan: Plan, plan_path: str | Path) -> History:
    """What earlier runs of this plan journaled (for displays that want to say 'resuming')."""
    return history_of(read_journal(journal_path(plan_path)), plan.fingerprint)


def _settled_record(settled: SettledMove) -> StepRecord:
    move = settled.move
    finish = Finish.DONE if settled.how is Settled.ALREADY_DONE else Finish.GONE
    return StepRecord(move.vm, move.source, move.destination, StepKind.MOVE, StepStatus.SKIPPED, settled.reason,
                      0.0, finish, settled.location)


def _entry(run: int, record: StepRecord) -> JournalEntry:
    return JournalEntry(_EVENT_OF[record.status], run, vm=record.vm, kind=record.kind.value, source=record.source,
                        destination=record.destination, reason=record.reason, duration_s=round(record.duration_s, 3),
                        location=record.location or "", time_elapsed_ms=record.time_elapsed_ms,
                        downtime_ms=record.downtime_ms)


class _Execution:
    def __init__(self, plan: Plan, ordering: Ordering, state: Reconciled, backend: Hypervisor, options: ApplyOptions,
                 journal: Journal, run: int, on_event: EventSink | None, stop: threading.Event,
                 abort: threading.Event) -> None:
        self.plan = plan
        self.ordering = ordering
        self.backend = backend
        self.config = options.config
        self.stop_on_error = options.stop_on_error
        self.deadline = options.deadline
        self.journal = journal
        self.run_number = run
        self.on_event = on_event
        self.stop = stop
        self.abort = abort
        self.aborted = False
        self.dispatcher = Dispatcher(ordering, CapacityLedger.from_placement(plan.cluster, state.start), self.config.limits)
        self.records: dict[int, StepRecord] = {}
        self.progress: queue.Queue[tuple[Step, MigrationProgress]] = queue.Queue()
        self.stopping = False
        self.interrupted = False
        self.began = time.monotonic()
        self.total_mib = sum(s.memory_mib for s in ordering.steps) or 1
        self.settled_mib = 0
        estimate = simulate(ordering, CapacityLedger.from_placement(plan.cluster, state.start), self.config.limits,
                            lambda s: backend.estimate_s(s.memory_mib))
        self.planned_s = estimate.makespan

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> tuple[list[StepRecord], bool]:
        workers = self.config.limits.max_parallel
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="migrate") as pool:
            futures: dict[Future[StepRecord], Step] = {}
            while True:
                if self.deadline is not None and self.deadline.passed():
                    self.stop.set()
                if self.stop.is_set() and not self.stopping:
                    self._halt(interrupted=True)
                if self.abort.is_set() and not self.aborted:
                    self._halt(interrupted=True, abort_running=True)
                if not self.stopping:
                    for step in self.dispatcher.start_ready():
                        futures[pool.submit(self._carry_out, step)] = step
                        self._started(step)
                if not futures:
                    break
                try:
                    done, _ = wait(futures, timeout=POLL_S, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:
                    self._halt(interrupted=True, abort_running=self.stopping)  # the second one aborts
                    continue
                self._pump_progress()
                for future in done:
                    self._finished(futures.pop(future), future.result())  # a crash propagates from here
        self._pump_progress()
        return self._leftovers(), self.interrupted

    def _halt(self, interrupted: bool, abort_running: bool = False) -> None:
        self.stopping = True
        self.interrupted = self.interrupted or interrupted
        if abort_running or (interrupted and self.config.abort_on_interrupt):
            self.aborted = True
            for index in self.dispatcher.running:
                self.backend.abort(self.ordering.steps[index].vm)

    def _started(self, step: Step) -> None:
        self.journal.write(JournalEntry(JournalEvent.STEP_STARTED, self.run_number, vm=step.vm, kind=step.kind.value,
                                        source=step.source, destination=step.destination))
        self._emit(EventKind.STARTED, step)

    def _finished(self, step: Step, record: StepRecord) -> None:
        self.dispatcher.finish(step, record.finish)
        self.records[step.index] = record
        self.settled_mib += step.memory_mib
        self.journal.write(_entry(self.run_number, record))
        self._emit(EventKind.FINISHED, step, record=record)
        if record.status is StepStatus.FAILED and self.stop_on_error:
            self._halt(interrupted=False)

    def _leftovers(self) -> list[StepRecord]:
        """Every step that never started gets a record saying why, in the journal too."""
        if not self.stopping:
            self.dispatcher.give_up()  # nothing runs, yet steps remain: the room they wait for never came
        blocked = self.dispatcher.blocked
        for step in self.dispatcher.unfinished():
            if self.stopping and step.index not in blocked:
                record = StepRecord.of(step, StepStatus.NOT_STARTED, "the run was stopped before it started",
                                       location=step.source)
            else:
                record = StepRecord.of(step, StepStatus.BLOCKED, self._why_blocked(step), location=step.source)
            self.records[step.index] = record
            self.journal.write(_entry(self.run_number, record))
        return [self.records[s.index] for s in self.ordering.steps if s.index in self.records]

    def _why_blocked(self, step: Step) -> str:
        failed = [self.ordering.steps[i] for i in self.ordering.waits_for(step.index)
                  if i not in self.records or self.records[i].status is not StepStatus.DONE]
        if failed:
            names = ", ".join(s.describe() for s in failed[:3]) + (" …" if len(failed) > 3 else "")
            return f"waits for steps that did not complete: {names}"
        return f"no room on {step.destination} (the live cluster differs from the plan)"

    # -- one step, in a worker thread ----------------------------------------------------------

    def _carry_out(self, step: Step) -> StepRecord:
        began = time.monotonic()
        try:
            refused = self._precheck(step)
            if refused is not None:
                return refused
            request = MigrationRequest(step.vm, step.uuid, step.source, step.destination, step.memory_mib,
                                       self.config.completion_timeout_s(step.memory_mib))
            result = self.backend.migrate(request, lambda p: self.progress.put((step, p)))
            return self._verify(step, result)
        except Exception as error:  # a backend bug or a lost connection must not kill the other migrations
            where = self._where(step.vm)
            finish = Finish.DONE if where == step.destination else Finish.FAILED
            status = StepStatus.DONE if finish is Finish.DONE else StepStatus.FAILED
            return StepRecord.of(step, status, f"backend error: {error}", time.monotonic() - began, finish, where)

    def _precheck(self, step: Step) -> StepRecord | None:
        """Live state now: is the VM still on the source, is the destination up with room for it?

        Room here counts the VMs the destination runs now; the ledger already counted the
        migrations in flight (adding those here too would double-count one that just completed).
        """
        source = self.backend.host_status(step.source)
        if not source.reachable:
            return StepRecord.of(step, StepStatus.FAILED, f"source {step.source} unreachable: {source.reason}",
                                 location=step.source)
        where = self.backend.locate(step.vm)
        if where is None:
            return StepRecord.of(step, StepStatus.SKIPPED, "VM no longer exists", finish=Finish.GONE)
        if where == step.destination:
            return StepRecord.of(step, StepStatus.SKIPPED, f"already on {where}", finish=Finish.DONE, location=where)
        if where != step.source:
            return StepRecord.of(step, StepStatus.SKIPPED, f"moved outside this plan: now on {where}",
                                 finish=Finish.GONE, location=where)
        destination = self.backend.host_status(step.destination)
        if not destination.reachable:
            return StepRecord.of(step, StepStatus.FAILED, f"destination {step.destination} unreachable: "
                                                          f"{destination.reason}", location=step.source)
        host = self.plan.cluster.host_by_name[step.destination]
        if destination.memory_used_mib is not None and (
                destination.memory_used_mib + step.memory_mib > host.usable_memory_mib):
            return StepRecord.of(step, StepStatus.FAILED, f"no room on {step.destination} now: "
                                                          f"{destination.memory_used_mib} MiB used", location=step.source)
        if destination.vcpus_used is not None and (
                destination.vcpus_used + step.vcpus > host.usable_vcpus):
            return StepRecord.of(step, StepStatus.FAILED, f"no vCPUs left on {step.destination} now",
                                 location=step.source)
        return None

    def _verify(self, step: Step, result: MigrationResult) -> StepRecord:
        on_destination = self.backend.runs_on(step.destination, step.vm)
        on_source = self.backend.runs_on(step.source, step.vm)
        if result.completed:
            if on_destination and not on_source:
                return replace(StepRecord.of(step, StepStatus.DONE, "", result.duration_s, Finish.DONE, step.destination),
                               time_elapsed_ms=result.time_elapsed_ms, downtime_ms=result.downtime_ms)
            where = "both hosts" if on_destination else step.source if on_source else "neither host"
            return StepRecord.of(step, StepStatus.FAILED, f"migration reported success but the VM runs on {where}",
                                 result.duration_s, Finish.FAILED, self._where(step.vm))
        if on_destination and not on_source:  # it got there despite the error report: the truth wins
            return StepRecord.of(step, StepStatus.DONE, f"completed despite: {result.message}", result.duration_s,
                                 Finish.DONE, step.destination)
        stays = "the VM stays on the source" if on_source else "the VM is not on the source any more"
        return StepRecord.of(step, StepStatus.FAILED, f"{result.outcome.value}: {result.message}; {stays}",
                             result.duration_s, Finish.FAILED, step.source if on_source else self._where(step.vm))

    def _where(self, vm: str) -> str | None:
        try:
            return self.backend.locate(vm)
        except Exception:
            return None

    # -- progress ------------------------------------------------------------------------------

    def _pump_progress(self) -> None:
        while True:
            try:
                step, update = self.progress.get_nowait()
            except queue.Empty:
                return
            self._emit(EventKind.PROGRESS, step, progress=update)

    def _emit(self, kind: EventKind, step: Step, progress: MigrationProgress | None = None,
              record: StepRecord | None = None) -> None:
        if self.on_event is None:
            return
        self.on_event(RunEvent(kind, step, len(self.records), len(self.ordering.steps), self._eta(), progress, record))

    def _eta(self) -> float:
        remaining = 1 - self.settled_mib / self.total_mib
        elapsed = time.monotonic() - self.began
        if self.settled_mib and elapsed > 0:
            return elapsed / (self.settled_mib / self.total_mib) * remaining  # the rate seen so far
        return self.planned_s * remaining
