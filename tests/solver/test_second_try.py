"""The spread greedy's second run of its aimed rounds (planner/solver/greedy.py, _second_try_pays):
an aim raised for the hosts nothing takes under it relieves them, the second run is tried only
where it can pay (a large problem, a metric above its floors, at most half the budget used), and the
better of the two runs is kept."""

from __future__ import annotations

import pytest

from planner.domain.policy import Pin, Selector, SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import greedy
from planner.solver.caps import Caps
from planner.solver.cpsat_model import Resource
from planner.solver.greedy_budget import GreedyBudget
from tests.builders import cluster, host, policy, vm


def _stuck_under_its_aim() -> PlacementState:
    """a: x and y, 3,000 mc each of 8 cores (750 ‰); b: z, 2,000 mc (250 ‰), pinned. Under an aim of
    600 ‰ neither x nor y fits b (625 ‰), and z may not swap or go back: a is passed over. Under the
    raised aim (660 ‰) x goes to b."""
    hosts = [host("a"), host("b")]
    vms = [vm("x", "a", load=3000), vm("y", "a", load=3000), vm("z", "b", load=2000)]
    pinned = Pin("keep", Selector(names=frozenset({"z"})))
    problem = build_problem(resolve_rules(cluster(hosts, vms), policy(spread=SpreadSettings(memory_weight=0),
                                                                      pins=(pinned,))))
    return PlacementState(problem)


@pytest.mark.parametrize("raise_when_stuck, peak", [(False, 750), (True, 625)])
def test_a_host_nothing_takes_under_the_aim_comes_down_to_the_raised_one(raise_when_stuck: bool, peak: int) -> None:
    state = _stuck_under_its_aim()
    greedy.improve_spread(state, ceiling=Caps(600, 1000), budget=GreedyBudget(), raise_when_stuck=raise_when_stuck)
    assert state.peaks()[0] == peak


def test_the_aim_is_raised_once_only() -> None:
    state = _stuck_under_its_aim()
    check = greedy.AimCheck(state, Caps(600, 1000), GreedyBudget(), raise_when_stuck=True)
    assert check.raised_when_stuck(state) == Caps(660, 1000)  # memory is not weighed: its cap stays
    assert check.raised_when_stuck(state) is None


CPU = Resource.CPU_LOAD


def _large(monkeypatch: pytest.MonkeyPatch) -> PlacementState:
    monkeypatch.setattr(greedy, "SMALL_PROBLEM_UNITS", 0)
    return _stuck_under_its_aim()


def test_a_second_run_is_tried_where_it_can_pay(monkeypatch: pytest.MonkeyPatch) -> None:
    state = _large(monkeypatch)
    budget = GreedyBudget(None, 100.0)
    started = budget.mark()
    budget.step(3)  # 0.22 ms of 100: well under half
    assert greedy._second_try_pays(state, budget, started)


def test_no_second_run_on_a_small_problem_past_half_the_budget_or_at_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    state = _stuck_under_its_aim()
    budget = GreedyBudget(None, 100.0)
    started = budget.mark()
    assert not greedy._second_try_pays(state, budget, started)  # small: the step by step pass is tried instead
    state = _large(monkeypatch)
    assert not greedy._second_try_pays(state, GreedyBudget(), GreedyBudget().mark())  # no budget to judge by
    spent = GreedyBudget(None, 1.0)
    started = spent.mark()
    for _ in range(3):
        spent.step(3)  # 0.66 ms of 1
    assert not greedy._second_try_pays(state, spent, started)
    at_floor = PlacementState(state.problem)
    greedy.improve_spread(at_floor, budget=GreedyBudget())
    assert at_floor.peaks()[0] == 625  # x to b: 5,000 mc on b, 3,000 on a
    assert greedy._second_try_pays(at_floor, budget, started) is (greedy.peak_floors(state.problem)[CPU] < 625)
    monkeypatch.setattr(greedy, "peak_floors", lambda problem: {CPU: 625})
    assert not greedy._second_try_pays(at_floor, budget, started)


@pytest.mark.parametrize("second_better", [True, False])
def test_the_better_run_is_kept(second_better: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first run stops at once (it leaves a at 750 ‰) or relieves a; the second does the other."""
    state = _large(monkeypatch)
    real = greedy._aimed_rounds
    calls: list[bool] = []

    def rounds(run: PlacementState, ceiling: Caps, budget: GreedyBudget, raise_when_stuck: bool = False) -> None:
        calls.append(raise_when_stuck)
        if raise_when_stuck == second_better:
            real(run, ceiling, budget, raise_when_stuck)

    monkeypatch.setattr(greedy, "_aimed_rounds", rounds)
    best = greedy.spread_greedy(state, GreedyBudget(None, 1000.0))
    assert calls == [False, True]
    assert best.peaks()[0] < 750
