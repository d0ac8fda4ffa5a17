"""The memory a host over the reached peak must shed at least (planner/bounds/lower_bounds.py,
`least_memory_covering`): against brute force over every subset of its VMs, it is never above the
true least (a lower bound), never below the fractional knapsack, and exact when sizes are small
enough to need no rounding."""

from __future__ import annotations

import itertools
import random

import pytest

from planner.bounds.lower_bounds import COVERING_STEPS, _fractional_knapsack, least_memory_covering


def _least_by_brute_force(items: list[tuple[int, int]], amount: int) -> int:
    return min(sum(m for m, _ in subset) for k in range(len(items) + 1)
               for subset in itertools.combinations(items, k) if sum(s for _, s in subset) >= amount)


@pytest.mark.parametrize("seed", range(40))
def test_between_the_fractional_knapsack_and_the_true_least(seed: int) -> None:
    rng = random.Random(seed)
    scale = rng.choice([1, 37, 1000])  # 1000: sizes in millicores, rounded to a grain
    items = [(rng.randint(512, 65536), rng.randint(1, 40) * scale) for _ in range(rng.randint(1, 9))]
    amount = rng.randint(1, sum(s for _, s in items))
    bound = least_memory_covering(items, amount)
    assert _fractional_knapsack(items, amount) <= bound <= _least_by_brute_force(items, amount)
    if amount <= COVERING_STEPS:  # a grain of 1: nothing is rounded, the knapsack is solved exactly
        assert bound == _least_by_brute_force(items, amount)


def test_a_vm_moves_whole() -> None:
    # 150 mc to shed: the fractional knapsack takes the cheap small VM and half of the big one's
    # memory per load; whole VMs, the big one must go (or both).
    items = [(1024, 100), (10240, 1000)]
    assert _fractional_knapsack(items, 150) == 1024 + 512
    assert least_memory_covering(items, 150) == 10240


@pytest.mark.parametrize("scale", [1, 2, 1000])
def test_a_vm_that_covers_the_excess_exactly_is_enough(scale: int) -> None:
    # The rounding is to a grain of amount / COVERING_STEPS (1, 2, 500 here): a size equal to the
    # excess still covers it.
    items = [(1000, 2000 * scale), (9000, 4000 * scale)]
    assert least_memory_covering(items, 2000 * scale) == 1000
