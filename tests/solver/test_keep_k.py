"""Consolidation's keep-k search: it packs onto the fewest hosts it finds, and it is charged to the
greedy's budget, stopping when that is spent with the smallest k that worked so far."""

from __future__ import annotations

import time

import pytest

from planner.domain.policy import ConsolidateSettings, Goal, Pin, Selector
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import greedy_budget, keep_k as keep_k_module
from planner.solver.greedy_budget import GreedyBudget
from planner.solver.keep_k import keep_k
from tests.builders import cluster, host, policy, vm

GIB = 1024


def _state() -> PlacementState:
    """Four 100 GiB hosts a-d with one 20 GiB VM each: any one host can take all four."""
    hosts = [host(name, cpus=64, memory_mib=100 * GIB + 512) for name in "abcd"]
    clu = cluster(hosts, [vm(f"vm-{name}", name, memory_mib=20 * GIB) for name in "abcd"])
    pol = policy(Goal.CONSOLIDATE, consolidate=ConsolidateSettings(max_cpu_percent=100, max_memory_percent=100))
    return PlacementState(build_problem(resolve_rules(clu, pol)))


def _priced_per_placement(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each eviction placed costs 1 ms, nothing else costs anything."""
    for name in ("KEEP_MS_PER_1000_HOST_ROWS", "KEEP_LISTED_MS", "KEEP_SCAN_MS", "KEEP_CHECK_MS"):
        monkeypatch.setattr(greedy_budget, name, 0.0)
    monkeypatch.setattr(greedy_budget, "KEEP_PLACEMENT_MS", 1.0)


def test_without_a_budget_everything_ends_on_one_host() -> None:
    state = _state()

    assert keep_k(state, lowest=1)

    assert state.hosts_in_use() == 1
    assert not any(state.over_hard_limit(h) for h in range(4))


def test_nothing_is_tried_once_the_budget_is_spent() -> None:
    state = _state()
    before = list(state.assignment)

    assert not keep_k(state, lowest=1, budget=GreedyBudget(deadline=time.monotonic()))

    assert state.assignment == before


def test_a_budget_spent_between_tries_keeps_the_smallest_k_that_worked(monkeypatch: pytest.MonkeyPatch) -> None:
    _priced_per_placement(monkeypatch)
    state = _state()
    # The first try keeps k = 2 hosts (halfway between 1 and the 4 in use) and places the other two
    # hosts' VMs: 2 ms, more than the 1.5 ms allowed, so k = 1 is never tried.
    budget = GreedyBudget(work_ms=1.5)

    assert keep_k(state, lowest=1, budget=budget)

    assert state.hosts_in_use() == 2
    assert budget.used_ms == pytest.approx(2.0)


def test_a_try_the_budget_cuts_short_is_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    _priced_per_placement(monkeypatch)
    monkeypatch.setattr(keep_k_module, "BUDGET_LOOK_EVERY", 1)
    state = _state()
    before = list(state.assignment)

    # One placement allowed: the first try is cut after its first eviction, and nothing worked yet.
    assert not keep_k(state, lowest=1, budget=GreedyBudget(work_ms=0.5))

    assert state.assignment == before
    assert state.hosts_in_use() == 4


def test_every_try_is_charged() -> None:
    budget = GreedyBudget()

    keep_k(_state(), lowest=1, budget=budget)

    # Two tries (k = 2, then 1) each set up four hosts and place at least one VM.
    assert budget.used_ms >= 2 * (greedy_budget.KEEP_MS_PER_1000_HOST_ROWS * 4 / 1000 + greedy_budget.KEEP_PLACEMENT_MS)


def test_a_host_holding_a_pinned_vm_stays_on_and_the_rest_pack_beside_it() -> None:
    """d, the smallest host, holds a VM that may not move: every try keeps d, so the search finds
    d and one large host (it would need all four if it tried to evict d's pinned VM)."""
    hosts = [host(name, cpus=64, memory_mib=100 * GIB + 512) for name in "abc"] + \
        [host("d", cpus=64, memory_mib=30 * GIB + 512)]
    vms = [vm(f"vm-{name}", name, memory_mib=20 * GIB) for name in "abc"] + [vm("held", "d", memory_mib=10 * GIB)]
    pol = policy(Goal.CONSOLIDATE, consolidate=ConsolidateSettings(max_cpu_percent=100, max_memory_percent=100),
                 pins=(Pin("stay", Selector(names=frozenset({"held"}))),))
    state = PlacementState(build_problem(resolve_rules(cluster(hosts, vms), pol)))

    assert keep_k(state, lowest=1)

    assert state.hosts_in_use() == 2
    assert state.units_on[state.problem.index_of_host["d"]]
