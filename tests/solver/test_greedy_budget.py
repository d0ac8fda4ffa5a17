"""The spread greedy's improving passes stay inside the time limit: in deterministic mode a work
cap ends them the same way every time; the wall clock is the backstop and says so."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.check.validate import validate_placement
from planner.instance.problem import Problem, build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules
from planner.solver import greedy_budget, time_budget
from planner.solver.greedy import greedy_placement, repair
from planner.solver.greedy_budget import GreedyBudget
from planner.solver.pace import Pace
from planner.solver.planning import make_plan, to_placement
from planner.solver.time_budget import MAY_NOT_REPEAT, WALL_CLOCK_CUT

# A hard deadline, not a performance target: building the answer on a loaded machine may take a
# little past it, never a whole greedy pass more (which took 20 s here on this cluster).
MARGIN_S = 3.0


@pytest.fixture(scope="module")
def tight() -> tuple:
    """Memory-tight and heterogeneous: the greedy takes thousands of steps (about 10-20 s unbounded)."""
    clu = generate_tight_cluster(200, 4000, 0.88, 1)
    pol = tight_policy(clu, 1, 3.0, 1)
    return clu, pol, build_problem(resolve_rules(clu, pol))


def _repaired(problem: Problem) -> PlacementState:
    state = PlacementState(problem)
    repair(state)
    return state


def test_a_spent_budget_stops_the_improving_passes_but_not_the_repair(tight: tuple) -> None:
    clu, pol, problem = tight
    state = greedy_placement(problem, GreedyBudget(work_ms=0))
    assert state.assignment == _repaired(problem).assignment
    assert validate_placement(clu, pol, to_placement(problem, state.assignment)) == []


def test_the_same_work_cap_gives_the_same_placement_and_more_work_a_lower_peak(tight: tuple) -> None:
    _, _, problem = tight
    short = [greedy_placement(problem, GreedyBudget(work_ms=300)).assignment for _ in range(2)]
    longer = greedy_placement(problem, GreedyBudget(work_ms=1500))
    assert short[0] == short[1]
    assert longer.goal_value() < PlacementState(problem, short[0]).goal_value()


def test_a_passed_deadline_stops_the_passes_and_is_reported(tight: tuple) -> None:
    _, _, problem = tight
    budget = GreedyBudget(deadline=time.monotonic() - 1.0, work_ms=1e9)
    state = greedy_placement(problem, budget)
    assert budget.wall_clock_cut
    assert state.assignment == _repaired(problem).assignment


def test_the_greedy_from_the_callers_start_state_is_the_greedy_from_scratch_and_leaves_it_alone(tight: tuple) -> None:
    _, _, problem = tight
    start = PlacementState(problem)
    before = list(start.assignment)
    from_start = greedy_placement(problem, GreedyBudget(work_ms=300), start)
    assert from_start.assignment == greedy_placement(problem, GreedyBudget(work_ms=300)).assignment
    assert from_start.assignment != before  # it moved VMs, in its own state
    assert start.assignment == before and not start.moves


def test_a_budget_of_no_work_is_spent_without_blaming_the_wall_clock() -> None:
    # Where setup takes the whole limit, the passes get no work: the plan is the repair's whatever
    # the clock says, so it must not be labelled as one the wall clock cut (one that may not repeat).
    late = GreedyBudget(deadline=time.monotonic() - 1.0, work_ms=0.0)
    assert late.spent() and late.work_ran_out()
    assert not late.wall_clock_cut
    assert not GreedyBudget(deadline=time.monotonic() - 1.0, work_ms=1e9).work_ran_out()


def test_planning_keeps_the_time_limit_on_a_cluster_whose_greedy_alone_takes_longer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 1000 hosts: the greedy alone takes 10-20 times the limit (the 200-host cluster above took
    # 2.5 s unbounded on a quick machine, under a 3 s limit, and nothing was cut).
    clu = generate_tight_cluster(1000, 20000, 0.88, 1)
    pol = tight_policy(clu, 1, 2.0, 1)
    # Work no machine gets through in the limit: only the wall clock (directly, or through the pace
    # it sets, pace.py) can end the passes.
    monkeypatch.setattr(greedy_budget, "MS_PER_SECOND", 1e9)
    began = time.monotonic()
    plan = make_plan(resolve_rules(clu, pol))
    assert time.monotonic() - began < 2.0 + MARGIN_S
    assert any(MAY_NOT_REPEAT in note for note in plan.notes)
    assert validate_placement(clu, pol, plan.target_placement) == []


def test_setup_modelled_past_the_limit_leaves_no_work_for_the_search(tight: tuple,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the problem and the repair come out of the modelled work first: at 100,000 VMs they
    are seconds, and the search must not be promised time they took."""
    clu, pol, problem = tight
    monkeypatch.setattr(time_budget, "SETUP_S_PER_UNIT", 1.0)  # 4,000 groups: over an hour
    plan = make_plan(resolve_rules(clu, pol))
    assert plan.solver.greedy_goal == PlacementState(problem).goal_value()
    assert not plan.moves
    assert WALL_CLOCK_CUT not in plan.solver.status
    assert any("limit leaves the search no time" in note for note in plan.notes)


