"""benchmarks.greedy_cost: the fit behind the greedy's work cap recovers known costs, and one run
counts the work planning counts and writes both result files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.extra_resources import with_extra_resources
from benchmarks.generator import generate_cluster
from benchmarks.greedy_cost import (CONSTANTS, FEATURES, Run, fit, main, measure, on_reference_day,
                                    predicted_s, reference_factors, write)
from benchmarks.least_squares import nonnegative_least_squares
from planner.domain.policy import Policy
from planner.solver.greedy_budget import WorkCount


def test_the_fit_recovers_non_negative_costs_and_drops_a_negative_one() -> None:
    rng = np.random.default_rng(1)
    features = rng.uniform(1, 100, size=(40, 3))
    truth = np.array([0.5, 0.0, 2.0])
    target = features @ truth - 0.01 * features[:, 1]  # the middle one would fit slightly negative
    solution = nonnegative_least_squares(features, target)
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


def test_runs_are_brought_back_to_the_reference_day_case_by_case(tmp_path: Path) -> None:
    header = "case," + ",".join(FEATURES) + ",measured_s\n"

    def row(case: str, steps: int, seconds: float) -> str:
        return f"{case},{steps}" + ",0" * (len(FEATURES) - 1) + f",{seconds}\n"

    (tmp_path / "day.csv").write_text(header + row("a", 100, 2.0) + row("b", 100, 3.0) + row("c", 50, 1.0))
    (tmp_path / "now.csv").write_text(header + row("a", 100, 1.0) + row("b", 200, 2.0) + row("d", 10, 1.0))
    factors = reference_factors(tmp_path / "day.csv", tmp_path / "now.csv")
    assert factors == {"a": 2.0}  # b counted other work: it tells nothing about the day
    runs = [Run("a", WorkCount(steps=5), 0.5), Run("e", WorkCount(steps=5), 1.0)]
    assert [r.measured_s for r in on_reference_day(runs, factors)] == [1.0, 2.0]


def test_reference_files_that_cannot_be_used_are_a_usage_error_before_any_run(tmp_path: Path) -> None:
    (tmp_path / "day.csv").write_text("case,steps,measured_s\na,1,1.0\n")  # no work columns
    (tmp_path / "now.csv").write_text("case,steps,measured_s\na,1,1.0\n")
    for argv in (["--reference-day", str(tmp_path / "day.csv")],
                 ["--reference-day", str(tmp_path / "day.csv"), "--reference-now", str(tmp_path / "now.csv")],
                 ["--reference-day", str(tmp_path / "missing.csv"), "--reference-now", str(tmp_path / "now.csv")]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
