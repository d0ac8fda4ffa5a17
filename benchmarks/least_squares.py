"""Least squares with non-negative coefficients, for the runners that fit a cost model (a cost per
unit of work is never negative)."""

from __future__ import annotations

import numpy as np


def nonnegative_least_squares(matrix: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least squares with every coefficient >= 0: drop the most negative one and refit until none is."""
    active = list(range(matrix.shape[1]))
    while True:
        solution = np.zeros(matrix.shape[1])
        if active:
            solution[active] = np.linalg.lstsq(matrix[:, active], target, rcond=None)[0]
        negative = [i for i in active if solution[i] < 0]
        if not negative:
            return solution
        active.remove(min(negative, key=lambda i: solution[i]))
