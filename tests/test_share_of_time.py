"""How the reassignment solver splits each slice between the local search and the LNS."""

import time

from benchmarks.roadef.builder import random_instance
from benchmarks.roadef.evaluator import evaluate
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.lns import MAX_FREED
from planner.solver.reassign.settings import SearchSettings
from planner.solver.reassign.turns import LNS_LED, SLICE_S, ShareOfTime, TakingTurns, _lns_may_lead


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


def test_the_lns_may_lead_where_a_sub_problem_frees_whole_machines() -> None:
    small = random_instance(0, machines=20, processes=100)
    large = random_instance(1, machines=2, processes=2 * MAX_FREED + 100)  # more per machine than a sub-problem frees
    assert _lns_may_lead(SearchState(*small))
    assert not _lns_may_lead(SearchState(*large))


def test_a_share_that_may_lead_hands_every_slice_to_the_lns_once_it_gains_as_fast() -> None:
    share = ShareOfTime(None, may_lead=True)
    share.record_local(3_000, 1.0)
    share.record_lns(1_000, 1.0)
    share.update()
    assert share.lns == 0.25  # the local search still gains faster: the share follows the rates
    for _ in range(ShareOfTime.WINDOW):
        share.record_local(1_000, 1.0)
        share.record_lns(1_000, 1.0)
    before = time.monotonic()
    share.update()
    assert share.lns == LNS_LED
    assert share.led_at is not None and before <= share.led_at <= time.monotonic()  # the runner's CSV reports it
    led_at = share.led_at
    for _ in range(ShareOfTime.WINDOW):  # one way: the local search gaining again changes nothing
        share.record_local(10**9, 1.0)
        share.record_lns(0, 1.0)
    share.update()
    assert share.lns == LNS_LED and share.led_at == led_at


def test_a_share_that_may_lead_keeps_following_the_rates_while_the_local_search_gains_faster() -> None:
    share = ShareOfTime(None, may_lead=True)
    for _ in range(ShareOfTime.WINDOW):
        share.record_local(100_000, 1.0)
        share.record_lns(100, 1.0)
    share.update()
    assert share.lns == ShareOfTime.LEADING_LOW
    for _ in range(ShareOfTime.WINDOW):  # slowing down, still faster than the LNS
        share.record_local(1_000, 1.0)
        share.record_lns(500, 1.0)
    share.update()
    assert share.lns == 500 / 1_500


def test_without_may_lead_the_lns_never_takes_every_slice() -> None:
    share = ShareOfTime(None)
    for _ in range(ShareOfTime.WINDOW):
        share.record_local(0, 1.0)
        share.record_lns(1_000, 1.0)
    share.update()
    assert share.lns == ShareOfTime.HIGH and share.led_at is None


def test_where_the_lns_may_lead_a_timed_run_starts_with_both_halves_and_stays_valid() -> None:
    """The local search takes the easy gains beside the LNS first; the answer stays valid and no
    worse than the original."""
    instance, original = random_instance(3, machines=12, processes=80)
    search = TakingTurns(instance, original, SearchSettings(seed=0))
    assert search.share.may_lead
    search.run_until(time.monotonic() + SLICE_S + 1.0)  # the first slice, half each, and more
    assert search.local.steps > 0
    assert search.lns.counters.rounds > 0
    report = evaluate(instance, original, search.best_assignment)
    assert report.valid
    assert report.costs.total == search.best_cost <= evaluate(instance, original, original).costs.total


def test_where_the_lns_may_lead_its_smallest_part_holds_a_whole_sub_problem() -> None:
    share = ShareOfTime(None, may_lead=True)
    for _ in range(ShareOfTime.WINDOW):
        share.record_local(10**9, 1.0)
        share.record_lns(1, 1.0)
    share.update()
    assert share.lns == ShareOfTime.LEADING_LOW
    assert ShareOfTime.LEADING_LOW * SLICE_S >= SearchSettings().sub_seconds
    assert ShareOfTime.LOW < ShareOfTime.LEADING_LOW  # elsewhere the local search keeps more


def test_a_share_that_may_lead_but_not_take_over_keeps_following_the_rates() -> None:
    share = ShareOfTime(None, may_lead=True, takes_over=False)
    for _ in range(ShareOfTime.WINDOW):
        share.record_local(0, 1.0)
        share.record_lns(1_000, 1.0)
    share.update()
    assert share.lns == ShareOfTime.HIGH and share.led_at is None
    for _ in range(ShareOfTime.WINDOW):  # and it comes back when the local search gains again
        share.record_local(10**6, 1.0)
        share.record_lns(1, 1.0)
    share.update()
    assert share.lns == ShareOfTime.LEADING_LOW  # the floor where the LNS may lead still holds
