"""The independent evaluator: the official cost of every original solution in instances.csv to the
unit, the specification's worked examples term by term, and each hard constraint broken on purpose
on a tiny instance (the evaluator must name exactly that one)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.roadef.builder import build_instance, toy
from benchmarks.roadef.evaluator import Constraint, evaluate
from benchmarks.roadef.reader import instance_files, read_assignment, read_instance
from planner.solver.reassign.bound import aggregate_lower_bound
from planner.solver.reassign.instance import Balance, Instance, ObjectiveWeights

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("ROADEF_DATA", REPO.parent / "shared" / "data" / "roadef2012"))


def instances_with_models() -> list[dict[str, str] | None]:
    """Rows of instances.csv with a model file; [None] when the data is missing, so the test fails
    (a benchmark check that silently skips in CI checks nothing)."""
    table = DATA / "instances.csv"
    if not table.is_file():
        return [None]
    with table.open(newline="", encoding="utf-8") as file:
        return [row for row in csv.DictReader(file) if row["model_file"] == "yes"]


@pytest.mark.parametrize("row", instances_with_models(), ids=lambda row: row["instance"] if row else "data-missing")
def test_original_cost_matches_instances_csv_exactly(row: dict[str, str] | None) -> None:
    if row is None:
        pytest.fail(f"ROADEF data not found at {DATA}: set ROADEF_DATA to the roadef2012 folder (with instances.csv, A/, B/)")
    model, assignment = instance_files(DATA, row["instance"])
    instance = read_instance(model)
    original = read_assignment(assignment, instance)
    report = evaluate(instance, original, original)
    assert report.valid, report.violations[:3]
    assert report.costs.total == int(row["initial_cost"])
    assert report.costs.process_move == report.costs.service_move == report.costs.machine_move == 0
    # The bound the solver reports its progress against is the one the data publishes.
    assert aggregate_lower_bound(instance) == int(row["aggregate_lb"])


# --- the specification's toy example (§2) ------------------------------------------------------


TOY_ORIGINAL = np.array([0, 3, 0])  # §2.2


@pytest.mark.parametrize(
    ("solution", "load", "balance", "process", "service", "machine", "total"),
    [
        ([0, 3, 0], 400 + 1300, 2500, 0, 0, 0, 4200),
        ([0, 2, 0], 200 + 1300, 1700, 100, 10, 200, 3510),
        ([0, 2, 1], 400, 1600, 101, 10, 300, 2411),
    ],
)
def test_toy_costs_from_the_specification(
    solution: list[int], load: int, balance: int, process: int, service: int, machine: int, total: int
) -> None:
    report = evaluate(toy(), TOY_ORIGINAL, np.array(solution))
    costs = report.costs
    assert report.valid
    assert (costs.load, costs.balance, costs.process_move, costs.service_move, costs.machine_move) == (
        load,
        balance,
        process,
        service,
        machine,
    )
    assert costs.total == total


# --- each cost term on the specification's own small examples (§1.3) ---------------------------

UNWEIGHTED = ObjectiveWeights(process=1, service=1, machine=1)


def test_load_cost_example() -> None:
    instance = build_instance(capacity=[[100], [100]], safety=[[10], [50]], requirement=[[7], [12]], service=[0, 1])
    before = np.array([0, 0])
    assert evaluate(instance, before, before).costs.load == 9
    assert evaluate(instance, before, np.array([0, 1])).costs.load == 0


def test_balance_cost_example() -> None:
    instance = build_instance(
        capacity=[[16, 16], [8, 12]],
        requirement=[[2, 8], [8, 1], [5, 1]],
        service=[0, 1, 2],
        load_weight=[0, 0],
        balances=[Balance(first=0, second=1, target=2, weight=1)],
    )
    before = np.array([0, 0, 1])
    assert evaluate(instance, before, before).costs.balance == 5
    assert evaluate(instance, before, np.array([1, 0, 1])).costs.balance == 1


def test_process_move_cost_example() -> None:
    instance = build_instance(
        capacity=[[10], [10]], requirement=[[1], [1]], service=[0, 1], process_move_cost=[1, 105], weights=UNWEIGHTED
    )
    assert evaluate(instance, np.array([0, 0]), np.array([0, 1])).costs.process_move == 105


def test_service_move_cost_example() -> None:
    instance = build_instance(capacity=[[10]] * 3, requirement=[[1]] * 4, service=[0, 0, 1, 1], weights=UNWEIGHTED)
    report = evaluate(instance, np.array([0, 1, 0, 1]), np.array([1, 0, 0, 2]))
    assert report.costs.service_move == 2


def test_machine_move_cost_example() -> None:
    instance = build_instance(
        capacity=[[10], [10]],
        requirement=[[1]] * 4,
        service=[0, 1, 2, 3],
        machine_move_cost=[[0, 10], [7, 0]],
        weights=UNWEIGHTED,
    )
    report = evaluate(instance, np.array([0, 0, 1, 1]), np.array([1, 0, 0, 0]))
    assert report.costs.machine_move == 24


def test_weights_multiply_each_term() -> None:
    instance = build_instance(
        capacity=[[10], [10]],
        requirement=[[1]],
        service=[0],
        process_move_cost=[3],
        machine_move_cost=[[0, 5], [5, 0]],
        weights=ObjectiveWeights(process=2, service=7, machine=11),
    )
    costs = evaluate(instance, np.array([0]), np.array([1])).costs
    assert (costs.process_move, costs.service_move, costs.machine_move) == (6, 7, 55)


# --- each hard constraint, broken on purpose ---------------------------------------------------


def broken(instance: Instance, original: list[int], solution: list[int]) -> set[Constraint]:
    return evaluate(instance, np.array(original), np.array(solution)).constraints_broken()


def test_capacity_example() -> None:
    # §1.2.1: CPU 16/8, RAM 16/4; p1 (6, 13), p2 (1, 3), p3 (3, 1).
    instance = build_instance(capacity=[[16, 16], [8, 4]], requirement=[[6, 13], [1, 3], [3, 1]], service=[0, 1, 2])
    assert broken(instance, [0, 0, 1], [0, 1, 1]) == set()
    assert broken(instance, [0, 0, 1], [1, 0, 1]) == {Constraint.CAPACITY}
    assert broken(instance, [0, 0, 1], [0, 0, 0]) == {Constraint.CAPACITY}


def test_conflict_example() -> None:
    # §1.2.2: sa = {p1}, sb = {p2, p3}; p2 cannot join p3 on m3.
    instance = build_instance(capacity=[[10]] * 4, requirement=[[1]] * 3, service=[0, 1, 1])
    assert broken(instance, [0, 0, 2], [1, 0, 2]) == set()
    assert broken(instance, [0, 0, 2], [0, 2, 2]) == {Constraint.CONFLICT}


def test_spread_example() -> None:
    # §1.2.3: locations {m1, m2}, {m3}, {m4}; spreadMin 2.
    instance = build_instance(
        capacity=[[10]] * 4, requirement=[[1]] * 2, service=[0, 0], location=[0, 0, 1, 2], spread_min=[2]
    )
    assert broken(instance, [0, 2], [1, 3]) == set()
    assert broken(instance, [0, 2], [2, 3]) == set()
    assert broken(instance, [0, 2], [0, 1]) == {Constraint.SPREAD}


def test_dependency_example() -> None:
    # §1.2.4: neighbourhoods {m1}, {m2}, {m3, m4}; sa = {p1} depends on sb = {p2, p3}.
    instance = build_instance(
        capacity=[[10]] * 4, requirement=[[1]] * 3, service=[0, 1, 1], neighborhood=[0, 1, 2, 2], dependencies=[[1], []]
    )
    assert broken(instance, [0, 0, 2], [3, 0, 2]) == set()
    assert broken(instance, [0, 0, 2], [1, 0, 2]) == {Constraint.DEPENDENCY}
    assert broken(instance, [0, 0, 2], [0, 1, 2]) == {Constraint.DEPENDENCY}


def test_transient_example() -> None:
    # §1.2.5: DISK is transient; p2 moved m2 -> m3 still holds 6 DISK on m2, so p1 cannot go there.
    instance = build_instance(
        capacity=[[3, 10], [3, 10], [3, 7]], requirement=[[1, 8], [1, 6]], service=[0, 1], transient=[False, True]
    )
    assert broken(instance, [0, 1], [0, 2]) == set()
    report = evaluate(instance, np.array([0, 1]), np.array([1, 2]))
    assert report.constraints_broken() == {Constraint.TRANSIENT}
    assert report.violations[0].detail.startswith("machine 1 resource 1")


def test_toy_modified_to_break_each_constraint() -> None:
    instance = toy()
    assert broken(instance, [0, 3, 0], [0, 3, 2]) == {Constraint.CAPACITY}  # 200 RAM on a 100-RAM machine
    # Over capacity on the transient resource 0 (16 > 10): the transient rule subsumes capacity.
    assert broken(instance, [0, 3, 0], [0, 3, 3]) == {Constraint.CAPACITY, Constraint.TRANSIENT}
    assert broken(instance, [0, 3, 0], [0, 1, 0]) == {Constraint.SPREAD}  # sa only in location 0
    assert broken(instance, [0, 3, 0], [0, 0, 0]) == {Constraint.SPREAD, Constraint.CONFLICT}
