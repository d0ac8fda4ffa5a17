"""A CP-SAT model as a table of named families, for every builder of the solver package.

Each family adds one rule's rows, or one term of the objective, to the parts it is given; the
builder runs them in the table's order. The product's model (cpsat_model.FAMILIES) and the
reassignment sub-problems' (reassign/sub_families.FAMILIES) are tables of this kind, and each table
has a test that switches its families off one at a time and expects a case to fail
(tests/solver/test_model_mutations.py, tests/solver/test_reassign_mutations.py): no rule of either
model goes untested.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

Parts = TypeVar("Parts")


@dataclass(frozen=True)
class Family(Generic[Parts]):
    name: str
    add: Callable[[Parts], None]


def add_families(families: Iterable[Family[Parts]], parts: Parts) -> None:
    for family in families:
        family.add(parts)
