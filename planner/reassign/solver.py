"""The reassignment solver: late-acceptance local search and CP-SAT machine LNS, taking turns on
one shared state.

The local search is cheap per step and takes the easy gains fast; the LNS re-packs a few machines
at once where single moves and swaps are all blocked. They alternate in short slices so that each
starts from what the other found. Every state on the way is feasible, so the best one seen is
always a valid answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from planner.reassign.delta import SearchState
from planner.reassign.instance import Instance
from planner.reassign.lns import LnsCounters, MachineLns
from planner.reassign.local_search import LateAcceptance
from planner.reassign.settings import SearchSettings

SLICE_S = 3.0  # one local-search slice plus one LNS slice
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
    share = ShareOfTime(settings.lns_share)
    while time.monotonic() < deadline:
        share.local_rate = _timed_slice(lambda until: search.run(until), search, deadline, SLICE_S * (1 - share.lns))
        if share.lns > 0:
            share.lns_rate = _timed_slice(lambda until: lns.run(until), search, deadline, SLICE_S * share.lns)
            search.adopt_current()
        share.update()


def _timed_slice(work: Callable[[float], None], search: LateAcceptance, deadline: float, seconds: float) -> float:
    """Run `work` for `seconds` (not past `deadline`); the cost it removed per second."""
    before, started = search.state.total(), time.monotonic()
    work(min(deadline, started + seconds))
    return max(0, before - search.state.total()) / max(time.monotonic() - started, 1e-3)


class ShareOfTime:
    """The LNS's share of each slice: fixed when asked, else following the recent gain per
    second of each half (smoothed), kept within bounds so that neither half starves: which one
    pays off changes during a run (the local search early, the LNS once it stalls)."""

    SMOOTHING, LOW, HIGH = 0.5, 0.1, 0.8

    def __init__(self, fixed: float | None) -> None:
        self.fixed = fixed
        self.lns = fixed if fixed is not None else 0.5
        self.local_rate = self.lns_rate = 0.0
        self._local = self._lns = None

    def update(self) -> None:
        if self.fixed is not None:
            return
        a = self.SMOOTHING
        self._local = self.local_rate if self._local is None else a * self.local_rate + (1 - a) * self._local
        self._lns = self.lns_rate if self._lns is None else a * self.lns_rate + (1 - a) * self._lns
        total = self._local + self._lns
        if total > 0:
            self.lns = min(self.HIGH, max(self.LOW, self._lns / total))


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
