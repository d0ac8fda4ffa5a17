"""The reassignment solver: late-acceptance local search and CP-SAT machine LNS, taking turns on
one shared state.

The local search is cheap per step and takes the easy gains fast; the LNS re-packs a few machines
at once where single moves and swaps are all blocked. They alternate in short slices so that each
starts from what the other found. Every state on the way is feasible, so the best one seen is
always a valid answer.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from planner.reassign.delta import SearchState
from planner.reassign.instance import Instance
from planner.reassign.lns import MAX_FREED, LnsCounters, MachineLns
from planner.reassign.local_search import LateAcceptance
from planner.reassign.settings import SearchSettings

SLICE_S = 3.0  # one local-search slice plus one LNS slice
LNS_LED = 0.8  # the LNS share where machines are small (see _fixed_share)
STEPS_PER_SLICE = 2000  # the same alternation under a step budget


@dataclass(frozen=True)
class SearchResult:
    assignment: np.ndarray
    cost: int  # the solver's own bookkeeping; callers re-check it independently
    steps: int
    lns: LnsCounters
    seconds: float


def solve(instance: Instance, original: np.ndarray, settings: SearchSettings = SearchSettings()) -> SearchResult:
    started = time.monotonic()
    deadline = started + settings.time_limit_s
    state = SearchState(instance, original)
    search = LateAcceptance(state, settings)
    lns = MachineLns(state, settings.seed, settings.sub_seconds)
    if settings.max_steps is not None:
        _run_budgeted(search, lns, settings)
    else:
        _run_timed(search, lns, settings, deadline)
    return SearchResult(search.best_assignment, search.best_cost, search.steps, lns.counters, time.monotonic() - started)


def _run_timed(search: LateAcceptance, lns: MachineLns, settings: SearchSettings, deadline: float) -> None:
    share = ShareOfTime(settings.lns_share if settings.lns_share is not None else _fixed_share(search.state))
    while time.monotonic() < deadline:
        gain, seconds = _timed_slice(lambda until: search.run(until), search, deadline, SLICE_S * (1 - share.lns))
        share.record_local(gain, seconds)
        if share.lns > 0:
            gain, seconds = _timed_slice(lambda until: lns.run(until), search, deadline, SLICE_S * share.lns)
            share.record_lns(gain, seconds)
            search.adopt_current()
        share.update()


def _fixed_share(state: SearchState) -> float | None:
    """LNS_LED when a sub-problem frees at least a whole machine's worth of processes, else
    None (adapt). There the LNS re-packs whole machines, which no run of single moves and swaps
    can, and in the 300 s runs (`--lns-share 0.8` against adaptive, seed 0) it gained more on
    a2_2, a2_3, a2_5 and b_1 than a rate-following share: the local search's quick gains there
    probably spend capacity and transient room that exact re-packs would use better. Where machines
    hold hundreds of processes a sub-problem is a sliver of two machines and the local search
    leads (b_3)."""
    per_machine = len(state.assignment) / len(state.capacity)
    return LNS_LED if per_machine <= MAX_FREED else None


def _timed_slice(work: Callable[[float], None], search: LateAcceptance, deadline: float, seconds: float) -> tuple[int, float]:
    """Run `work` for `seconds` (not past `deadline`); the cost it removed and the time it took."""
    before, started = search.state.total(), time.monotonic()
    work(min(deadline, started + seconds))
    return max(0, before - search.state.total()), max(time.monotonic() - started, 1e-3)


class ShareOfTime:
    """The LNS's share of each slice: fixed when asked, else following the gain per second of
    each half over the last `WINDOW` slices, kept within bounds so that neither half starves:
    which one pays off differs between instances (the local search where machines hold hundreds
    of processes, the LNS where a few machines' worth of processes is a large part of the
    problem) and changes during a run. A window rather than a per-slice rate because the LNS's
    gains are lumpy: a few sub-problems per slice, most of the gain in one of them."""

    WINDOW, LOW, HIGH = 10, 0.1, 0.95

    def __init__(self, fixed: float | None) -> None:
        self.fixed = fixed
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
        if local + lns > 0:
            self.lns = min(self.HIGH, max(self.LOW, lns / (local + lns)))


def _rate(window: deque[tuple[int, float]]) -> float:
    return sum(gain for gain, _ in window) / sum(seconds for _, seconds in window)


def _run_budgeted(search: LateAcceptance, lns: MachineLns, settings: SearchSettings) -> None:
    assert settings.max_steps is not None
    slices = max(1, settings.max_steps // STEPS_PER_SLICE)
    rounds_left = settings.max_rounds
    for index in range(slices):
        steps = settings.max_steps - search.steps if index == slices - 1 else STEPS_PER_SLICE
        search.run(0.0, max_steps=steps)
        rounds = rounds_left // (slices - index)
        if rounds:
            lns.run(0.0, max_rounds=rounds)
            rounds_left -= rounds
            search.adopt_current()
