"""Every family of the CP-SAT model, through make_plan with the greedy fallback off (see model_cases)."""

from __future__ import annotations

import pytest

from tests.solver.model_cases import CASES, Case

ALL = [(family, case) for family, cases in CASES.items() for case in cases]


@pytest.mark.solver
@pytest.mark.parametrize("family, case", ALL, ids=[f"{f}-{c.__name__}" for f, c in ALL])
def test_model_case(family: str, case: Case) -> None:
    case()
