"""Several searches on several cores, sharing their best assignment every epoch.

Each worker runs the same local search + LNS (`turns.TakingTurns`) with its own seed. At the end
of every epoch the best assignment any worker has found is handed to every worker whose own best
is worse, and that worker continues from it; the worker that found it keeps its whole state. So
the cores mostly intensify around one good solution, yet every worker brings its own random
choices of neighbourhoods, which is where the time goes on the hard instances (most LNS
sub-problems improve nothing).

Worker 0 runs in the calling process; the others are spawned processes that receive the instance
once and then one order per epoch over a pipe. Under a step budget the epochs are budgets too, and
the exchange happens at the same points in every run, so budgeted runs still repeat exactly.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection

import numpy as np

from planner.solver.reassign.instance import Instance
from planner.solver.reassign.lns import LnsCounters
from planner.solver.reassign.parent_death import end_with_parent
from planner.solver.reassign.result import SearchResult, seconds_after
from planner.solver.reassign.settings import SearchSettings
from planner.solver.reassign.turns import StageReport, TakingTurns

BUDGET_EPOCHS = 5  # exchanges in a step-budgeted run (one epoch when the workers do not share)
SEED_STRIDE = 10_007  # worker k searches with seed + k * SEED_STRIDE


@dataclass(frozen=True)
class Order:
    """One epoch for one worker: continue from `start` when given, then search until
    `deadline`, or for `steps` steps and `rounds` LNS rounds when `deadline` is None."""

    start: np.ndarray | None
    deadline: float | None
    steps: int = 0
    rounds: int = 0


@dataclass(frozen=True)
class EpochReport:
    best_cost: int
    best_assignment: np.ndarray
    steps: int
    lns: LnsCounters
    lns_led_at: float | None  # time.monotonic() when this worker's LNS took every slice; None: not yet


def search_together(instance: Instance, original: np.ndarray, settings: SearchSettings, started: float,
                    report: StageReport | None = None) -> SearchResult:
    """`report` hears this process's own search after each of its slices and every better
    assignment a helper brings to an exchange."""
    own = TakingTurns(instance, original, settings, report)
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold solver threads
    helpers: list[_Helper] = []
    try:
        for k in range(1, settings.workers):
            helpers.append(_Helper(context, instance, original, replace(settings, seed=settings.seed + k * SEED_STRIDE),
                                   own.best_cost))
        best_cost, best = own.best_cost, own.best_assignment
        for order in _orders(settings, started):
            for helper in helpers:
                helper.send(replace(order, start=best if helper.best_cost > best_cost else None))
            if own.best_cost > best_cost:
                own.restart_from(best)
            _run(own, order)
            best_cost, best = own.best_cost, own.best_assignment
            for helper in helpers:
                answer = helper.receive()
                if answer.best_cost < best_cost:
                    best_cost, best = answer.best_cost, answer.best_assignment
            if report is not None:
                report("exchange", best_cost)
    finally:
        for helper in helpers:
            helper.stop()
    reports = [helper.last for helper in helpers if helper.last is not None]
    return SearchResult(
        assignment=best,
        cost=best_cost,
        steps=own.local.steps + sum(r.steps for r in reports),
        lns=_sum_counters([own.lns.counters] + [r.lns for r in reports]),
        seconds=time.monotonic() - started,
        lns_led_after_s=tuple(seconds_after(at, started) for at in [own.share.led_at] + [r.lns_led_at for r in reports]),
    )


def _orders(settings: SearchSettings, started: float) -> list[Order]:
    if settings.max_steps is None:
        deadline = started + settings.time_limit_s
        every = settings.exchange_s if settings.shares_best else settings.time_limit_s
        ends = np.arange(started + every, deadline, every).tolist() + [deadline]
        return [Order(None, end) for end in ends]
    epochs = BUDGET_EPOCHS if settings.shares_best else 1
    return [
        Order(None, None, _share(settings.max_steps, i, epochs), _share(settings.max_rounds, i, epochs))
        for i in range(epochs)
    ]


def _share(total: int, epoch: int, epochs: int) -> int:
    """Epoch `epoch`'s part of `total`, the parts summing to `total` exactly."""
    return total * (epoch + 1) // epochs - total * epoch // epochs


def _run(search: TakingTurns, order: Order) -> None:
    if order.deadline is not None:
        search.run_until(order.deadline)
    else:
        search.run_budget(order.steps, order.rounds)


def _sum_counters(counters: list[LnsCounters]) -> LnsCounters:
    return LnsCounters(
        rounds=sum(c.rounds for c in counters),
        improved=sum(c.improved for c in counters),
        optimal=sum(c.optimal for c in counters),
        solve_s=sum(c.solve_s for c in counters),
    )


class _Helper:
    """A worker in its own process, and the parent's view of it.

    The instance goes over the connection once the process runs, not with the spawn arguments:
    multiprocessing writes those into a pipe whose reading end the parent holds until the write
    is done, so a child that died before reading more than the pipe holds (64 KiB, a small
    instance) left the parent blocked in `start()` for good. Over the connection, a dead child is a
    broken pipe and an error naming the worker."""

    def __init__(self, context, instance: Instance, original: np.ndarray, settings: SearchSettings, cost: int) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, settings, os.getpid()), daemon=True)
        self.process.start()
        child.close()
        self.seed = settings.seed
        self.best_cost = cost  # the original's, until its first report
        self.last: EpochReport | None = None
        try:
            self.send((instance, original))
        except RuntimeError:
            self.stop()
            raise

    def send(self, order: Order | tuple[Instance, np.ndarray]) -> None:
        try:
            self.connection.send(order)
        except (BrokenPipeError, ConnectionResetError):
            raise RuntimeError(f"search worker with seed {self.seed} exited: its orders could not be sent") from None

    def receive(self) -> EpochReport:
        try:
            answer = self.connection.recv()
        except (EOFError, ConnectionResetError):
            raise RuntimeError(f"search worker with seed {self.seed} exited without reporting") from None
        if isinstance(answer, str):
            raise RuntimeError(f"search worker with seed {self.seed} failed: {answer}")
        self.best_cost, self.last = answer.best_cost, answer
        return answer

    def stop(self) -> None:
        try:
            self.connection.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.connection.close()


def _serve(connection: Connection, settings: SearchSettings, parent_pid: int) -> None:
    """A helper's life: receive the instance, build its search, then one epoch per order until told
    to stop (or until its parent is gone, however it went)."""
    end_with_parent(parent_pid)
    try:
        instance, original = connection.recv()
        search = TakingTurns(instance, original, settings)
        while (order := connection.recv()) is not None:
            if order.start is not None:
                search.restart_from(order.start)
            _run(search, order)
            connection.send(EpochReport(search.best_cost, search.best_assignment, search.local.steps, search.lns.counters,
                                        search.share.led_at))
    except Exception:  # reported to the parent, which raises it with this worker's seed
        connection.send(traceback.format_exc(limit=5).strip().splitlines()[-1])
    finally:
        connection.close()
