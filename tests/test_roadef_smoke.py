"""CI's smoke test of the ROADEF benchmark on the real files: the specification's toy and a1_1,
read from the data folder, solved by the planner's reassignment solver and judged by the
independent evaluator. Validity only (scores need the 300 s runs of benchmarks/roadef/run.py).

The data folder is ROADEF_DATA or ../shared/data/roadef2012 beside the repository; missing data
fails the test rather than skipping it, so CI cannot pass without checking anything."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from benchmarks.roadef import run
from benchmarks.roadef.evaluator import evaluate
from benchmarks.roadef.reader import instance_files, read_assignment, read_instance
from planner.solver.reassign.lns import MAX_FREED
from planner.solver.reassign.local_search import LONG_HISTORY, SHORT_HISTORY
from planner.solver.reassign.settings import SearchSettings
from planner.solver.reassign.solver import solve

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("ROADEF_DATA", REPO.parent / "shared" / "data" / "roadef2012"))


@pytest.fixture(scope="module")
def data() -> Path:
    if not (DATA / "instances.csv").is_file():
        pytest.fail(f"ROADEF data not found at {DATA}: set ROADEF_DATA to the roadef2012 folder (with instances.csv, A/, B/)")
    return DATA


def test_toy_from_its_files_is_solved_to_a_valid_improvement(data: Path) -> None:
    model, assignment = instance_files(data, "toy")
    instance = read_instance(model)
    original = read_assignment(assignment, instance)
    result = solve(instance, original, SearchSettings(max_steps=300, max_rounds=4, seed=0))
    report = evaluate(instance, original, result.assignment)
    assert report.valid, report.violations[:3]
    assert report.costs.total == result.cost < evaluate(instance, original, original).costs.total


def test_runner_on_a1_1_writes_a_valid_improving_row(data: Path, tmp_path: Path) -> None:
    solutions = tmp_path / "solutions"
    assert run.main([str(data), "--only", "a1_1", "--time-limit", "3", "--out", str(tmp_path), "--solutions", str(solutions)]) == 0
    (row,) = csv.DictReader((tmp_path / "roadef.csv").open())
    assert row["valid"] == "True"
    assert int(row["cost"]) < int(row["initial_cost"])
    assert int(row["lns_rounds"]) > 0  # the second half of the first 3 s slice is the LNS's
    assert 0 <= int(row["lns_optimal"]) <= int(row["lns_rounds"])
    assert 0 < float(row["lns_solve_s"]) <= float(row["time_s"])  # one worker: within its run
    assert row["lns_led_after_s"] == "-" or 0 < float(row["lns_led_after_s"]) <= float(row["time_s"])
    # The written solution file is the row's solution: read back, it scores what the row says.
    model, assignment = instance_files(data, "a1_1")
    instance = read_instance(model)
    original = read_assignment(assignment, instance)
    report = evaluate(instance, original, read_assignment(solutions / "solution_a1_1_seed0.txt", instance))
    assert report.valid and report.costs.total == int(row["cost"])


def test_runner_with_two_seeds_keeps_every_run_and_tables_the_median(data: Path, tmp_path: Path) -> None:
    assert run.main([str(data), "--only", "a1_1", "--time-limit", "1", "--seeds", "2", "--seed", "5", "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "roadef.csv").open()))
    assert [row["seed"] for row in rows] == ["5", "6"]
    table = (tmp_path / "roadef.md").read_text()
    assert "seeds 5, 6" in table and "scores by seed" in table
    assert f"late-acceptance history {LONG_HISTORY} where machines hold at most {MAX_FREED} processes and the LNS " \
           f"has a share, else {SHORT_HISTORY}," in table
    assert sum(line.startswith("| a1_1 |") for line in table.splitlines()) == 1


@pytest.mark.parametrize(
    ("option", "value"),
    [("--workers", "0"), ("--jobs", "0"), ("--exchange-every", "-5"), ("--seeds", "0"), ("--hold-price", "-1"),
     ("--history", "-1"), ("--steps", "0"), ("--rounds", "3")],
)
def test_runner_refuses_a_bad_option_with_one_line_naming_it(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run.main([
            str(data), "--only", "a1_1", "--time-limit", "1", "--out", str(tmp_path),
            "--solutions", str(tmp_path / "solutions"), option, value,
        ])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert option in error and "Traceback" not in error
    assert not (tmp_path / "roadef.csv").exists()  # refused before any run,
    assert not (tmp_path / "solutions").exists()  # or anything written


def test_runner_searches_with_the_history_asked_for_and_says_so(data: Path, tmp_path: Path) -> None:
    assert run.main([str(data), "--only", "a1_1", "--time-limit", "1", "--history", "7", "--out", str(tmp_path)]) == 0
    assert "late-acceptance history 7," in (tmp_path / "roadef.md").read_text()


def test_runner_with_a_work_budget_repeats_a_seed_exactly_and_says_so(data: Path, tmp_path: Path) -> None:
    runs = ("first", "second")
    for name in runs:
        out = tmp_path / name
        assert run.main([str(data), "--only", "a1_1", "--steps", "3000", "--rounds", "4", "--seed", "3",
                         "--out", str(out), "--solutions", str(out)]) == 0
    first, second = (next(csv.DictReader((tmp_path / name / "roadef.csv").open())) for name in runs)
    assert int(first["cost"]) < int(first["initial_cost"]) and first["valid"] == "True"
    assert (first["steps"], first["lns_rounds"]) == ("3000", "4")  # the budget, all of it
    assert first["cost"] == second["cost"]
    solutions = [(tmp_path / name / "solution_a1_1_seed3.txt").read_text() for name in runs]
    assert solutions[0] == solutions[1]  # the same assignment, not only the same cost
    table = (tmp_path / "first" / "roadef.md").read_text()
    assert "Work budget **3,000 local-search steps and 4 LNS rounds per instance**" in table
    assert "Time limit" not in table
