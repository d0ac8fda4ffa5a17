"""The reassignment solver's progress: the aggregate lower bound it reports against is never above
any assignment's cost and is reached where every machine can sit above its safety capacity; while
it runs it reports each new best cost once, in falling order, ending at the answer it returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.roadef import run
from benchmarks.roadef.builder import build_instance, random_instance
from benchmarks.roadef.evaluator import evaluate
from planner.solver.progress import SolveProgress
from planner.solver.reassign import turns
from planner.solver.reassign.bound import aggregate_lower_bound
from planner.solver.reassign.instance import Balance
from planner.solver.reassign.settings import SearchSettings
from planner.solver.reassign.solver import solve
from tests.roadef_data import one_instance_folder, random_walk


@pytest.mark.parametrize("seed", range(8))
def test_no_assignment_on_a_walk_costs_less_than_the_bound(seed: int) -> None:
    instance, original = random_instance(seed, machines=6, processes=24)
    bound = aggregate_lower_bound(instance)
    rng = np.random.default_rng(seed)
    assignment = original.copy()
    for _ in range(40):
        assignment = random_walk(instance, original, assignment, rng, 5)
        assert evaluate(instance, original, assignment).costs.total >= bound


def test_the_bound_is_the_cost_where_every_machine_is_over_its_safety_capacity() -> None:
    # Two machines, both above their safety capacity on both resources, no moves: load and balance
    # pooled over the machines are exactly the sums per machine.
    instance = build_instance(
        capacity=[[20, 20], [20, 20]], safety=[[5, 6], [4, 3]], requirement=[[6, 2], [3, 5], [4, 4], [2, 3]],
        service=[0, 1, 2, 3], load_weight=[3, 7], balances=[Balance(first=0, second=1, target=2, weight=5)],
    )
    original = np.array([0, 0, 1, 1])
    costs = evaluate(instance, original, original).costs
    assert costs.load > 0 and costs.balance > 0
    assert aggregate_lower_bound(instance) == costs.total


def test_the_bound_counts_load_and_balance_once_pooled() -> None:
    # One machine under its safety capacity, one over: pooling lets the spare room offset the excess.
    instance = build_instance(capacity=[[10], [10]], safety=[[8], [4]], requirement=[[3], [7]], service=[0, 1])
    assert evaluate(instance, np.array([0, 1]), np.array([0, 1])).costs.load == 3
    assert aggregate_lower_bound(instance) == 0


def _reports(monkeypatch: pytest.MonkeyPatch, seed: int, workers: int) -> tuple[list[SolveProgress], int, int]:
    monkeypatch.setattr(turns, "SLICE_S", 0.2)  # several slices within a short test
    instance, original = random_instance(seed, machines=20, processes=200)
    heard: list[SolveProgress] = []
    result = solve(instance, original, SearchSettings(time_limit_s=2.0, seed=seed, workers=workers, exchange_s=0.5),
                   heard.append)
    return heard, result.cost, aggregate_lower_bound(instance)


@pytest.mark.parametrize("seed", range(3))
def test_each_new_best_is_reported_once_and_the_last_is_the_answer(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    heard, cost, bound = _reports(monkeypatch, seed, workers=1)
    assert heard, "nothing reported"
    goals = [r.goal for r in heard]
    assert goals == sorted(set(goals), reverse=True)  # strictly falling: no line repeats a best
    assert goals[-1] == cost
    assert all(r.bound == bound <= r.goal for r in heard)
    assert {r.stage for r in heard} <= {"local search", "lns"}
    elapsed = [r.elapsed_s for r in heard]
    assert elapsed == sorted(elapsed) and elapsed[-1] <= 2.0 + 1.0


def test_workers_report_their_exchanges_too(monkeypatch: pytest.MonkeyPatch) -> None:
    heard, cost, bound = _reports(monkeypatch, 4, workers=2)
    goals = [r.goal for r in heard]
    assert goals and goals == sorted(set(goals), reverse=True)
    assert goals[-1] == cost
    assert all(r.bound == bound for r in heard)
    assert {r.stage for r in heard} <= {"local search", "lns", "exchange"}


@pytest.mark.parametrize("progress", [True, False])
def test_the_runner_writes_progress_lines_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          progress: bool) -> None:
    data = tmp_path / "data"
    instance, original = random_instance(3, machines=10, processes=60)
    one_instance_folder(data, instance, original)
    argv = [str(data), "--time-limit", "0.5", "--out", str(tmp_path / "out")] + (["--progress"] if progress else [])
    assert run.main(argv) == 0
    lines = capsys.readouterr().err.splitlines()
    if not progress:
        assert lines == []
        return
    assert lines and all(line.startswith("a9_9 seed 0: ") for line in lines)
    assert f"bound {aggregate_lower_bound(instance):,}" in lines[-1]
