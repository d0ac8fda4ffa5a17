"""One step of the spread greedy: the hottest host on a peak, and the cheapest way to take it off.

A step relieves one host: a VM of it moves to the coolest host that stays under every cap (a hot
peak's cap is one per-mille under it, any other peak's its current value, so no peak ever rises);
failing that, a swap with a cooler host's VM; failing that, an exchange (planner/solver/exchange.py);
failing that, an ejection chain; and last, a swap with a VM of any host. Peaks are those of
CPU, memory and each weighed extra named resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from planner.domain.metrics import permilles
from planner.instance.problem import Problem, Unit
from planner.instance.state import PlacementState
from planner.solver.caps import Caps
from planner.solver.chains import chain_relief
from planner.solver.compiled_heat import NO_HOST, hottest_and_coolness
from planner.solver.compiled_relief import leaver_order
from planner.solver.exchange import exchange_relief
from planner.solver.greedy_budget import GreedyBudget
from planner.solver.host_ranking import HostRanking
from planner.solver.landing import ranked_landing
from planner.solver.swaps import SWAP_TARGETS, swap_relief


# The most (VM leaving, partner VM) pairs the last-resort swap search checks at once.
WIDE_SWAP_PAIRS = 1_000_000
_NONE_PASSED_OVER = np.zeros(0, dtype=bool)
_NOT_HOT = np.zeros(2, dtype=bool)
_NO_LEVEL = np.zeros(2, dtype=np.int64)


class Relief(NamedTuple):
    """The host a step tried to take off its peak (None when no host is above it) and the moves
    that do ([] when none was found)."""

    source: int | None
    moves: list[tuple[Unit, int]]


@dataclass(frozen=True)
class PeakView:
    """Where the peaks stand for a step: `caps` no target may pass, the level `over` a host must be
    above to be on a peak (CPU ‰, memory ‰; `over_extra` per extra resource), and which of the
    resources are hot (being lowered)."""

    caps: Caps
    over: tuple[int, int]
    over_extra: np.ndarray
    hot_cpu: bool
    hot_mem: bool
    hot_extra: np.ndarray


def peak_view(state: PlacementState, ceiling: Caps | None) -> PeakView:
    """The peaks now; with a `ceiling`, every host above it is on a peak and targets stay under it."""
    problem = state.problem
    wc, wm = problem.spread_weights
    fc, fm = problem.spread_floors
    peak_cpu, peak_mem = state.peaks()
    extra = _ExtraPeaks.of(state)
    if ceiling is None:
        hot_cpu = wc > 0 and peak_cpu > fc
        hot_mem = wm > 0 and peak_mem > fm
        hot_extra = extra.hot()
        # A target may not reach a hot peak, nor rise above a peak that is not hot (or its floor).
        caps = Caps(peak_cpu - 1 if hot_cpu else max(peak_cpu, fc), peak_mem - 1 if hot_mem else max(peak_mem, fm),
                    np.where(hot_extra, extra.peaks - 1, state.extra_caps()) if problem.resources else None)
        return PeakView(caps, (peak_cpu - 1, peak_mem - 1), extra.peaks - 1, hot_cpu, hot_mem, hot_extra)
    over_extra = np.maximum(ceiling.extra, extra.floors) if ceiling.extra is not None else extra.peaks
    caps = Caps(max(ceiling[0], fc), max(ceiling[1], fm), over_extra if problem.resources else None)
    return PeakView(caps, (caps[0], caps[1]), over_extra, wc > 0 and peak_cpu > caps[0], wm > 0 and peak_mem > caps[1],
                    (extra.weights > 0) & (extra.peaks > over_extra))


def best_peak_relief(state: PlacementState, ceiling: Caps | None, budget: GreedyBudget | None,
                     passed_over: np.ndarray | None = None) -> Relief:
    """The relief of the hottest host on a peak (above `ceiling`, when given), not counting the
    hosts `passed_over` marks."""
    view = peak_view(state, ceiling)
    source, score = _hottest_and_coolness(state, view, passed_over)
    if source == NO_HOST:
        return Relief(None, [])
    return Relief(source, relieve(state, source, view, score, budget, chains=ceiling is None))


def _hottest_and_coolness(state: PlacementState, view: PeakView | None,
                          passed_over: np.ndarray | None) -> tuple[int, np.ndarray]:
    """The hottest host on a peak of `view` (by the weighed resources; NO_HOST when none is, or with
    no view) and every host's coolness, in one compiled pass over the hosts (compiled_heat.py)."""
    problem = state.problem
    if view is None:
        extras = len(problem.resources)
        hot, over = _NOT_HOT, _NO_LEVEL
        hot_extra, over_extra = np.zeros(extras, dtype=bool), np.zeros(extras, dtype=np.int64)
    else:
        hot, over = np.array((view.hot_cpu, view.hot_mem)), np.asarray(view.over, dtype=np.int64)
        hot_extra, over_extra = np.asarray(view.hot_extra, dtype=bool), np.asarray(view.over_extra, dtype=np.int64)
    return hottest_and_coolness(state.cpu_pm, state.mem_pm, state.extra_pm, state.metric_mask,
                                _NONE_PASSED_OVER if passed_over is None else passed_over,
                                np.asarray(problem.spread_weights, dtype=np.int64), _extra_weights(problem),
                                hot, over, hot_extra, over_extra)


