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
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from pathlib import Path

from executor.capacity import CapacityLedger
from executor.config import ExecutorConfig
from executor.graph import Ordering, order_moves
from executor.hypervisor import Hypervisor, MigrationOutcome, MigrationProgress, MigrationRequest, MigrationResult
from executor.journal import (
    History,
    Journal,
    JournalEntry,
    JournalEvent,
    JournalWriteError,
    history_of,
    journal_path,
    read_journal,
)
from executor.live_room import RoomCheck, room_on
from executor.lock import ClusterLock
from executor.reconcile import Reconciled, Settled, SettledMove, reconcile
from executor.report import ApplyReport, EventKind, EventSink, RunEvent, StepRecord, StepStatus
from executor.schedule import Deadline, Dispatcher, Finish, simulate
from executor.staleness import check_fresh
from executor.steps import Step, StepKind
from executor.stranded import independent, return_steps, where_now
from planner.domain.plan import Plan

T = TypeVar("T")
POLL_S = 0.05  # how often the main loop looks at results, signals and deadlines
ROOM_RETRY_S = 2.0  # a step waiting for room looks again this often even when nothing of ours ends

_EVENT_OF = {
    StepStatus.DONE: JournalEvent.STEP_DONE,
    StepStatus.SKIPPED: JournalEvent.STEP_SKIPPED,
    StepStatus.FAILED: JournalEvent.STEP_FAILED,
    StepStatus.BLOCKED: JournalEvent.STEP_BLOCKED,
    StepStatus.NOT_STARTED: JournalEvent.STEP_NOT_STARTED,
    StepStatus.UNKNOWN: JournalEvent.STEP_UNKNOWN,
}


@dataclass(frozen=True)
class ApplyOptions:
    config: ExecutorConfig = field(default_factory=ExecutorConfig)
    force: bool = False
    stop_on_error: bool = False
    deadline: Deadline | None = None  # past it nothing new starts: the run stops as if `stop` were set
    lock_hosts: tuple[str, ...] = ()  # hosts to lock (default: the plan's); the inventory's for a live cluster
    lock_held: bool = False  # the caller (`run`) already holds the cluster lock


@dataclass(frozen=True)
class Controls:
    """How a caller (signal handlers, a window) steers a run from outside."""

    stop: threading.Event = field(default_factory=threading.Event)  # start nothing new
    abort: threading.Event = field(default_factory=threading.Event)  # also abort what runs
    abandon: threading.Event = field(default_factory=threading.Event)  # stop waiting for what has not returned


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
            journal.write(_entry(run, record))
        execution = _Execution(plan, ordering, state.start, backend, options, journal, run, on_event, controls)
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
                         execution: "_Execution", backend: Hypervisor, options: ApplyOptions, journal: Journal,
                         run: int, on_event: EventSink | None, controls: Controls) -> list[StepRecord]:
    """Parked VMs whose destination never took them go back to their source (see executor.stranded)."""
    parked = set(history.parked_at) | {r.vm for r in records if r.kind is StepKind.PARK and r.status is StepStatus.DONE}
    placement = where_now(state.start, records)
    steps = return_steps(plan, placement, parked)
    if not steps:
        return []
    returns = _Execution(plan, independent(steps), placement, backend, options, journal, run, on_event, controls)
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


def _entry(run: int, record: StepRecord) -> JournalEntry:
    return JournalEntry(_EVENT_OF[record.status], run, vm=record.vm, kind=record.kind.value, source=record.source,
                        destination=record.destination, reason=record.reason, duration_s=round(record.duration_s, 3),
                        location=record.location or "", time_elapsed_ms=record.time_elapsed_ms,
                        downtime_ms=record.downtime_ms)


@dataclass
class _InFlight:
    step: Step
    started: float
    hard_deadline: float


class _Interrupted(Exception):
    """A stop arrived while a precheck was still reading the cluster."""


