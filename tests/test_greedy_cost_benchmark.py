"""benchmarks.greedy_cost: the fit behind the greedy's work cap recovers known costs, and one run
counts the work planning counts and writes both result files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.extra_resources import with_extra_resources
from benchmarks.generator import generate_cluster
from benchmarks.greedy_cost import CONSTANTS, FEATURES, Run, _nnls, fit, measure, predicted_s, write
from planner.domain.policy import Policy
from planner.solver.greedy_budget import WorkCount


def test_the_fit_recovers_non_negative_costs_and_drops_a_negative_one() -> None:
    rng = np.random.default_rng(1)
    features = rng.uniform(1, 100, size=(40, 3))
    truth = np.array([0.5, 0.0, 2.0])
    target = features @ truth - 0.01 * features[:, 1]  # the middle one would fit slightly negative
    solution = _nnls(features, target)
    assert (solution >= 0).all()
    assert np.allclose(solution[[0, 2]], truth[[0, 2]], rtol=0.02) and solution[1] == 0


def test_one_run_counts_its_work_and_the_files_say_how_close_the_fit_is(tmp_path: Path) -> None:
    cluster = with_extra_resources(generate_cluster(20, 300, seed=1), 1)
    run = measure("tiny", cluster, Policy(), cap_s=5.0)
    assert run.measured_s > 0 and run.counted.host_steps > 0 and run.counted.landings > 0 and run.counted.extra > 0
    runs = [run, Run("double", WorkCount(**{f: 2 * getattr(run.counted, f) for f in FEATURES}), 2 * run.measured_s)]
    constants = fit(runs)
    assert len(constants) == len(CONSTANTS) and (constants >= 0).all()
    assert abs(predicted_s(run.counted, constants) - run.measured_s) < 0.05 * run.measured_s
    write(runs, constants, tmp_path)
    table = (tmp_path / "greedy_cost.md").read_text()
    assert all(f"`{name}`" in table for name in CONSTANTS) and "| tiny |" in table
    assert (tmp_path / "greedy_cost.csv").read_text().count("\n") == 3


def test_constants_to_use_are_scaled_back_to_the_reference_day(tmp_path: Path) -> None:
    runs = [Run("a", WorkCount(steps=1000, host_steps=100.0), 0.5), Run("b", WorkCount(steps=3000, host_steps=900.0), 2.0)]
    constants = fit(runs)
    write(runs, constants, tmp_path, slower_by=2.5)
    step_row = next(line for line in (tmp_path / "greedy_cost.md").read_text().splitlines() if "`STEP_MS`" in line)
    assert float(step_row.split("|")[3]) == round(constants[0] * 1.2 * 2.5, 3)
    assert "2.5 × faster than the reference day" in (tmp_path / "greedy_cost.md").read_text()
