"""The dispatch loop of one pass over a plan's steps (the steps themselves, or the stranded VMs'
way back), run by the main thread of `apply_plan`.

The main thread owns the run state (dispatcher, ledger, journal) and makes every decision; each
migration runs in a daemon worker thread that reports back through a queue, and every read of a
host runs interruptibly, so a stop, an abort or a deadline is acted on within seconds.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping

from executor.capacity import CapacityLedger
from executor.graph import Ordering
from executor.hypervisor import Hypervisor, MigrationProgress
from executor.in_flight import Flight, InFlight
from executor.journal import Journal, JournalEntry, JournalEvent, JournalWriteError
from executor.report import EventKind, EventSink, RunEvent, StepRecord, StepStatus
from executor.run_controls import POLL_S, ApplyOptions, Controls, Interrupted, interruptible
from executor.schedule import Dispatcher, simulate
from executor.step_migration import migrate_and_verify
from executor.step_precheck import Wait, precheck
from executor.steps import Step
from planner.domain.plan import Plan

ROOM_RETRY_S = 2.0  # a step waiting for room looks again this often even when nothing of ours ends

_EVENT_OF = {
    StepStatus.DONE: JournalEvent.STEP_DONE,
    StepStatus.SKIPPED: JournalEvent.STEP_SKIPPED,
    StepStatus.FAILED: JournalEvent.STEP_FAILED,
    StepStatus.BLOCKED: JournalEvent.STEP_BLOCKED,
    StepStatus.NOT_STARTED: JournalEvent.STEP_NOT_STARTED,
    StepStatus.UNKNOWN: JournalEvent.STEP_UNKNOWN,
}


def journal_entry(run: int, record: StepRecord) -> JournalEntry:
    return JournalEntry(_EVENT_OF[record.status], run, vm=record.vm, kind=record.kind.value, source=record.source,
                        destination=record.destination, reason=record.reason, duration_s=round(record.duration_s, 3),
                        location=record.location or "", time_elapsed_ms=record.time_elapsed_ms,
                        downtime_ms=record.downtime_ms)


class Execution:
    def __init__(self, plan: Plan, ordering: Ordering, start: Mapping[str, str | None], backend: Hypervisor,
                 options: ApplyOptions, journal: Journal, run: int, on_event: EventSink | None,
                 controls: Controls) -> None:
        self.plan = plan
        self.ordering = ordering
        self.backend = backend
        self.config = options.config
        self.stop_on_error = options.stop_on_error
        self.closed_to = options.closed_to
        self.deadline = options.deadline
        self.journal = journal
        self.run_number = run
        self.on_event = on_event
        self.controls = controls
        self.dispatcher = Dispatcher(ordering, CapacityLedger.from_placement(plan.cluster, start), self.config.limits)
        self.records: dict[int, StepRecord] = {}
        self.results: queue.Queue[tuple[Step, StepRecord | BaseException]] = queue.Queue()
        self.progress: queue.Queue[tuple[Step, MigrationProgress]] = queue.Queue()
        self.flights = InFlight()
        self.waiting: dict[int, tuple[float, str]] = {}  # deferred step → (since, why)
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
                if not self.flights and not self._may_wait_for_room():
                    break
                self._collect(POLL_S)
                self._pump_progress()
                self._enforce_deadlines()
            except KeyboardInterrupt:
                self.controls.escalate()
        self._pump_progress()
        return self._leftovers(), self.interrupted

    def _look_outside(self) -> None:
        if self.deadline is not None and self.deadline.passed():
            self.controls.stop.set()
        if self.controls.stop.is_set() and not self.stopping:
            self._halt(interrupted=True)
        if self.controls.abort.is_set() and self.aborting_until is None:
            self._halt(interrupted=True, abort_running=True)

    def _halt(self, interrupted: bool, abort_running: bool = False) -> None:
        self.stopping = True
        self.interrupted = self.interrupted or interrupted
        if abort_running or (interrupted and self.config.abort_on_interrupt):
            self.aborting_until = time.monotonic() + self.config.abort_grace_s
            for flight in self.flights:
                self.backend.abort(flight.step.vm)

    def _abort_grace_over(self) -> bool:
        return self.aborting_until is not None and bool(self.flights) and time.monotonic() > self.aborting_until

    def _told_to_stop(self) -> bool:
        past_deadline = self.deadline is not None and self.deadline.passed()
        return past_deadline or self.controls.any_set()

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
        quarantine = self.flights.quarantine_of(step) or self._closed(step.destination)
        if quarantine:
            self._settle(step, StepRecord.of(step, StepStatus.BLOCKED, quarantine, location=step.source))
            return
        heading_there = self.flights.heading_to(step.destination)
        try:
            verdict = interruptible(lambda: precheck(self.backend, self.plan.cluster, step, heading_there),
                                    f"precheck-{step.vm}", self._told_to_stop)
        except Interrupted:
            self.dispatcher.defer(step)  # not started; the loop acts on the stop at once
            return
        if isinstance(verdict, Wait):
            self.dispatcher.defer(step)
            since = self.waiting.get(step.index, (time.monotonic(), ""))[0]
            self.waiting[step.index] = (since, verdict.reason)
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
        self.flights.take_off(step, self.config.hard_deadline_s(step.memory_mib))
        threading.Thread(target=self._carry_out, args=(step,), name=f"migrate-{step.vm}", daemon=True).start()
        self._emit(EventKind.STARTED, step)

    def _closed(self, destination: str) -> str:
        """Why the destination takes no VM now (a cordon made during the run), or ""; a question that
        cannot be answered closes the host: better a step not run than a VM sent to a cordoned host."""
        if self.closed_to is None:
            return ""
        try:
            why = self.closed_to(destination)
        except Exception as error:  # noqa: BLE001 — whatever went wrong, the answer is "not now"
            return f"cannot tell whether {destination} takes VMs now: {error}"
        return f"{destination} takes no VMs now: {why}" if why else ""

    def _carry_out(self, step: Step) -> None:
        """In a worker thread: the outcome, or whatever killed the worker, goes to the main thread."""
        try:
            self.results.put((step, migrate_and_verify(self.backend, self.config, step,
                                                       lambda p: self.progress.put((step, p)))))
        except BaseException as error:  # noqa: BLE001 — handed to the main thread, which re-raises it
            self.results.put((step, error))

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
            if self.flights.land(step):  # else: abandoned as unknown already; its late answer is moot
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
        self.journal_quietly(journal_entry(self.run_number, record))
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
        late = self.flights.late()
        for flight in late:
            self._unknown(flight, f"no answer from libvirt within {flight.hard_deadline - flight.started:.0f} s, "
                                  f"not even after an abort")
        if late:
            self._halt(interrupted=False)

    def _abandon_in_flight(self, why: str) -> None:
        for flight in self.flights:
            self._unknown(flight, why)

    def _unknown(self, flight: Flight, why: str) -> None:
        self._settle(flight.step, self.flights.lose(flight, why))

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
            self.journal_quietly(journal_entry(self.run_number, record))
        return [self.records[s.index] for s in self.ordering.steps if s.index in self.records]

    def _why_not_started(self) -> str:
        if self.journal.broken:
            return f"dispatch stopped: {self.journal.broken}"
        if self.flights.quarantined:
            return f"dispatch stopped: {', '.join(sorted(self.flights.quarantined))} in an unknown state"
        return "the run was stopped before it started"

    def _why_blocked(self, step: Step) -> str:
        failed = [self.ordering.steps[i] for i in self.ordering.waits_for(step.index)
                  if i not in self.records or self.records[i].status is not StepStatus.DONE]
        if failed:
            names = ", ".join(s.describe() for s in failed[:3]) + (" …" if len(failed) > 3 else "")
            return f"waits for steps that did not complete: {names}"
        return f"no room on {step.destination} (the live cluster differs from the plan)"

    # -- progress ------------------------------------------------------------------------------

    def _pump_progress(self) -> None:
        while True:
            try:
                step, update = self.progress.get_nowait()
            except queue.Empty:
                return
            if self.flights.carries(step):
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