class _Wait:
    """The precheck's answer when the destination has no room right now."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Execution:
    def __init__(self, plan: Plan, ordering: Ordering, start: Mapping[str, str | None], backend: Hypervisor,
                 options: ApplyOptions, journal: Journal, run: int, on_event: EventSink | None,
                 controls: Controls) -> None:
        self.plan = plan
        self.ordering = ordering
        self.backend = backend
        self.config = options.config
        self.stop_on_error = options.stop_on_error
        self.deadline = options.deadline
        self.journal = journal
        self.run_number = run
        self.on_event = on_event
        self.controls = controls
        self.dispatcher = Dispatcher(ordering, CapacityLedger.from_placement(plan.cluster, start), self.config.limits)
        self.records: dict[int, StepRecord] = {}
        self.results: queue.Queue[tuple[Step, StepRecord | BaseException]] = queue.Queue()
        self.progress: queue.Queue[tuple[Step, MigrationProgress]] = queue.Queue()
        self.in_flight: dict[int, _InFlight] = {}
        self.waiting: dict[int, tuple[float, str]] = {}  # deferred step → (since, why)
        self.quarantined: dict[str, str] = {}  # host → why nothing more may touch it in this run
        self.stopping = False
        self.interrupted = False
        self.aborting_until: float | None = None
        self.last_room_retry = time.monotonic()
        self.began = time.monotonic()
        self.total_mib = sum(s.memory_mib for s in ordering.steps) or 1
        self.settled_mib = 0
        estimate = simulate(ordering, CapacityLedger.from_placement(plan.cluster, start), self.config.limits,
                            lambda s: backend.estimate_s(s.memory_mib))
        self.planned_s = estimate.makespan

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> tuple[list[StepRecord], bool]:
        while True:
            try:
                self._look_outside()
                if self.controls.abandon.is_set() or self._abort_grace_over():
                    self._abandon_in_flight("the run was ended before libvirt answered")
                    break
                if not self.stopping:
                    self._dispatch()
                if not self.in_flight and not self._may_wait_for_room():
                    break
                self._collect(POLL_S)
                self._pump_progress()
                self._enforce_deadlines()
            except KeyboardInterrupt:  # without the CLI's handlers: first stops, second aborts, third abandons
                self._escalate()
        self._pump_progress()
        return self._leftovers(), self.interrupted

    def _look_outside(self) -> None:
        if self.deadline is not None and self.deadline.passed():
            self.controls.stop.set()
        if self.controls.stop.is_set() and not self.stopping:
            self._halt(interrupted=True)
        if self.controls.abort.is_set() and self.aborting_until is None:
            self._halt(interrupted=True, abort_running=True)

    def _escalate(self) -> None:
        for event in (self.controls.stop, self.controls.abort, self.controls.abandon):
            if not event.is_set():
                event.set()
                return

    def _halt(self, interrupted: bool, abort_running: bool = False) -> None:
        self.stopping = True
        self.interrupted = self.interrupted or interrupted
        if abort_running or (interrupted and self.config.abort_on_interrupt):
            self.aborting_until = time.monotonic() + self.config.abort_grace_s
            for flight in self.in_flight.values():
                self.backend.abort(flight.step.vm)

    def _abort_grace_over(self) -> bool:
        return self.aborting_until is not None and bool(self.in_flight) and time.monotonic() > self.aborting_until

    # -- starting steps ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        now = time.monotonic()
        if self.dispatcher.deferred and now - self.last_room_retry >= ROOM_RETRY_S:
            self.last_room_retry = now
            self.dispatcher.retry_deferred()
        while not self.stopping:  # a step settled by its precheck frees its slot at once: look again
            offered = self.dispatcher.start_ready()
            if not offered:
                return
            for step in offered:
                if self.stopping:
                    self.dispatcher.defer(step)
                    continue
                self._try_start(step)

    def _try_start(self, step: Step) -> None:
        blocked_by = next((h for h in (step.source, step.destination) if h in self.quarantined), None)
        if blocked_by is not None:
            self._settle(step, StepRecord.of(step, StepStatus.BLOCKED, f"{blocked_by} is in an unknown state: "
                                                                       f"{self.quarantined[blocked_by]}",
                                             location=step.source))
            return
        heading_there = tuple(f.step for f in self.in_flight.values() if f.step.destination == step.destination)
        try:
            verdict = self._interruptible(lambda: self._precheck(step, heading_there), f"precheck-{step.vm}")
        except _Interrupted:
            self.dispatcher.defer(step)  # not started; the loop acts on the stop at once
            return
        if isinstance(verdict, _Wait):
            self.dispatcher.defer(step)
            self.waiting.setdefault(step.index, (time.monotonic(), verdict.reason))
            self.waiting[step.index] = (self.waiting[step.index][0], verdict.reason)
            return
        if verdict is not None:
            self._settle(step, verdict)
            return
        self.waiting.pop(step.index, None)
        try:  # write-ahead: no journal line, no migration
            self.journal.write(JournalEntry(JournalEvent.STEP_STARTED, self.run_number, vm=step.vm,
                                            kind=step.kind.value, source=step.source, destination=step.destination))
        except JournalWriteError:
            self.dispatcher.defer(step)
            self._halt(interrupted=True)
            return
        hard = self.config.hard_deadline_s(step.memory_mib)
        self.in_flight[step.index] = _InFlight(step, time.monotonic(), time.monotonic() + hard)
        threading.Thread(target=self._carry_out, args=(step,), name=f"migrate-{step.vm}", daemon=True).start()
        self._emit(EventKind.STARTED, step)

    def _interruptible(self, call: Callable[[], T], what: str) -> T:
        """`call()` in a daemon thread while the main thread keeps watching the controls: reads of a
        host that hangs (each bounded by the backend, but possibly for many seconds) must not delay
        a stop, an abort or a window's end."""
        outcome: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

        def target() -> None:
            try:
                outcome.put((True, call()))
            except BaseException as error:  # noqa: BLE001 — re-raised in the main thread
                outcome.put((False, error))

        threading.Thread(target=target, name=what, daemon=True).start()
        while True:
            try:
                ok, value = outcome.get(timeout=POLL_S)
            except queue.Empty:
                if self._told_to_stop():
                    raise _Interrupted() from None
                continue
            if ok:
                return value
            raise value

    def _told_to_stop(self) -> bool:
        past_deadline = self.deadline is not None and self.deadline.passed()
        return past_deadline or any(e.is_set() for e in (self.controls.stop, self.controls.abort, self.controls.abandon))

    def _precheck(self, step: Step, heading_there: tuple[Step, ...]) -> StepRecord | _Wait | None:
        """Live state now, read in the main thread just before the start: is the VM still on its
        source, is the destination up, and does the VM fit there beside everything it holds?"""
        source = self.backend.host_status(step.source)
        if not source.reachable:
            return StepRecord.of(step, StepStatus.FAILED, f"source {step.source} unreachable: {source.reason}",
                                 location=step.source)
        if not self.backend.runs_on(step.source, step.vm):
            return self._not_on_source(step)
        destination = self.backend.host_status(step.destination)
        if not destination.reachable:
            return StepRecord.of(step, StepStatus.FAILED, f"destination {step.destination} unreachable: "
                                                          f"{destination.reason}", location=step.source)
        check: RoomCheck = room_on(self.plan.cluster.host_by_name[step.destination], destination, heading_there, step)
        return None if check.fits else _Wait(check.reason)

    def _not_on_source(self, step: Step) -> StepRecord:
        try:
            where = self.backend.locate(step.vm)
        except Exception as error:  # a host that does not answer: where the VM is cannot be told
            return StepRecord.of(step, StepStatus.FAILED, f"cannot tell where {step.vm} is: {error}",
                                 location=step.source)
        if where is None:
            return StepRecord.of(step, StepStatus.SKIPPED, "VM no longer exists", finish=Finish.GONE)
        if where == step.destination:
            return StepRecord.of(step, StepStatus.SKIPPED, f"already on {where}", finish=Finish.DONE, location=where)
        return StepRecord.of(step, StepStatus.SKIPPED, f"moved outside this plan: now on {where}",
                             finish=Finish.GONE, location=where)

    def _may_wait_for_room(self) -> bool:
        """Steps wait for room while something of ours runs; with nothing running, each waits at most
        room_wait_s for the cluster to change, then is given up with the reason it waited for."""
        if not self.dispatcher.deferred or self.stopping:
            return False
        now = time.monotonic()
        for index in sorted(self.dispatcher.deferred):
            since, why = self.waiting.get(index, (now, "no room"))
            if now - since >= self.config.room_wait_s:
                step = self.ordering.steps[index]
                self.dispatcher.give_up_deferred(step)
                self.waiting.pop(index, None)
                self._record(step, StepRecord.of(step, StepStatus.BLOCKED, f"waited {self.config.room_wait_s:g} s "
                                                                           f"for room: {why}", location=step.source))
        if self.dispatcher.deferred:
            time.sleep(POLL_S)
            return True
        return False

    # -- ending steps --------------------------------------------------------------------------

    def _collect(self, timeout: float) -> None:
        try:
            step, outcome = self.results.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if isinstance(outcome, BaseException):
                raise outcome  # a worker died of something no backend should raise (a simulated crash)
            if step.index in self.in_flight:  # else: abandoned as unknown already; its late answer is moot
                del self.in_flight[step.index]
                self._settle(step, outcome)
                self.dispatcher.retry_deferred()
            try:
                step, outcome = self.results.get_nowait()
            except queue.Empty:
                return

    def _settle(self, step: Step, record: StepRecord) -> None:
        self.dispatcher.finish(step, record.finish)
        self._record(step, record)
        if record.status is StepStatus.FAILED and self.stop_on_error:
            self._halt(interrupted=False)

    def _record(self, step: Step, record: StepRecord) -> None:
        self.records[step.index] = record
        self.settled_mib += step.memory_mib
        self.journal_quietly(_entry(self.run_number, record))
        self._emit(EventKind.FINISHED, step, record=record)

    def journal_quietly(self, entry: JournalEntry) -> None:
        """Outcomes are journaled when the journal still works; when it broke, dispatch has stopped
        (the intent of every started step is in it already, which is what resuming needs)."""
        try:
            self.journal.write(entry)
        except JournalWriteError:
            if not self.stopping:
                self._halt(interrupted=True)

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        late = [f for f in self.in_flight.values() if now > f.hard_deadline]
        for flight in late:
            self._unknown(flight, f"no answer from libvirt within {flight.hard_deadline - flight.started:.0f} s, "
                                  f"not even after an abort")
        if late:
            self._halt(interrupted=False)

    def _abandon_in_flight(self, why: str) -> None:
        for flight in list(self.in_flight.values()):
            self._unknown(flight, why)

    def _unknown(self, flight: _InFlight, why: str) -> None:
        step = flight.step
        self.in_flight.pop(step.index, None)
        for host in (step.source, step.destination):
            self.quarantined.setdefault(host, f"{step.vm}'s migration there ended unknown")
        record = StepRecord.of(step, StepStatus.UNKNOWN, f"{why}; check {step.vm} on {step.source} and "
                                                         f"{step.destination}", time.monotonic() - flight.started,
                               Finish.UNKNOWN)
        self._settle(step, record)

    def _leftovers(self) -> list[StepRecord]:
        """Every step that never started gets a record saying why, in the journal too."""
        if not self.stopping:
            self.dispatcher.give_up()  # nothing runs, yet steps remain: the room they wait for never came
        blocked = self.dispatcher.blocked
        for step in self.dispatcher.unfinished():
            if step.index in self.records:
                continue
            if self.stopping and step.index not in blocked:
                record = StepRecord.of(step, StepStatus.NOT_STARTED, self._why_not_started(), location=step.source)
            else:
                record = StepRecord.of(step, StepStatus.BLOCKED, self._why_blocked(step), location=step.source)
            self.records[step.index] = record
            self.journal_quietly(_entry(self.run_number, record))
        return [self.records[s.index] for s in self.ordering.steps if s.index in self.records]

    def _why_not_started(self) -> str:
        if self.journal.broken:
            return f"dispatch stopped: {self.journal.broken}"
        if self.quarantined:
            return f"dispatch stopped: {', '.join(sorted(self.quarantined))} in an unknown state"
        return "the run was stopped before it started"

    def _why_blocked(self, step: Step) -> str:
        failed = [self.ordering.steps[i] for i in self.ordering.waits_for(step.index)
                  if i not in self.records or self.records[i].status is not StepStatus.DONE]
        if failed:
            names = ", ".join(s.describe() for s in failed[:3]) + (" …" if len(failed) > 3 else "")
            return f"waits for steps that did not complete: {names}"
        return f"no room on {step.destination} (the live cluster differs from the plan)"

    # -- one step, in a worker thread ----------------------------------------------------------

    def _carry_out(self, step: Step) -> None:
        try:
            self.results.put((step, self._migrate_and_verify(step)))
        except BaseException as error:  # noqa: BLE001 — handed to the main thread, which re-raises it
            self.results.put((step, error))

    def _migrate_and_verify(self, step: Step) -> StepRecord:
        began = time.monotonic()
        try:
            request = MigrationRequest(step.vm, step.uuid, step.source, step.destination, step.memory_mib,
                                       self.config.completion_timeout_s(step.memory_mib))
            result = self.backend.migrate(request, lambda p: self.progress.put((step, p)))
            return self._verify(step, result)
        except Exception as error:  # a backend bug or a lost connection must not kill the other migrations
            where = self._where(step.vm)
            finish = Finish.DONE if where == step.destination else Finish.FAILED
            status = StepStatus.DONE if finish is Finish.DONE else StepStatus.FAILED
            return StepRecord.of(step, status, f"backend error: {error}", time.monotonic() - began, finish, where)

    def _verify(self, step: Step, result: MigrationResult) -> StepRecord:
        if result.outcome is MigrationOutcome.UNKNOWN:
            return StepRecord.of(step, StepStatus.UNKNOWN, f"{result.message}; check {step.vm} on {step.source} and "
                                                           f"{step.destination}", result.duration_s, Finish.UNKNOWN)
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
            if step.index in self.in_flight:
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
