"""The local search and the runner, on instances built here (no shared data needed): valid answers
never worse than the original, the specification's optimum on its toy, reproducible for a seed,
within the time limit, and a runner that writes the scored table."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.roadef import run
from benchmarks.roadef.builder import random_instance, toy
from benchmarks.roadef.evaluator import evaluate
from planner.solver.reassign.settings import SearchSettings
from planner.solver.reassign.solver import solve
from tests.roadef_data import one_instance_folder


def checked(instance, original, result):
    """The independent evaluator's verdict, which must agree with the solver's own bookkeeping."""
    report = evaluate(instance, original, result.assignment)
    assert report.valid, report.violations[:3]
    assert report.costs.total == result.cost
    return report


@pytest.mark.parametrize("lns_share", [0.0, 0.5])
def test_reaches_the_specifications_optimum_on_the_toy(lns_share: float) -> None:
    original = np.array([0, 3, 0])
    result = solve(toy(), original, SearchSettings(max_steps=300, max_rounds=4 if lns_share else 0, seed=1, lns_share=lns_share))
    assert checked(toy(), original, result).costs.total == 2411  # §2.2: "optimal solution ... total cost of 2411"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("lns_share", [0.0, 0.5])
def test_answers_are_valid_and_never_worse_than_the_original(seed: int, lns_share: float) -> None:
    instance, original = random_instance(seed, machines=10, processes=50)
    rounds = 6 if lns_share else 0
    settings = SearchSettings(max_steps=2000, max_rounds=rounds, seed=seed, lns_share=lns_share, sub_seconds=0.1)
    result = solve(instance, original, settings)
    initial = evaluate(instance, original, original).costs.total
    assert checked(instance, original, result).costs.total <= initial


@pytest.mark.parametrize("seed", range(3))
def test_cpsat_rounds_alone_improve_and_stay_valid(seed: int) -> None:
    """LNS rounds with no local-search steps: every improvement is the sub-problem's own."""
    instance, original = random_instance(100 + seed, machines=12, processes=60)
    result = solve(instance, original, SearchSettings(max_steps=0, max_rounds=10, seed=seed, sub_seconds=0.1))
    initial = evaluate(instance, original, original).costs.total
    assert checked(instance, original, result).costs.total < initial
    assert result.lns.rounds == 10 and result.lns.improved > 0


def test_a_sub_problem_over_every_machine_matches_a_long_local_search() -> None:
    """Full-instance CP-SAT rounds reach a cost no worse than a long local search on tight
    random instances (the sub-problem covers every machine here, so it is exact)."""
    better_or_equal = 0
    for seed in range(3):
        instance, original = random_instance(200 + seed, machines=6, processes=24)
        local = solve(instance, original, SearchSettings(max_steps=3000, seed=seed, lns_share=0.0))
        both = solve(instance, original, SearchSettings(max_steps=0, max_rounds=6, seed=seed, sub_seconds=0.3))
        better_or_equal += checked(instance, original, both).costs.total <= checked(instance, original, local).costs.total
    assert better_or_equal == 3


def test_same_seed_same_answer() -> None:
    instance, original = random_instance(11, machines=10, processes=50)
    settings = SearchSettings(max_steps=1500, max_rounds=4, seed=3, sub_seconds=0.1)
    first = solve(instance, original, settings)
    again = solve(instance, original, settings)
    assert np.array_equal(first.assignment, again.assignment)
    assert first.steps == again.steps == 1500


def test_stops_at_the_time_limit() -> None:
    instance, original = random_instance(5, machines=20, processes=200)
    started = time.monotonic()
    result = solve(instance, original, SearchSettings(time_limit_s=0.3))
    assert time.monotonic() - started < 1.5
    checked(instance, original, result)
    assert result.steps > 0  # the first half of the first slice: the local search takes the easy gains


def test_runner_writes_scored_csv_and_markdown(tmp_path: Path) -> None:
    data = tmp_path / "data"
    instance, original = random_instance(2, machines=10, processes=40)
    initial = one_instance_folder(data, instance, original, best_known_divisor=2,
                                  more_rows="b_99,0,1,0,MISSING\n")
    out = tmp_path / "results"
    assert run.main([str(data), "--time-limit", "0.3", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "roadef.csv").open()))
    assert [row["instance"] for row in rows] == ["a9_9"]
    cost = int(rows[0]["cost"])
    assert cost <= initial and rows[0]["valid"] == "True"
    assert float(rows[0]["score"]) == pytest.approx(100 * (cost - initial // 2) / initial)
    text = (out / "roadef.md").read_text()
    assert "Time limit **0.3 s per instance**" in text
    assert "Skipped (model file not available): b_99" in text
