"""The local search and the CP-SAT machine LNS taking turns on one shared state: what one core runs.

The local search is cheap per step and takes the easy gains fast; the LNS re-packs a few machines
at once where single moves and swaps are all blocked. They alternate in short slices so that each
starts from what the other found. Every state on the way is feasible, so the best one seen is
always a valid answer.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np

from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.instance import Instance
from planner.solver.reassign.lns import MAX_FREED, MachineLns
from planner.solver.reassign.local_search import LateAcceptance
from planner.solver.reassign.settings import SearchSettings

SLICE_S = 3.0  # one local-search slice plus one LNS slice
LNS_LED = 1.0  # the LNS share once it leads where machines are small: the LNS alone (see _lns_may_lead)
STEPS_PER_SLICE = 2000  # the same alternation under a step budget

StageReport = Callable[[str, int], None]  # (stage, best cost): progress.Improvements, or nothing


class TakingTurns:
    """One search: a state, the local search and the LNS on it, and how time is split."""

    def __init__(self, instance: Instance, original: np.ndarray, settings: SearchSettings,
                 report: StageReport | None = None) -> None:
        self.state = SearchState(instance, original)
        self.report = report
        may_lead = _lns_may_lead(self.state)
        self.local = LateAcceptance(self.state, settings, lns_may_lead=may_lead and settings.lns_share != 0)
        self.lns = MachineLns(self.state, settings.seed, settings.sub_seconds, settings.hold_price)
        if settings.lns_share is not None:
            self.share = ShareOfTime(settings.lns_share)
        else:
            self.share = ShareOfTime(None, may_lead=may_lead, takes_over=settings.lns_takes_over)

    @property
    def best_cost(self) -> int:
        return self.local.best_cost

    @property
    def best_assignment(self) -> np.ndarray:
        return self.local.best_assignment

    def run_until(self, deadline: float) -> None:
        """Alternate in slices of SLICE_S, split by `share`, until `deadline`."""
        while time.monotonic() < deadline:
            local_gain, seconds = self._timed_slice(self.local.run, deadline, SLICE_S * (1 - self.share.lns))
            self.share.record_local(local_gain, seconds)
            lns_gain = 0
            if self.share.lns > 0:
                lns_gain, seconds = self._timed_slice(self.lns.run, deadline, SLICE_S * self.share.lns)
                self.share.record_lns(lns_gain, seconds)
                self.local.adopt_current()
            self.share.update()
            if self.report is not None:
                self.report("lns" if lns_gain > local_gain else "local search", self.best_cost)

    def run_budget(self, steps: int, rounds: int) -> None:
        """`steps` local-search steps and `rounds` LNS rounds, alternating every STEPS_PER_SLICE
        steps with the clock ignored, so that a budgeted run repeats exactly."""
        slices = max(1, steps // STEPS_PER_SLICE)
        steps_left, rounds_left = steps, rounds
        for index in range(slices):
            batch = steps_left if index == slices - 1 else STEPS_PER_SLICE
            self.local.run(0.0, max_steps=batch)
            steps_left -= batch
            batch_rounds = rounds_left // (slices - index)
            if batch_rounds:
                self.lns.run(0.0, max_rounds=batch_rounds)
                rounds_left -= batch_rounds
                self.local.adopt_current()

    def restart_from(self, assignment: np.ndarray) -> None:
        """Continue from `assignment` (a feasible one, cheaper than this search's best): the
        state walks there move by move (its counters are sums, so the order does not matter)
        and the local search takes it up as its new best."""
        for p in np.flatnonzero(assignment != self.state.assignment).tolist():
            self.state.apply_move(p, int(assignment[p]))
        self.local.adopt_current()

    def _timed_slice(self, work: Callable[[float], None], deadline: float, seconds: float) -> tuple[int, float]:
        """Run `work` for `seconds` (not past `deadline`); the cost it removed and the time it took."""
        before, started = self.state.total(), time.monotonic()
        work(min(deadline, started + seconds))
        return max(0, before - self.state.total()), max(time.monotonic() - started, 1e-3)


def _lns_may_lead(state: SearchState) -> bool:
    """Whether the LNS takes over alone once the local search has taken the easy gains: where a
    sub-problem frees at least a whole machine's worth of processes. There the LNS re-packs whole
    machines, which no run of single moves and swaps can, and the local search's gains, once the
    easy ones are taken, spend capacity and transient room (room held on a moved process's source
    is never given back unless it goes home) that exact re-packs use better
    (docs/experiments.md, roadef-lns-only). The easy ones come first: from the start, the LNS
    alone took minutes to reach what the local search reaches in seconds on the large B
    instances (b_4 at 60 s on one core: 9.05 points from the best known, 0.005 with the local search
    sharing the start). Where machines hold hundreds of processes a sub-problem is a sliver of two
    machines, and the local search leads throughout."""
    per_machine = len(state.assignment) / len(state.capacity)
    return per_machine <= MAX_FREED


class ShareOfTime:
    """The LNS's share of each slice: fixed when asked, else following the gain per second of
    each half over the last `WINDOW` slices, kept within bounds so that neither half starves:
    which one pays off differs between instances (the local search where machines hold hundreds
    of processes, the LNS where a few machines' worth of processes is a large part of the
    problem) and changes during a run. A window rather than a per-slice rate because the LNS's
    gains are lumpy: a few sub-problems per slice, most of the gain in one of them.

    With `may_lead` the LNS takes every slice (LNS_LED) from the first time it gains at least as
    fast as the local search over both windows: the easy gains are taken by then, and handing
    over earlier (once the local search slows down) left it further from the best known at 60 s
    (docs/experiments.md, roadef-ls-first).

    Where the LNS may lead its part of a slice is at least LEADING_LOW, room for one whole
    sub-problem (0.5 s of the 3 s slice): at LOW it got 0.3 s, every sub-solve was cut short, its
    measured gain stayed below the local search's and it never took over (b_1, 300 s on two cores,
    seed 0: 3.724 points from the best known with 1,864 LNS rounds; 2.258 with 3,253 at 0.2)."""

    WINDOW, LOW, HIGH = 10, 0.1, 0.95
    LEADING_LOW = 0.2

    def __init__(self, fixed: float | None, may_lead: bool = False, takes_over: bool = True) -> None:
        self.fixed = fixed
        self.may_lead = may_lead
        self.takes_over = takes_over
        self.led_at: float | None = None  # time.monotonic() when the LNS took every slice
        self.low = self.LEADING_LOW if may_lead else self.LOW
        self.lns = fixed if fixed is not None else 0.5
        self._local: deque[tuple[int, float]] = deque(maxlen=self.WINDOW)
        self._lns: deque[tuple[int, float]] = deque(maxlen=self.WINDOW)

    def record_local(self, gain: int, seconds: float) -> None:
        self._local.append((gain, seconds))

    def record_lns(self, gain: int, seconds: float) -> None:
        self._lns.append((gain, seconds))

    def update(self) -> None:
        if self.fixed is not None or not self._local or not self._lns:
            return
        local, lns = _rate(self._local), _rate(self._lns)
        if self.may_lead and self.takes_over and lns > 0 and lns >= local:
            self.fixed = self.lns = LNS_LED
            self.led_at = time.monotonic()
        elif local + lns > 0:
            self.lns = min(self.HIGH, max(self.low, lns / (local + lns)))


def _rate(window: deque[tuple[int, float]]) -> float:
    return sum(gain for gain, _ in window) / sum(seconds for _, seconds in window)
