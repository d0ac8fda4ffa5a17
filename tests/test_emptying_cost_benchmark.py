"""benchmarks.emptying_cost: the fit behind host emptying's charge recovers known costs, its chunks
count what the budget charges, and a small run writes its files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.emptying_cost import (CHUNK, Chunk, constants_in_use, fit, main, measure_case, predicted_ms,
                                     repaired_consolidation)
from planner.solver.greedy_budget import GreedyBudget
from planner.solver.host_emptying import consolidate_hosts


def test_the_fit_recovers_the_costs_the_chunks_were_made_with() -> None:
    rng = np.random.default_rng(3)
    truth = np.array([0.02, 0.003, 0.012, 0.03])
    chunks = []
    for _ in range(30):
        hosts = int(rng.choice([1000, 5000, 10000]))
        scans, targets, moves = (int(v) for v in rng.integers(100, 5000, 3))
        features = np.array([scans, scans * hosts / 1000, targets, moves])
        chunks.append(Chunk(CHUNK, scans, scans * hosts / 1000, targets, moves, float(features @ truth)))

    assert np.allclose(fit(chunks), truth, rtol=1e-6)


def test_the_chunks_count_what_planning_charges_for_the_same_emptying() -> None:
    chunks = measure_case("40x600", 0.85, 1)
    budget = GreedyBudget()

    consolidate_hosts(repaired_consolidation("40x600", 0.85, 1), budget)

    assert sum(c.hosts for c in chunks) > CHUNK // 10 and all(c.measured_ms > 0 for c in chunks)
    assert predicted_ms(chunks, constants_in_use()) == pytest.approx(budget.used_ms)


def test_a_small_run_writes_each_case_and_the_constants(tmp_path: Path) -> None:
    main(["--sizes", "20x300,40x600", "--fills", "0.85", "--out", str(tmp_path)])

    table = (tmp_path / "emptying-cost.md").read_text()
    assert "| 20x300 | 0.85 |" in table and "| 40x600 | 0.85 |" in table
    assert "`EMPTYING_TARGET_MS`" in table
    assert (tmp_path / "emptying-cost.csv").read_text().count("\n") == 3


@pytest.mark.parametrize("arguments", [["--sizes", "1000"], ["--fills", "1.2"], ["--fills", "x"]])
def test_bad_arguments_are_one_line_and_exit_2(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(arguments)

    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err