def still_on_peak(state: PlacementState, source: int, view: PeakView) -> bool:
    """Is `source` still above `view`'s level on a resource it lowers?"""
    return (view.hot_cpu and state.cpu_permille(source) > view.over[0]) or \
        (view.hot_mem and state.memory_permille(source) > view.over[1]) or \
        bool((view.hot_extra & (state.extra_pm[source] > view.over_extra)).any())


def coolness(state: PlacementState) -> np.ndarray:
    """How busy each host is by the weighed resources only, coolest being the lowest (the int64
    maximum on hosts the metric ignores): spreading CPU, a host whose memory is full but whose CPU
    is idle is a cool host (the landing checks its room)."""
    return _hottest_and_coolness(state, None, None)[1]


def relieve(state: PlacementState, source: int, view: PeakView, score: np.ndarray, budget: GreedyBudget | None,
            chains: bool = True) -> list[tuple[Unit, int]]:
    """Moves (any order) that take `source` off its peak(s) without any target passing the caps:
    a move to the coolest host by `score` (coolness) with room, else a swap, else an exchange, else
    (with `chains`) an ejection chain, else a swap with any host; [] when none is found."""
    problem, caps = state.problem, view.caps
    on_cpu = bool(view.hot_cpu and state.cpu_permille(source) > view.over[0])
    on_mem = bool(view.hot_mem and state.memory_permille(source) > view.over[1])
    on_extra = view.hot_extra & (state.extra_pm[source] > view.over_extra)
    leavers = _leavers(state, source, on_cpu, on_mem, on_extra)
    move, tried = ranked_landing(state, leavers, source, caps, score)
    if budget is not None:
        budget.landings(tried, len(problem.resources))
    if move is not None:
        return [move]
    # Rankings only where no single move was found, and in full only past the swap.
    targets = HostRanking(score, int(state.metric_mask.sum()))
    partners = _cpu_roomiest(state, caps) if on_cpu and not on_mem and not on_extra.any() else targets
    nearest = partners.first(SWAP_TARGETS)
    if budget is not None:
        budget.swap_search(len(state.units_on[source]) * sum(len(state.units_on[t]) for t in nearest))
    swap = swap_relief(state, source, caps, nearest, on_cpu, on_mem, on_extra)
    if not swap:
        swap, tried = exchange_relief(state, source, caps, partners.all(), leavers)
        if budget is not None:
            budget.exchange_search(tried)
    if swap or not chains:
        return swap
    chain, tried = chain_relief(state, source, caps, targets.all(), leavers)
    if budget is not None:
        budget.chain_placements(tried)
    return chain or _swap_with_any(state, source, caps, partners.all(), (on_cpu, on_mem, on_extra), budget)


def _swap_with_any(state: PlacementState, source: int, caps: Caps, partners: list[int],
                   on_peaks: tuple[bool, bool, np.ndarray], budget: GreedyBudget | None) -> list[tuple[Unit, int]]:
    """The swap search over every host, where nothing else relieves the hottest host and the step by
    step pass would end. The partner a large VM needs (one sending back as much memory) is often on a
    host with little CPU room, outside the first SWAP_TARGETS: on two tight 1000-host clusters at fill
    0.88 and a 100 s limit such swaps took the greedy on from 563 to 528 ‰ and from 499 to 485 ‰, where
    it had stopped. Tried only there: over every host it costs as much as a few dozen steps. The hosts
    first in `partners` whose VMs make up to WIDE_SWAP_PAIRS (leaver, partner) pairs: every host at
    1,000 hosts, a few thousand of 10,000, where arrays over all of them would take half a GiB."""
    leavers = len(state.units_on[source])
    counts = np.fromiter((len(state.units_on[t]) for t in partners), dtype=np.int64, count=len(partners))
    within = int(np.searchsorted(np.cumsum(counts) * leavers, WIDE_SWAP_PAIRS, side="right"))
    if budget is not None:
        budget.swap_search(leavers * int(counts[:within].sum()))
    return swap_relief(state, source, caps, partners[:within], *on_peaks)


