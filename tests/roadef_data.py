"""A one-instance ROADEF data folder (instances.csv, A/) for tests of the runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.roadef.evaluator import evaluate
from benchmarks.roadef.writer import format_assignment, format_model
from planner.solver.reassign.instance import Instance


def one_instance_folder(folder: Path, instance: Instance, original: np.ndarray, best_known_divisor: int = 1,
                        more_rows: str = "") -> int:
    """Writes instance a9_9, its best known cost its initial cost // `best_known_divisor`, with
    `more_rows` appended to instances.csv; returns the initial cost."""
    (folder / "A").mkdir(parents=True)
    (folder / "A" / "model_a9_9.txt").write_text(format_model(instance))
    (folder / "A" / "assignment_a9_9.txt").write_text(format_assignment(original))
    initial = evaluate(instance, original, original).costs.total
    best = initial // best_known_divisor
    (folder / "instances.csv").write_text(
        f"instance,initial_cost,aggregate_lb,best_known,model_file\na9_9,{initial},1,{best},yes\n{more_rows}")
    return initial


def random_walk(instance: Instance, original: np.ndarray, assignment: np.ndarray, rng: np.random.Generator,
                steps: int) -> np.ndarray:
    """`steps` random single moves, each kept only where the evaluator finds the result valid: states
    away from the original to check pricing from, judged by the independent checker alone."""
    walked = assignment.copy()
    for _ in range(steps):
        p, m = int(rng.integers(len(walked))), int(rng.integers(instance.machines.count))
        moved = walked.copy()
        moved[p] = m
        if evaluate(instance, original, moved).valid:
            walked = moved
    return walked


def random_swaps(assignment: np.ndarray, rng: np.random.Generator, count: int):
    """Up to `count` random pairs of processes on different machines: (p, q, p's machine, q's
    machine, the assignment with the two swapped). Read `assignment` as it is at each pair."""
    for _ in range(count):
        p, q = (int(x) for x in rng.choice(len(assignment), size=2, replace=False))
        a, b = int(assignment[p]), int(assignment[q])
        if a == b:
            continue
        swapped = assignment.copy()
        swapped[p], swapped[q] = b, a
        yield p, q, a, b, swapped
