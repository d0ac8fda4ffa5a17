"""The local search's late-acceptance list length: the one asked for, else by instance, long where
the LNS may take over from it (machines hold few processes), short where it leads to the end."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.roadef.builder import random_instance
from planner.solver.reassign.lns import MAX_FREED
from planner.solver.reassign.local_search import LONG_HISTORY, SHORT_HISTORY, history_length
from planner.solver.reassign.settings import SearchSettings
from planner.solver.reassign.turns import TakingTurns


@pytest.mark.parametrize(("asked", "may_lead", "length"), [
    (7, True, 7), (7, False, 7), (0, True, 0), (-3, False, 0),
    (None, True, LONG_HISTORY), (None, False, SHORT_HISTORY),
])
def test_the_length_asked_for_else_by_whether_the_lns_may_take_over(asked: int | None, may_lead: bool,
                                                                     length: int) -> None:
    assert history_length(SearchSettings(history=asked), may_lead) == length


def _search_on(machines: int, processes: int, **settings: object) -> TakingTurns:
    instance, original = random_instance(0, machines=machines, processes=processes)
    return TakingTurns(instance, np.asarray(original), SearchSettings(seed=0, **settings))


def test_few_processes_per_machine_get_the_long_list() -> None:
    assert len(_search_on(10, 50).local.history) == LONG_HISTORY


def test_hundreds_of_processes_per_machine_keep_the_short_list() -> None:
    machines = 2
    search = _search_on(machines, machines * (MAX_FREED + 30))
    assert len(search.local.history) == SHORT_HISTORY


def test_a_local_search_alone_keeps_the_short_list_and_an_asked_length_wins() -> None:
    assert len(_search_on(10, 50, lns_share=0.0).local.history) == SHORT_HISTORY
    assert len(_search_on(10, 50, history=12).local.history) == 12