def _extra_weights(problem: Problem) -> np.ndarray:
    return np.asarray(problem.extra_weights, dtype=np.int64)


def _cpu_roomiest(state: PlacementState, caps: Caps) -> HostRanking:
    """The hosts the metric looks at, the most CPU load they can take under the cap first: where
    hosts differ in size, a host low in per-mille may have little room in millicores."""
    headroom = caps[0] * state.cpu_capacity_array // 1000 - state.sizes[:, 2]
    # Hosts the metric ignores (excluded) last: negating an int64 minimum leaves it the minimum.
    return HostRanking(np.where(state.metric_mask, -headroom, np.iinfo(np.int64).max), int(state.metric_mask.sum()))


class _ExtraPeaks:
    """The extra named resources' weights, thresholds and current peaks, as arrays (empty when the
    cluster declares none)."""

    def __init__(self, weights: np.ndarray, floors: np.ndarray, peaks: np.ndarray) -> None:
        self.weights, self.floors, self.peaks = weights, floors, peaks

    @classmethod
    def of(cls, state: PlacementState) -> "_ExtraPeaks":
        problem = state.problem
        return cls(np.asarray(problem.extra_weights, dtype=np.int64), np.asarray(problem.extra_floors, dtype=np.int64),
                   state.extra_peaks())

    def hot(self) -> np.ndarray:
        """Which extra resources the greedy lowers: weighed, and peaking above their threshold."""
        return (self.weights > 0) & (self.peaks > self.floors)


def _leavers(state: PlacementState, source: int, on_cpu_peak: bool, on_mem_peak: bool,
             on_extra_peak: np.ndarray | None = None) -> list[Unit]:
    """The movable VMs whose leaving takes `source` off its peak(s), cheapest first
    (`on_extra_peak`: per extra named resource, whether the source is on its peak).

    Cheapest = least memory migrated per unit of the relief needed (the fractional-knapsack order
    the move bound uses); a VM going back to the host it started on costs nothing. The source must
    come off every peak it is on: a move that leaves it there is wasted. Ordered by
    compiled_relief.leaver_order; ties go to the move that leaves the source coolest, then to the
    lower index."""
    problem, arrays = state.problem, state.problem.unit_arrays
    indexes = np.array(sorted(state.units_on[source]), dtype=np.int64)
    indexes = indexes[~arrays.fixed[indexes]]
    on_extra = on_extra_peak if on_extra_peak is not None and on_extra_peak.any() else None
    relieving = np.ones(len(indexes), dtype=bool)
    relief_columns = np.zeros(arrays.sizes.shape[1], dtype=np.int64)
    if on_cpu_peak:
        relief_columns[2] = 1
    elif on_mem_peak or on_extra is None:
        relief_columns[0] = 1
    else:
        relief_columns[3:][on_extra] = 1
    if on_extra is not None:
        relievers = _extra_relievers(state, source, on_extra)
        relieving = np.fromiter((index in relievers for index in indexes.tolist()), dtype=bool, count=len(indexes))
    order = leaver_order(indexes, arrays.sizes, arrays.weighted_memory, arrays.home, relieving, relief_columns, source,
                         state.memory[source], state.load[source], state.memory_capacity[source],
                         state.cpu_capacity[source], state.cpu_permille(source), state.memory_permille(source),
                         on_cpu_peak, on_mem_peak)
    return [problem.units[index] for index in order.tolist()]


def _extra_relievers(state: PlacementState, source: int, on_peak: np.ndarray) -> set[int]:
    """The units on `source` whose leaving takes it below its utilisation of every extra resource
    it peaks in (all of them at once: a numpy call per unit costs more than the rest of a step)."""
    indexes = sorted(state.units_on[source])
    demands = np.array([state.problem.units[i].extra for i in indexes], dtype=np.int64).reshape(len(indexes), -1)
    after = permilles(state.sizes[source, 3:] - demands, state.extra_capacity[source])
    lowered = ~(on_peak & (after >= state.extra_pm[source])).any(axis=1)
    return {index for index, ok in zip(indexes, lowered.tolist()) if ok}
