"""The argmin-and-strike search that the drain's repair and consolidation's best fit share."""

from __future__ import annotations

import numpy as np

from planner.solver.lowest_accepted import NOT_A_CANDIDATE, lowest_accepted


def test_the_lowest_score_wins_and_ties_go_to_the_first_position() -> None:
    assert lowest_accepted(np.array([5, 2, 9, 2], dtype=np.int64), lambda i: True) == 1


def test_refused_candidates_are_struck_and_the_next_lowest_taken() -> None:
    scores = np.array([5, 2, 9, 2], dtype=np.int64)

    assert lowest_accepted(scores, lambda i: i not in (1, 3)) == 0
    assert scores.tolist() == [5, NOT_A_CANDIDATE, 9, NOT_A_CANDIDATE]


def test_nothing_accepted_or_no_candidate_gives_none() -> None:
    assert lowest_accepted(np.array([3, 1], dtype=np.int64), lambda i: False) is None
    assert lowest_accepted(np.array([NOT_A_CANDIDATE, NOT_A_CANDIDATE], dtype=np.int64), lambda i: True) is None
    assert lowest_accepted(np.array([], dtype=np.int64), lambda i: True) is None


def test_float_scores_are_struck_with_infinity_which_marks_no_candidate() -> None:
    scores = np.array([4.0, np.inf, 1.0, 1.0])

    assert lowest_accepted(scores, lambda i: i != 2) == 3
    assert scores.tolist() == [4.0, np.inf, np.inf, 1.0]
    assert lowest_accepted(np.array([np.inf, np.inf]), lambda i: True) is None
