"""The reassignment solver: late-acceptance local search and CP-SAT machine LNS taking turns on
one state (`turns`), on one core or, with `workers` > 1, on several that share their best
assignment every epoch (`cooperative`)."""

from __future__ import annotations

import time

import numpy as np

from planner.solver.progress import Improvements, ProgressSink, Reporter, ignore
from planner.solver.reassign.bound import aggregate_lower_bound
from planner.solver.reassign.cooperative import search_together
from planner.solver.reassign.instance import Instance
from planner.solver.reassign.local_search import compile_steps
from planner.solver.reassign.result import SearchResult, seconds_after
from planner.solver.reassign.settings import SearchSettings
from planner.solver.reassign.turns import TakingTurns


def solve(instance: Instance, original: np.ndarray, settings: SearchSettings = SearchSettings(),
          progress: ProgressSink = ignore) -> SearchResult:
    """The best assignment found within the settings' limit. `progress` hears each new best cost,
    the half (or the exchange between workers) that found it and the aggregate lower bound, at most
    once per slice of the search, while it runs under a time limit. The local search's steps are
    compiled (or loaded from the cache) before the clock starts."""
    compile_steps()
    started = time.monotonic()
    report = Improvements(Reporter(progress, aggregate_lower_bound(instance), started))
    if settings.workers > 1:
        return search_together(instance, original, settings, started, report)
    search = TakingTurns(instance, original, settings, report)
    if settings.max_steps is not None:
        search.run_budget(settings.max_steps, settings.max_rounds)
    else:
        search.run_until(started + settings.time_limit_s)
    return SearchResult(search.best_assignment, search.best_cost, search.local.steps, search.lns.counters,
                        time.monotonic() - started, (seconds_after(search.share.led_at, started),))
