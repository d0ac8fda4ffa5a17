"""compiled_cover.light_returns answers as planner.bounds.lower_bounds.fractional_cover_cost does, one
partner at a time in Python: on random batches with ties in load per MiB, VMs of no memory, VMs
that may not go back, partners that shed nothing or cannot shed enough, and covers that land
exactly on the room."""

from __future__ import annotations

import numpy as np
import pytest

from planner.bounds.lower_bounds import fractional_cover_cost
from planner.solver.compiled_cover import TOLERANCE, light_returns


def _reference(memory: list[int], load: list[int], returnable: list[bool], need: int, load_room: int) -> bool:
    if need <= 0:
        return True
    items = [(cost, size) for cost, size, ok in zip(load, memory, returnable) if ok]
    if sum(size for _, size in items) < need:
        return False
    return fractional_cover_cost(items, need) <= load_room + TOLERANCE


def _batch(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    counts = rng.integers(0, 9, int(rng.integers(1, 7)))
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    total = int(starts[-1])
    # Few distinct sizes, so equal load per MiB (1000 m on 2 GiB, 500 m on 1 GiB) is common.
    memory = rng.choice([0, 1024, 2048, 4096], total).astype(np.int64)
    load = (rng.choice([0, 250, 500, 1000], total) * np.maximum(memory, 1024) // 1024).astype(np.int64)
    returnable = rng.random(total) < 0.8
    need = rng.integers(-2048, 12_288, len(counts)).astype(np.int64)
    return starts, memory, load, returnable, need


@pytest.mark.parametrize("seed", range(40))
def test_each_partner_is_answered_as_the_python_cover_answers(seed: int) -> None:
    rng = np.random.default_rng(seed)
    starts, memory, load, returnable, need = _batch(rng)
    for load_room in (0, 500, 1500, 4000):
        got = light_returns(starts, memory, load, returnable, need, load_room)
        for b in range(len(need)):
            first, end = int(starts[b]), int(starts[b + 1])
            expected = _reference(memory[first:end].tolist(), load[first:end].tolist(),
                                  returnable[first:end].tolist(), int(need[b]), load_room)
            assert bool(got[b]) is expected, (seed, load_room, b)


def test_a_cover_landing_exactly_on_the_room_passes_and_one_millicore_less_does_not() -> None:
    # Shedding 3 GiB: the 2 GiB VM at 100 m/GiB whole, then half of the 2 GiB VM at 300 m/GiB: 500 m.
    starts = np.array([0, 3], dtype=np.int64)
    memory = np.array([2048, 2048, 4096], dtype=np.int64)
    load = np.array([600, 200, 4000], dtype=np.int64)
    returnable = np.ones(3, dtype=bool)
    need = np.array([3072], dtype=np.int64)
    assert light_returns(starts, memory, load, returnable, need, 500)[0]
    assert not light_returns(starts, memory, load, returnable, need, 499)[0]


def test_vms_that_may_not_go_back_cover_nothing() -> None:
    starts = np.array([0, 2], dtype=np.int64)
    memory = np.array([4096, 4096], dtype=np.int64)
    load = np.array([100, 100], dtype=np.int64)
    need = np.array([2048], dtype=np.int64)
    assert light_returns(starts, memory, load, np.array([True, False]), need, 1000)[0]
    assert not light_returns(starts, memory, load, np.array([False, False]), need, 1000)[0]
