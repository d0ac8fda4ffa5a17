"""How the reassignment solver splits each slice between the local search and the LNS."""

import time

from benchmarks.roadef.builder import random_instance
from benchmarks.roadef.evaluator import evaluate
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.lns import MAX_FREED
from planner.solver.reassign.settings import SearchSettings
from planner.solver.reassign.turns import LNS_LED, ShareOfTime, TakingTurns, _fixed_share


def test_the_share_follows_gain_per_second_over_the_window_within_bounds() -> None:
    share = ShareOfTime(None)
    for _ in range(ShareOfTime.WINDOW):
        share.record_local(1_000, 1.0)
        share.record_lns(3_000, 1.0)
    share.update()
    assert share.lns == 0.75
    for _ in range(ShareOfTime.WINDOW):  # the old slices leave the window
        share.record_local(1_000, 1.0)
        share.record_lns(0, 1.0)
    share.update()
    assert share.lns == ShareOfTime.LOW


def test_a_fixed_share_is_never_adapted() -> None:
    share = ShareOfTime(0.3)
    share.record_local(0, 1.0)
    share.record_lns(10**9, 1.0)
    share.update()
    assert share.lns == 0.3


def test_the_lns_leads_where_a_sub_problem_frees_whole_machines() -> None:
    small = random_instance(0, machines=20, processes=100)
    large = random_instance(1, machines=2, processes=2 * MAX_FREED + 100)  # more per machine than a sub-problem frees
    assert _fixed_share(SearchState(*small)) == LNS_LED
    assert _fixed_share(SearchState(*large)) is None


def test_where_the_lns_leads_a_timed_run_gives_the_local_search_no_steps() -> None:
    """The LNS alone re-packs instances with few processes per machine; the answer stays valid
    and no worse than the original."""
    instance, original = random_instance(3, machines=12, processes=80)
    search = TakingTurns(instance, original, SearchSettings(seed=0))
    search.run_until(time.monotonic() + 1.0)
    assert search.local.steps == 0
    assert search.lns.counters.rounds > 0
    report = evaluate(instance, original, search.best_assignment)
    assert report.valid
    assert report.costs.total == search.best_cost <= evaluate(instance, original, original).costs.total
