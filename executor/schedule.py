"""Streaming dispatch: start each step as soon as it may, within per-host and global limits.

No waves and no barriers: a step is ready when everything it waits for in the ordering graph is
done, and it starts as soon as a slot is free on its source (outgoing), on its destination
(incoming) and globally. When several are ready, the one heading the longest chain of dependent
migrations goes first, which with nothing waiting behind is simply the larger VM (both set the
makespan; see benchmarks/ordering.py for what that bought).
The capacity ledger is consulted at start time too: the graph is the plan, the ledger is the
safety net (live state may differ from the snapshot the graph was computed from).

The dispatcher is a plain state machine with no clock and no threads, so the runner drives it with
real migrations and `simulate` drives it with estimated durations (dry runs, tests, benchmarks).
"""

from __future__ import annotations

import enum
import heapq
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from executor.capacity import CapacityLedger, Demand
from executor.graph import Ordering
from executor.steps import Step


@dataclass(frozen=True)
class Limits:
    """Nova's max_concurrent_live_migrations is per host and outgoing; incoming is limited the same way."""

    max_parallel: int = 2
    per_host_outgoing: int = 1
    per_host_incoming: int = 1

    def __post_init__(self) -> None:
        for name in ("max_parallel", "per_host_outgoing", "per_host_incoming"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@dataclass(frozen=True)
class Deadline:
    """No new step starts once `clock()` reaches `at` (a maintenance window's end); running
    migrations finish. The clock is injectable so windows can be tested without waiting."""

    at: float
    clock: Callable[[], float] = time.time

    def passed(self) -> bool:
        return self.clock() >= self.at


class Finish(str, enum.Enum):
    """How a started (or skipped) step ended, as far as the ledger and its dependents care."""

    DONE = "done"  # the VM is on the destination: the source is free, dependents may go
    FAILED = "failed"  # the VM is still on the source: dependents are blocked
    GONE = "gone"  # the VM vanished: nothing held anywhere, dependents may go
    UNKNOWN = "unknown"  # libvirt never answered: the VM may hold room on both hosts; dependents are blocked


class Dispatcher:
    def __init__(self, ordering: Ordering, ledger: CapacityLedger, limits: Limits) -> None:
        self._steps = ordering.steps
        self._graph = ordering.graph
        self._ledger = ledger
        self._limits = limits
        self._missing = {node: self._graph.in_degree(node) for node in self._graph.nodes}
        self._ready: list[tuple[int, int, int]] = []  # (-chain, -memory, index)
        self._running: set[int] = set()
        self._outgoing: dict[str, int] = defaultdict(int)
        self._incoming: dict[str, int] = defaultdict(int)
        self._finished: dict[int, Finish] = {}
        self._blocked: set[int] = set()
        self._deferred: set[int] = set()  # ready, but the live cluster had no room at the last look
        self._chain = ordering.chain_mib()
        for step in self._steps:
            if self._missing[step.index] == 0:
                self._push(step.index)

    # -- queries -------------------------------------------------------------------------------

    @property
    def running(self) -> frozenset[int]:
        return frozenset(self._running)

    @property
    def blocked(self) -> frozenset[int]:
        """Steps that can never run: something they wait for failed (or they were given up on)."""
        return frozenset(self._blocked)

    @property
    def deferred(self) -> frozenset[int]:
        return frozenset(self._deferred)

    def unfinished(self) -> list[Step]:
        """Steps neither finished nor running: the ones a stop or a stall left behind."""
        return [s for s in self._steps if s.index not in self._finished and s.index not in self._running]

    def idle(self) -> bool:
        return not self._running

    # -- transitions ---------------------------------------------------------------------------

    def start_ready(self) -> list[Step]:
        """Steps to start now, in priority order; each is counted as in flight from this call."""
        started, deferred = [], []
        while self._ready and len(self._running) < self._limits.max_parallel:
            entry = heapq.heappop(self._ready)
            step = self._steps[entry[2]]
            if self._may_start(step):
                self._begin(step)
                started.append(step)
            else:
                deferred.append(entry)
        for entry in deferred:
            heapq.heappush(self._ready, entry)
        return started

    def finish(self, step: Step, how: Finish) -> None:
        self._running.discard(step.index)
        self._outgoing[step.source] -= 1
        self._incoming[step.destination] -= 1
        self._settle(step, how)

    def defer(self, step: Step) -> None:
        """A step handed out by start_ready did not start after all (the live destination had no
        room): undo its start; it waits until `retry_deferred`."""
        self._running.discard(step.index)
        self._outgoing[step.source] -= 1
        self._incoming[step.destination] -= 1
        self._ledger.release(step.destination, _demand(step))
        self._deferred.add(step.index)

    def retry_deferred(self) -> None:
        """Something changed (a migration ended, time passed): offer the deferred steps again."""
        for index in sorted(self._deferred):
            self._push(index)
        self._deferred.clear()

    def give_up_deferred(self, step: Step) -> None:
        """The room a deferred step waits for never came: it ends unstarted, its dependents blocked."""
        self._deferred.discard(step.index)
        self._finished[step.index] = Finish.FAILED
        self._block_dependents(step.index)

    def give_up(self) -> list[Step]:
        """Nothing runs and nothing ready can start (the live ledger says no room): block the rest."""
        left = [s for s in self.unfinished() if s.index not in self._blocked]
        self._blocked.update(s.index for s in left)
        self._ready.clear()
        self._deferred.clear()
        return left

    # -- internals -----------------------------------------------------------------------------

    def _may_start(self, step: Step) -> bool:
        return (self._outgoing[step.source] < self._limits.per_host_outgoing
                and self._incoming[step.destination] < self._limits.per_host_incoming
                and self._ledger.fits(step.destination, _demand(step)))

    def _begin(self, step: Step) -> None:
        self._running.add(step.index)
        self._outgoing[step.source] += 1
        self._incoming[step.destination] += 1
        self._ledger.reserve(step.destination, _demand(step))

    def _settle(self, step: Step, how: Finish) -> None:
        self._finished[step.index] = how
        demand = _demand(step)
        if how is Finish.DONE:
            self._ledger.complete(step.source, demand)
        elif how is Finish.GONE:
            self._ledger.release(step.destination, demand)
            self._ledger.complete(step.source, demand)
        elif how is Finish.UNKNOWN:
            self._block_dependents(step.index)  # the destination keeps its reservation: it may hold the VM
            return
        else:
            self._ledger.release(step.destination, demand)
            self._block_dependents(step.index)
            return
        self._release_dependents(step.index)

    def _release_dependents(self, node: object) -> None:
        stack = [node]
        while stack:
            for successor in self._graph.successors(stack.pop()):
                self._missing[successor] -= 1
                if self._missing[successor] == 0:
                    if isinstance(successor, int):
                        self._push(successor)
                    else:
                        stack.append(successor)  # a Freed marker is done as soon as its inputs are

    def _block_dependents(self, node: object) -> None:
        stack = list(self._graph.successors(node))
        while stack:
            successor = stack.pop()
            if isinstance(successor, int):
                if successor in self._blocked:
                    continue
                self._blocked.add(successor)
            stack.extend(self._graph.successors(successor))

    def _push(self, index: int) -> None:
        step = self._steps[index]
        heapq.heappush(self._ready, (-self._chain[index], -step.memory_mib, index))


def _demand(step: Step) -> Demand:
    return Demand(step.memory_mib, step.vcpus, step.extra)


@dataclass(frozen=True)
class TimedStep:
    step: Step
    start: float
    end: float


@dataclass(frozen=True)
class Timeline:
    """A simulated run: when each step starts and ends, in seconds from the start."""

    entries: tuple[TimedStep, ...]
    stalled: tuple[Step, ...] = ()

    @property
    def makespan(self) -> float:
        return max((e.end for e in self.entries), default=0.0)


def simulate(ordering: Ordering, ledger: CapacityLedger, limits: Limits,
             duration: Callable[[Step], float]) -> Timeline:
    """Discrete-event run of the dispatcher in which every migration succeeds after `duration`."""
    dispatcher = Dispatcher(ordering, ledger, limits)
    clock = 0.0
    in_flight: list[tuple[float, int]] = []
    entries: dict[int, TimedStep] = {}
    while True:
        for step in dispatcher.start_ready():
            end = clock + duration(step)
            entries[step.index] = TimedStep(step, clock, end)
            heapq.heappush(in_flight, (end, step.index))
        if not in_flight:
            break
        clock, index = heapq.heappop(in_flight)
        dispatcher.finish(ordering.steps[index], Finish.DONE)
        while in_flight and in_flight[0][0] == clock:  # everything ending now frees room before new starts
            dispatcher.finish(ordering.steps[heapq.heappop(in_flight)[1]], Finish.DONE)
    ordered = tuple(sorted(entries.values(), key=lambda e: (e.start, e.step.index)))
    return Timeline(ordered, tuple(dispatcher.unfinished()))