def test_a_limit_short_for_the_size_is_noted_and_a_long_enough_one_is_not(tight: tuple,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    clu, pol, _ = tight
    rules = resolve_rules(clu, replace(pol, solver=replace(pol.solver, time_limit_s=1.0)))
    assert not any("limit leaves the search" in note for note in make_plan(rules).notes)
    # 4,000 groups modelled at 0.2 ms each: 0.8 s of the 1 s limit before any search.
    monkeypatch.setattr(time_budget, "SETUP_S_PER_UNIT", 0.2e-3)
    assert any("limit leaves the search about" in note for note in make_plan(rules).notes)


def _cut_by_work(notes: tuple[str, ...] | list[str]) -> list[str]:
    return [note for note in notes if "before its greedy passes had finished" in note]


def test_passes_cut_by_their_modelled_work_say_so_and_the_note_repeats(tight: tuple,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The 3 s limit buys the 200-host cluster's greedy about a fifth of the work it does unbounded.
    The pace is held still: on a machine running slower than the model (this one, some hours) it
    rightly shortens the passes and says that instead (tests/solver/test_pace.py)."""
    monkeypatch.setattr(Pace, "update", lambda self, raw_ms, now: None)
    clu, pol, _ = tight
    rules = resolve_rules(clu, pol)
    first, second = make_plan(rules), make_plan(rules)
    assert len(_cut_by_work(first.notes)) == 1
    assert "--time-limit" in _cut_by_work(first.notes)[0] and "deterministic: false" in _cut_by_work(first.notes)[0]
    assert first.notes == second.notes and first.moves == second.moves


def test_passes_that_finish_within_their_work_and_searches_on_the_wall_clock_add_no_such_note(tight: tuple) -> None:
    clu, pol, _ = tight
    small = generate_tight_cluster(20, 300, 0.85, 1)
    assert not _cut_by_work(make_plan(resolve_rules(small, tight_policy(small, 1, 10.0, 1))).notes)
    wall_clock = replace(pol, solver=replace(pol.solver, deterministic=False, time_limit_s=1.0))
    assert not _cut_by_work(make_plan(resolve_rules(clu, wall_clock)).notes)


def test_work_ran_out_only_past_the_work_cap_and_never_without_one() -> None:
    budget = GreedyBudget(work_ms=1.0)
    while budget.used_ms <= 1.0:
        assert not budget.work_ran_out()
        budget.step(hosts=1000)
    assert budget.work_ran_out() and budget.spent()
    unlimited = GreedyBudget(deadline=time.monotonic() + 60.0)
    for _ in range(100):
        unlimited.step(hosts=1000)
    assert not unlimited.work_ran_out()
