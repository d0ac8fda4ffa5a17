"""The CP-SAT rows both engines state (planner/solver/cpsat_rows.py), against brute force: on small
random cases the assignments of the x Booleans CP-SAT accepts are exactly the ones the rule allows
(a room below 0, a rule its fixed members already break, lets nothing more in)."""

from __future__ import annotations

import itertools
import random

import pytest
from ortools.sat.python import cp_model

from planner.solver.cpsat_rows import at_most_per_domain, domains_used_at_least


def _feasible_x(model: cp_model.CpModel, xs: list[cp_model.IntVar]) -> set[tuple[int, ...]]:
    """Every assignment of `xs` some solution of `model` takes (other variables projected away)."""
    found: set[tuple[int, ...]] = set()
    for values in itertools.product((0, 1), repeat=len(xs)):
        trial = model.clone()
        for var, value in zip(xs, values):
            trial.add(trial.get_bool_var_from_proto_index(var.index) == value)
        if cp_model.CpSolver().solve(trial) in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            found.add(values)
    return found


@pytest.mark.parametrize("seed", range(12))
def test_at_most_per_domain_accepts_exactly_what_fits_each_room(seed: int) -> None:
    rng = random.Random(seed)
    model = cp_model.CpModel()
    xs = [model.new_bool_var(f"x{i}") for i in range(6)]
    rows = {key: [(rng.randint(1, 3), xs[i]) for i in rng.sample(range(6), rng.randint(1, 4))] for key in "abc"}
    rooms = {key: rng.randint(-1, 4) for key in rows}
    at_most_per_domain(model, rows, rooms.__getitem__)
    index = {var.index: i for i, var in enumerate(xs)}
    allowed = {values for values in itertools.product((0, 1), repeat=6)
               if all(sum(c * values[index[v.index]] for c, v in terms) <= max(rooms[key], 0)
                      for key, terms in rows.items())}
    assert _feasible_x(model, xs) == allowed


@pytest.mark.parametrize("needed", [0, 1, 2, 3])
def test_domains_used_at_least_counts_domains_with_a_member(needed: int) -> None:
    model = cp_model.CpModel()
    xs = [model.new_bool_var(f"x{i}") for i in range(5)]
    there = {7: [xs[0], xs[1]], 8: [xs[2]], 9: [xs[3], xs[4]]}
    used = domains_used_at_least(model, there, needed, "spread")
    assert list(used) == [7, 8, 9]
    allowed = {values for values in itertools.product((0, 1), repeat=5)
               if sum(any(values[xs.index(x)] for x in landing) for landing in there.values()) >= needed}
    assert _feasible_x(model, xs) == allowed
