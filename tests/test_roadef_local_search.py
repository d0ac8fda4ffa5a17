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
from benchmarks.roadef.local_search import SearchSettings, solve
from benchmarks.roadef.writer import format_assignment, format_model


def test_reaches_the_specifications_optimum_on_the_toy() -> None:
    result = solve(toy(), np.array([0, 3, 0]), SearchSettings(max_steps=300, seed=1))
    assert result.report.valid
    assert result.report.costs.total == 2411  # §2.2: "optimal solution ... total cost of 2411"


@pytest.mark.parametrize("seed", range(4))
def test_answers_are_valid_and_never_worse_than_the_original(seed: int) -> None:
    instance, original = random_instance(seed, machines=10, processes=50)
    result = solve(instance, original, SearchSettings(max_steps=2000, seed=seed))
    initial = evaluate(instance, original, original).costs.total
    assert result.report.valid
    assert result.report.costs.total <= initial
    assert result.report == evaluate(instance, original, result.assignment)


def test_same_seed_same_answer() -> None:
    instance, original = random_instance(11, machines=10, processes=50)
    first = solve(instance, original, SearchSettings(max_steps=1500, seed=3))
    again = solve(instance, original, SearchSettings(max_steps=1500, seed=3))
    assert np.array_equal(first.assignment, again.assignment)
    assert first.steps == again.steps == 1500


def test_stops_at_the_time_limit() -> None:
    instance, original = random_instance(5, machines=20, processes=200)
    started = time.monotonic()
    result = solve(instance, original, SearchSettings(time_limit_s=0.3))
    assert time.monotonic() - started < 1.5
    assert result.steps > 0 and result.report.valid


def test_runner_writes_scored_csv_and_markdown(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "A").mkdir(parents=True)
    instance, original = random_instance(2, machines=10, processes=40)
    (data / "A" / "model_a9_9.txt").write_text(format_model(instance))
    (data / "A" / "assignment_a9_9.txt").write_text(format_assignment(original))
    initial = evaluate(instance, original, original).costs.total
    (data / "instances.csv").write_text(
        "instance,initial_cost,aggregate_lb,best_known,model_file\n"
        f"a9_9,{initial},1,{initial // 2},yes\n"
        f"b_99,{initial},1,{initial},MISSING\n"
    )
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
