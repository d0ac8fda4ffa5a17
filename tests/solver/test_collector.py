"""Planning makes the collector's full passes rare and gives it back as it found it."""

from __future__ import annotations

import gc

import pytest

from planner.solver.collector import FULL_PASS_EVERY, full_collections_rare


def test_inside_what_existed_is_frozen_and_full_passes_are_rare() -> None:
    before = gc.get_threshold()
    with full_collections_rare():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (before[0], before[1], FULL_PASS_EVERY)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_an_error_while_planning_still_restores_the_collector() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), full_collections_rare():
        raise RuntimeError("planning failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_made_while_planning_are_still_collected() -> None:
    class Node:
        pass

    with full_collections_rare():
        node = Node()
        node.itself = node  # a cycle reference counting cannot free
        del node
        assert gc.collect(0) >= 1
