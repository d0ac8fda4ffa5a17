"""On a machine slower than the greedy's cost model, its passes are shortened to end in time rather
than cut by the wall clock wherever they happen to be; within the model's margin nothing changes.

The clock is virtual (it follows the modelled work at a chosen slowness), so these runs repeat exactly."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.check.validate import validate_placement
from planner.domain.policy import Goal
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import greedy_budget
from planner.solver.greedy import greedy_placement
from planner.solver.greedy_budget import GreedyBudget
from planner.solver.pace import PACED_SHARE, RUNGS_PER_DOUBLING, Pace, rung_at_least
from planner.solver.planning import to_placement


class ModelClock:
    """time.monotonic() of a machine `slowness` × slower than the greedy's cost model: each reading
    moves it on by the modelled work charged to `budget` since the last one."""

    def __init__(self, slowness: float) -> None:
        self.now, self.slowness, self.charged_ms = 0.0, slowness, 0.0
        self.budget: GreedyBudget | None = None

    def monotonic(self) -> float:
        if self.budget is not None:
            raw = self.budget.counted.milliseconds() + self.budget.priced.ms
            self.now += (raw - self.charged_ms) * self.slowness / 1000
            self.charged_ms = raw
        self.now += 1e-7
        return self.now


@pytest.fixture(scope="module")
def tight() -> tuple:
    clu = generate_tight_cluster(200, 4000, 0.88, 1)
    pol = tight_policy(clu, 1, 3.0, 1)
    return clu, pol, build_problem(resolve_rules(clu, pol))


def _passes(problem, settings, slowness: float, monkeypatch: pytest.MonkeyPatch,
            paced: bool = True) -> tuple[PlacementState, GreedyBudget, ModelClock]:
    clock = ModelClock(slowness)
    monkeypatch.setattr(greedy_budget, "time", SimpleNamespace(monotonic=clock.monotonic))
    budget = GreedyBudget.of(settings, started=0.0)
    clock.budget = budget = budget if paced else replace(budget, pace=None)
    return greedy_placement(problem, budget), budget, clock


@pytest.mark.parametrize("slowness", [1.0, 1.8])
def test_within_the_models_margin_the_plan_is_the_modelled_one(tight: tuple, slowness: float,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The modelled work fills half the limit: a machine up to about twice as slow still ends it in time.
    _, pol, problem = tight
    state, budget, _ = _passes(problem, pol.solver, slowness, monkeypatch)
    unpaced = greedy_placement(problem, GreedyBudget(work_ms=budget.work_ms))
    assert not budget.paced and not budget.wall_clock_cut
    assert state.assignment == unpaced.assignment


def test_on_a_slow_machine_the_passes_are_shortened_to_end_before_the_deadline(
        tight: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    clu, pol, problem = tight
    state, budget, clock = _passes(problem, pol.solver, 4.0, monkeypatch)
    assert budget.paced and not budget.wall_clock_cut
    assert clock.now <= PACED_SHARE * pol.solver.time_limit_s + 0.05
    repaired = greedy_placement(problem, GreedyBudget(work_ms=0))
    assert state.goal_value() < repaired.goal_value()  # shortened, not skipped
    assert validate_placement(clu, pol, to_placement(problem, state.assignment)) == []


def test_without_the_pace_the_same_machine_is_cut_by_the_wall_clock(tight: tuple,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _, pol, problem = tight
    _, budget, clock = _passes(problem, pol.solver, 4.0, monkeypatch, paced=False)
    assert budget.wall_clock_cut and clock.now >= pol.solver.time_limit_s


def test_the_factor_is_the_lowest_rung_that_ends_the_work_left_by_the_deadline_at_the_pace_so_far() -> None:
    pace = Pace(work_ms=1000.0, end_by=10.0)
    pace.update(0.0, now=0.0)
    pace.update(100.0, now=2.0)  # a tenth, 20 ms of wall clock per modelled ms: 900 ms left would take 18 s
    needed = 900 * 0.02 / 8.0
    assert pace.slowed and pace.factor == rung_at_least(needed)
    assert needed <= pace.factor < needed * 2 ** (1 / RUNGS_PER_DOUBLING)
    pace.update(100.0 + 8.0 / 0.02 * 0.5, now=6.0)  # at the same pace
    left = pace.work_ms - pace.charged(pace.last_raw_ms)
    assert left / pace.factor * 0.02 <= 10.0 - 6.0  # the rest ends in time


def test_the_rungs_are_fixed_powers_of_two() -> None:
    rungs = [rung_at_least(x) for x in (0.3, 1.0, 1.01, 1.25, 1.3, 2.0, 2.01, 7.9)]
    assert rungs == pytest.approx([1.0, 1.0, 2 ** (1 / 3), 2 ** (1 / 3), 2 ** (2 / 3), 2.0, 2 ** (4 / 3), 8.0])


def test_the_pace_is_judged_only_at_each_tenth_of_the_work() -> None:
    pace = Pace(work_ms=1000.0, end_by=10.0)
    pace.update(0.0, now=0.0)
    pace.update(50.0, now=5.0)  # far too slow, but not yet a tenth of the work
    assert not pace.slowed
    pace.update(500.0, now=6.0)  # judged: 12 ms of wall clock per modelled ms, 500 left take 6 s of 4
    assert pace.slowed and pace.factor == rung_at_least(500 * 0.012 / 4.0)
    fast = Pace(work_ms=1000.0, end_by=10.0)
    fast.update(0.0, now=0.0)
    fast.update(500.0, now=1.0)  # 2 ms of wall clock per modelled ms: 500 left take 1 s of 9
    assert not fast.slowed and fast.charged(500.0) == 500.0


def test_early_readings_are_not_judged_not_even_out_of_time() -> None:
    # The first steps can take many times their modelled share of the wall clock (consolidation's
    # host emptying at 10,000 hosts): judged at that pace, the writing up alone would not fit.
    pace = Pace(work_ms=1000.0, end_by=10.0, after_s=3.0)
    pace.update(0.0, now=0.0)
    pace.update(0.5, now=0.01)  # 20 ms of wall clock per modelled ms, too early to tell
    assert not pace.slowed and pace.charged(0.5) == 0.5


def test_a_tenth_reached_too_early_is_not_judged_later() -> None:
    pace = Pace(work_ms=1000.0, end_by=10.0)
    pace.update(0.0, now=0.0)
    pace.update(150.0, now=0.6)  # past the first tenth, too early to judge
    pace.update(199.0, now=3.0)  # slow enough to shorten, but between two tenths
    assert not pace.slowed
    pace.update(200.0, now=3.0)  # the second tenth
    assert pace.slowed


def test_a_pace_with_no_work_judges_nothing() -> None:
    pace = Pace(work_ms=0.0, end_by=10.0)
    pace.update(0.0, now=0.0)
    pace.update(5.0, now=20.0)
    assert pace.factor == 1.0


def test_out_of_time_the_work_left_is_spent() -> None:
    pace = Pace(work_ms=1000.0, end_by=1.0)
    pace.update(0.0, now=0.0)
    pace.update(10.0, now=1.5)  # between two judgements, but out of time
    assert pace.slowed and pace.charged(10.0) >= 1000.0


def test_the_factor_never_comes_back_down() -> None:
    pace = Pace(work_ms=10000.0, end_by=100.0)
    pace.update(0.0, now=0.0)
    pace.update(1000.0, now=20.0)  # 0.02 s per modelled ms
    slow = pace.factor
    pace.update(2000.0, now=21.0)  # the next tenth took 1 s: the pace so far would now need no factor
    assert slow > 1.0 and pace.factor == slow


@pytest.mark.parametrize("slownesses", [(2.6, 2.75), (4.0, 4.3)])
def test_machines_alike_in_slowness_shorten_the_passes_alike(tight: tuple, slownesses: tuple[float, float],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _, pol, problem = tight
    plans = []
    for slowness in slownesses:
        state, budget, _ = _passes(problem, pol.solver, slowness, monkeypatch)
        assert budget.paced and not budget.wall_clock_cut
        plans.append(state.assignment)
    assert plans[0] == plans[1]


def test_passes_that_end_on_their_own_are_not_said_to_be_shortened(monkeypatch: pytest.MonkeyPatch) -> None:
    # Consolidation here ends well within its work: at 4 × slower the pace rises, but no pass's
    # decision rests on it, so the plan is the modelled one and is not labelled as one that may not repeat.
    clu = generate_tight_cluster(200, 4000, 0.80, 1)
    pol = replace(tight_policy(clu, 1, 3.0, 1), goal=Goal.CONSOLIDATE)
    problem = build_problem(resolve_rules(clu, pol))
    state, budget, _ = _passes(problem, pol.solver, 4.0, monkeypatch)
    assert budget.pace.slowed and not budget.paced and not budget.wall_clock_cut
    assert state.assignment == greedy_placement(problem, GreedyBudget(work_ms=budget.work_ms)).assignment


def test_what_follows_the_passes_takes_longer_on_a_slow_machine_and_comes_out_of_their_time() -> None:
    # 20 ms a modelled ms is 20 × slower: 0.1 s of writing up then takes 2 s, not 0.1.
    plain, reserving = Pace(work_ms=1000.0, end_by=10.0), Pace(work_ms=1000.0, end_by=10.0, after_s=0.1)
    for pace in (plain, reserving):
        pace.update(0.0, now=0.0)
        pace.update(100.0, now=2.0)
    assert plain.factor == rung_at_least(900 * 0.02 / 8.0)
    assert reserving.factor == rung_at_least(900 * 0.02 / (8.0 - 0.1 * 19)) > plain.factor
