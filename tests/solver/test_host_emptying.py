"""Consolidation's host emptying: a VM too big for every hole takes a roomy host's place after a
few of that host's smaller VMs move on (ejecting in turn where they fit nowhere), and a host that
cannot be emptied is left as it was."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.emptying_cost import RecordingBudget
from planner.domain.policy import ConsolidateSettings, Goal
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import host_emptying
from planner.solver.greedy_budget import (
    EMPTYING_MOVE_MS,
    EMPTYING_SCAN_MS,
    EMPTYING_SCAN_MS_PER_1000_HOSTS,
    EMPTYING_TARGET_MS,
    GreedyBudget,
    emptying_ms,
)
from planner.solver.host_emptying import consolidate_hosts
from tests.builders import cluster, host, policy, vm

GIB = 1024


def _state(vms: list[tuple[str, str, int]], gib: int = 100) -> PlacementState:
    """Four hosts a-d of `gib` GiB (no memory headroom kept), VMs as (name, host, GiB)."""
    hosts = [host(name, cpus=64, memory_mib=gib * GIB + 512) for name in "abcd"]
    clu = cluster(hosts, [vm(name, on, memory_mib=gib * GIB) for name, on, gib in vms])
    pol = policy(Goal.CONSOLIDATE, consolidate=ConsolidateSettings(max_cpu_percent=100, max_memory_percent=100))
    return PlacementState(build_problem(resolve_rules(clu, pol)))


def _host_of(state: PlacementState, name: str) -> str:
    problem = state.problem
    unit = next(u for u in problem.units if name in u.vms)
    return problem.hosts[state.assignment[unit.index]].name


def _full_cluster(c_gib: int) -> list[tuple[str, str, int]]:
    # a: one 40 GiB VM, the lightest host; b and c have 30 GiB free, d 0: 40 fits no hole.
    return [("big", "a", 40), ("b1", "b", 30), ("b2", "b", 40), ("c1", "c", c_gib), ("d1", "d", 100)]


def test_a_vm_too_big_for_every_hole_goes_where_a_smaller_one_made_room() -> None:
    state = _state(_full_cluster(c_gib=70))

    freed = consolidate_hosts(state)

    assert [state.problem.hosts[h].name for h in freed] == ["a"]
    assert _host_of(state, "big") == "b" and _host_of(state, "b1") == "c"
    assert not any(state.over_hard_limit(h) for h in range(len(state.problem.hosts)))


def test_several_small_vms_make_room_when_no_single_one_is_big_enough() -> None:
    # 128 GiB hosts. b has 40 GiB free and four 22 GiB VMs: 64 GiB needs 24 more, more than any
    # one of them frees; c has room for two of them.
    state = _state([("big", "a", 64), *((f"b{i}", "b", 22) for i in range(1, 5)),
                    ("c1", "c", 84), ("d1", "d", 128)], gib=128)

    freed = consolidate_hosts(state)

    assert [state.problem.hosts[h].name for h in freed] == ["a"]
    assert _host_of(state, "big") == "b"
    assert sorted(_host_of(state, f"b{i}") for i in range(1, 5)) == ["b", "b", "c", "c"]
    assert not any(state.over_hard_limit(h) for h in range(len(state.problem.hosts)))


def test_a_host_that_cannot_be_emptied_keeps_every_vm() -> None:
    # c has only 20 GiB free: b1 (30 GiB) has nowhere to go, so big has no room on b either.
    state = _state(_full_cluster(c_gib=80))
    start = list(state.assignment)

    assert consolidate_hosts(state) == []
    assert state.assignment == start and state.moves == []


def test_no_host_is_started_once_the_budget_is_spent() -> None:
    state = _state(_full_cluster(c_gib=70))
    budget = GreedyBudget(deadline=time.monotonic())

    assert consolidate_hosts(state, budget) == []
    assert state.moves == []


def test_each_kind_of_work_is_charged_as_the_cost_model_prices_it() -> None:
    budget = RecordingBudget()  # keeps each host's charge: (seconds, scans, targets, moves, hosts)

    consolidate_hosts(_state(_full_cluster(c_gib=70)), budget)

    charges = [charge[1:] for charge in budget.hosts]
    # a first: big's direct pass, the pass for roomy takers, b looked at as a target, b1's pass to
    # land on c; b1 and big moved. Then b, c and d are tried.
    assert charges[0] == (3, 1, 2, 4)
    assert len(charges) == 4
    assert budget.used_ms == pytest.approx(sum(emptying_ms(*charge) for charge in charges))
    assert emptying_ms(3, 1, 2, 4) == pytest.approx(3 * (EMPTYING_SCAN_MS + EMPTYING_SCAN_MS_PER_1000_HOSTS * 4 / 1000)
                                                    + EMPTYING_TARGET_MS + 2 * EMPTYING_MOVE_MS)


def test_an_ejected_vm_with_nowhere_to_go_ejects_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    # 128 GiB hosts. big (64) needs b's two 22 GiB VMs out; c takes one, the other fits only on d
    # once d's 7 GiB VM moves to what is left of c.
    layout = [("big", "a", 64), *((f"b{i}", "b", 22) for i in range(1, 5)),
              ("c1", "c", 98), ("d1", "d", 100), ("d2", "d", 7)]

    state = _state(layout, gib=128)
    assert [state.problem.hosts[h].name for h in consolidate_hosts(state)] == ["a"]
    assert _host_of(state, "big") == "b" and _host_of(state, "d2") == "c"
    assert not any(state.over_hard_limit(h) for h in range(len(state.problem.hosts)))

    monkeypatch.setattr(host_emptying, "EJECTION_REACH", host_emptying.EJECTION_REACH[:1])
    shallow = _state(layout, gib=128)
    consolidate_hosts(shallow)
    assert _host_of(shallow, "big") == "a"  # one level of ejection cannot move it


@pytest.mark.parametrize("seed", range(20))
def test_the_roomiest_hosts_are_the_first_of_every_open_host_sorted_by_free_memory(seed: int) -> None:
    """The partial selection picks what sorting every open host would: most free memory first,
    the lower index among equals (free memory drawn from few values, so ties cross the cut)."""
    rng = np.random.default_rng(seed)
    count_hosts = int(rng.integers(1, 60))
    limits = np.zeros((count_hosts, 3), dtype=np.int64)
    limits[:, 0] = 100
    sizes = np.zeros_like(limits)
    sizes[:, 0] = rng.integers(0, 6, count_hosts) * 20
    view = SimpleNamespace(limits=limits, sizes=sizes)
    open_hosts = rng.random(count_hosts) < 0.7
    hosts = np.flatnonzero(open_hosts)
    everything = hosts[np.lexsort((hosts, -(limits[hosts, 0] - sizes[hosts, 0])))]
    for count in (1, 2, 4, 16, count_hosts + 1):
        assert host_emptying._roomiest(view, open_hosts, count).tolist() == everything[:count].tolist()
