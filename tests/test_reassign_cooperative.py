"""Two searches on two cores sharing their best assignment: valid answers, exact repeats under a
step budget, a restart that leaves the state exactly as if built there, and no process left
behind, even when a worker fails."""

from __future__ import annotations

import multiprocessing
import os
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks.roadef.builder import random_instance
from benchmarks.roadef.evaluator import evaluate
from planner.solver.reassign.cooperative import SEED_STRIDE, Order, _Helper
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.settings import SearchSettings
from planner.solver.reassign.solver import solve
from planner.solver.reassign.turns import TakingTurns


def budget(seed: int, workers: int) -> SearchSettings:
    return SearchSettings(max_steps=3000, max_rounds=5, seed=seed, sub_seconds=0.1, workers=workers)


@pytest.mark.parametrize("seed", range(2))
def test_two_workers_give_a_valid_answer_no_worse_than_the_original(seed: int) -> None:
    instance, original = random_instance(200 + seed, machines=10, processes=50)
    result = solve(instance, original, budget(seed, workers=2))
    report = evaluate(instance, original, result.assignment)
    assert report.valid, report.violations[:3]
    assert report.costs.total == result.cost
    assert result.cost <= evaluate(instance, original, original).costs.total
    assert result.lns.rounds == 2 * 5  # both workers did their rounds
    assert result.lns.solve_s > 0 and 0 <= result.lns.optimal <= result.lns.rounds
    assert result.lns_led_after_s == (None, None)  # one per worker; under a budget the share never follows the clock
    assert multiprocessing.active_children() == []


def test_a_budgeted_two_worker_run_repeats_exactly() -> None:
    instance, original = random_instance(210, machines=10, processes=50)
    first = solve(instance, original, budget(3, workers=2))
    second = solve(instance, original, budget(3, workers=2))
    assert np.array_equal(first.assignment, second.assignment)
    assert first.cost == second.cost and first.steps == second.steps


def test_without_exchanges_two_workers_return_the_better_of_two_independent_searches() -> None:
    instance, original = random_instance(215, machines=20, processes=200)
    together = solve(instance, original, replace(budget(4, workers=2), exchange_s=0))
    alone = [solve(instance, original, budget(seed, workers=1)) for seed in (4, 4 + SEED_STRIDE)]
    better = min(alone, key=lambda result: result.cost)
    assert together.cost == better.cost
    assert np.array_equal(together.assignment, better.assignment)
    assert together.steps == sum(result.steps for result in alone)
    # On this instance exchanging changes the outcome, so an exchange that still happened would
    # have failed the checks above.
    exchanging = solve(instance, original, budget(4, workers=2))
    assert not np.array_equal(exchanging.assignment, together.assignment)


def test_a_restart_leaves_the_state_as_if_built_at_the_new_assignment() -> None:
    instance, original = random_instance(220, machines=10, processes=50)
    target = solve(instance, original, SearchSettings(max_steps=3000, seed=1)).assignment
    search = TakingTurns(instance, original, SearchSettings(seed=2))
    search.run_budget(500, 0)  # somewhere else first
    search.restart_from(target)
    built = SearchState(instance, original, start=target)
    state = search.state
    assert np.array_equal(state.assignment, target)
    for field in ("usage", "held", "machine_cost", "location_count", "hood_count", "moved", "locations_used"):
        assert np.array_equal(getattr(state, field), getattr(built, field)), field
    assert state.total() == built.total()
    assert search.best_cost <= built.total()


def test_a_failing_worker_is_reported_with_its_seed_and_stopped() -> None:
    instance, original = random_instance(230, machines=6, processes=20)
    context = multiprocessing.get_context("spawn")
    helper = _Helper(context, instance, original, SearchSettings(seed=41), cost=0)
    try:
        helper.send(Order(start=np.full(len(original), 10**6), deadline=None))  # no such machine
        with pytest.raises(RuntimeError, match="seed 41 failed: IndexError"):
            helper.receive()
    finally:
        helper.stop()
    assert not helper.process.is_alive()


def test_a_worker_that_dies_as_it_starts_is_an_error_not_a_hang(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A spawned worker that exits before reading anything (here: at interpreter start, through a
    sitecustomize on its path) must make starting it fail, even with an instance larger than a
    pipe holds; the parent must not wait on it for good."""
    (tmp_path / "sitecustomize.py").write_text("import os\nos._exit(3)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    instance, original = random_instance(240, machines=40, processes=3000)
    assert instance.processes.requirement.nbytes > 64 * 1024
    context = multiprocessing.get_context("spawn")
    outcome: list[BaseException | None] = []

    def start() -> None:
        try:
            _Helper(context, instance, original, SearchSettings(seed=43), cost=0).stop()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome.append(error)

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "starting a worker that died waited for it for good"
    assert isinstance(outcome[0], RuntimeError)
    assert "seed 43 exited" in str(outcome[0])
    assert multiprocessing.active_children() == []
