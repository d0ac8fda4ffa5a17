"""The aimed pass's progress check (planner/solver/aim_check.py): the aim stays until a checkpoint
of the pass's budget is spent, then is raised once, for the weighed resources only, when less of the
load above it is gone than that checkpoint asks; and the aimed pass relieves hosts to the raised aim
after."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import aim_check, greedy
from planner.solver.aim_check import AimCheck, load_above, raised
from planner.solver.caps import Caps
from planner.solver.greedy_budget import GreedyBudget


def _repaired(seed: int = 1) -> PlacementState:
    clu = generate_tight_cluster(40, 800, 0.85, seed)
    state = PlacementState(build_problem(resolve_rules(clu, tight_policy(clu, seed, 5))))
    greedy.repair(state)
    return state


def _spend(budget: GreedyBudget, share: float) -> None:
    budget.priced.ms += share * budget.work_ms


def test_load_above_sums_what_the_weighed_resources_exceed() -> None:
    state = _repaired()
    ceiling = greedy._aim(state)
    mask = state.metric_mask
    expected = int(np.maximum(state.cpu_pm[mask] - ceiling.cpu, 0).sum())  # the benchmark weighs CPU only
    assert load_above(state, ceiling) == expected > 0


def test_raised_lifts_only_the_weighed_resources() -> None:
    state = _repaired()
    assert state.problem.spread_weights[1] == 0
    assert raised(state, Caps(400, 700)) == Caps(int(400 * aim_check.RAISED_AIM), 700)


@pytest.mark.parametrize("removed_share,raised_at", [(0.0, 0), (0.3, 0), (0.6, 1), (0.9, None)])
def test_the_aim_is_raised_once_at_the_first_checkpoint_missed(removed_share: float, raised_at: int | None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The load gone stays at `removed_share`: behind the first checkpoint (a quarter, 42 %), behind
    only the second (half, 76 %), or on track at both."""
    state = _repaired()
    ceiling = greedy._aim(state)
    budget = GreedyBudget(None, 100.0)
    check = AimCheck(state, ceiling, budget)
    start = load_above(state, ceiling)
    monkeypatch.setattr(aim_check, "load_above", lambda s, c: int(start * (1 - removed_share)))
    (first, _), (second, _) = aim_check.CHECKPOINTS
    _spend(budget, first / 2)
    assert check.aim(state) == (ceiling, False)  # too early to judge
    _spend(budget, first / 2)
    assert check.aim(state) == ((raised(state, ceiling), True) if raised_at == 0 else (ceiling, False))
    _spend(budget, second - first)
    aim, now = check.aim(state)
    assert now is (raised_at == 1)
    assert aim == (ceiling if raised_at is None else raised(state, ceiling))
    _spend(budget, 0.4)
    assert check.aim(state) == (aim, False)  # judged: no second raise


def test_a_budget_spent_past_both_checkpoints_at_once_is_judged_once() -> None:
    state = _repaired()
    ceiling = greedy._aim(state)
    budget = GreedyBudget(None, 100.0)
    check = AimCheck(state, ceiling, budget)
    _spend(budget, 0.9)
    assert check.aim(state) == (raised(state, ceiling), True)  # nothing gone: behind
    assert check.aim(state) == (raised(state, ceiling), False)


def test_an_unlimited_budget_keeps_the_aim() -> None:
    state = _repaired()
    ceiling = greedy._aim(state)
    check = AimCheck(state, ceiling, GreedyBudget())
    assert check.aim(state) == (ceiling, False)


def test_a_pass_behind_relieves_to_the_raised_aim(monkeypatch: pytest.MonkeyPatch) -> None:
    """Always judged behind, the pass asks for the first aim until the checkpoint and for the raised
    one after it; never judged behind, only for the first."""
    seen: list[Caps] = []
    real = greedy.best_peak_relief

    def recording(state, ceiling, budget, passed_over=None):
        if ceiling is not None:
            seen.append(ceiling)
        return real(state, ceiling, budget, passed_over)

    monkeypatch.setattr(greedy, "best_peak_relief", recording)
    for needed, expect_raise in ((1.01, True), (0.0, False)):
        monkeypatch.setattr(aim_check, "CHECKPOINTS", ((0.25, needed), (0.5, needed)))
        seen.clear()
        state = _repaired()
        ceiling = greedy._aim(state)
        greedy.improve_spread(state, ceiling=ceiling, budget=GreedyBudget(None, 40.0))
        assert seen[0] == ceiling
        assert (raised(state, ceiling) in seen) is expect_raise
        assert set(map(tuple, seen)) <= {tuple(ceiling), tuple(raised(state, ceiling))}


def test_a_raised_aim_met_goes_back_to_the_first_once(monkeypatch: pytest.MonkeyPatch) -> None:
    state = _repaired()
    ceiling = greedy._aim(state)
    budget = GreedyBudget(None, 100.0)
    check = AimCheck(state, ceiling, budget)
    assert check.back_to_first() is None  # never raised
    monkeypatch.setattr(aim_check, "load_above", lambda s, c: 10**9)  # always behind
    _spend(budget, aim_check.CHECKPOINTS[0][0])
    assert check.aim(state) == (raised(state, ceiling), True)
    assert check.back_to_first() == ceiling
    assert check.aim(state) == (ceiling, False) and check.back_to_first() is None


def test_a_pass_that_meets_its_raised_aim_goes_on_towards_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Judged behind at once, with budget to spare: the pass relieves to the raised aim, then asks for
    the first aim again and takes more hosts under it than there were when it went back."""
    seen: list[Caps] = []
    above_first_when_back: list[int] = []
    real, real_back = greedy.best_peak_relief, AimCheck.back_to_first

    def recording(state, ceiling, budget, passed_over=None):
        seen.append(ceiling)
        return real(state, ceiling, budget, passed_over)

    def back(check: AimCheck) -> Caps | None:
        if check.first is not None:
            above_first_when_back.append(int((state.cpu_pm[state.metric_mask] > check.first.cpu).sum()))
        return real_back(check)

    monkeypatch.setattr(greedy, "best_peak_relief", recording)
    monkeypatch.setattr(AimCheck, "back_to_first", back)
    monkeypatch.setattr(aim_check, "CHECKPOINTS", ((0.0, 1.01),))
    state = _repaired()
    ceiling = greedy._aim(state)
    high = raised(state, ceiling)
    greedy.improve_spread(state, ceiling=ceiling, budget=GreedyBudget(None, 10**6))
    first_high = seen.index(high)
    assert ceiling in seen[first_high:]
    assert len(above_first_when_back) == 1
    assert int((state.cpu_pm[state.metric_mask] > ceiling.cpu).sum()) < above_first_when_back[0]
