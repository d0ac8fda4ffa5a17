"""The LNS's neighbourhood choice: every option is tried first, then paying ones are drawn more
often, and none is starved."""

import numpy as np

from planner.solver.adaptive_choice import FLOOR, AdaptiveChoice


def test_every_option_is_tried_before_any_is_repeated() -> None:
    choice = AdaptiveChoice(4, np.random.default_rng(0))
    seen = []
    for _ in range(4):
        option = choice.pick()
        seen.append(option)
        choice.reward(option, 0, 1.0)
    assert sorted(seen) == [0, 1, 2, 3]


def test_the_option_that_gains_more_per_second_is_drawn_more_and_none_starves() -> None:
    choice = AdaptiveChoice(3, np.random.default_rng(1))
    for option, gain, seconds in [(0, 1000, 1.0), (1, 1000, 10.0), (2, 0, 1.0)]:
        choice.reward(option, gain, seconds)
    draws = np.bincount([choice.pick() for _ in range(4000)], minlength=3) / 4000
    assert draws[0] > draws[1] > draws[2]
    assert draws[2] > FLOOR / 2  # the floor keeps a zero-gain option alive


def test_without_any_gain_the_draw_is_uniform() -> None:
    choice = AdaptiveChoice(3, np.random.default_rng(2))
    for option in range(3):
        choice.reward(option, 0, 1.0)
    assert np.allclose(choice.probabilities(), 1 / 3)
