"""The reassignment sub-problem's model under test: every case holds with the whole model, and with
any one family switched off at least one case fails (the table holds exactly the families the
cases cover)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.solver.reassign import sub_families, subproblem
from tests.solver.reassign_cases import CASES

EXPECTED_FAMILIES = ("capacity", "transient", "conflict", "spread", "dependencies", "load_cost", "balance_cost",
                     "move_cost", "hold_cost", "service_move_cost")
EVERY_CASE = [case for cases in CASES.values() for case in cases]


def test_the_table_holds_the_expected_families_each_with_cases() -> None:
    assert tuple(f.name for f in sub_families.FAMILIES) == EXPECTED_FAMILIES
    assert set(CASES) == set(EXPECTED_FAMILIES)


@pytest.mark.parametrize("case", EVERY_CASE, ids=lambda case: case.__name__)
def test_every_case_holds_with_the_whole_model(case) -> None:
    case()


def _failures() -> list[str]:
    failed = []
    for case in EVERY_CASE:
        try:
            case()
        except Exception as error:  # any failure counts: an assertion, a crash, nothing found
            failed.append(f"{case.__name__}: {type(error).__name__}")
    return failed


@pytest.mark.parametrize("family", EXPECTED_FAMILIES)
def test_switching_a_family_off_fails_a_case(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    off = tuple(replace(f, add=lambda sub: None) if f.name == family else f for f in sub_families.FAMILIES)
    monkeypatch.setattr(subproblem, "FAMILIES", off)
    failed = _failures()
    assert failed, f"no case notices {family!r} missing from the sub-problem's model"
    # The family's own cases are among those that notice (each case is about its family).
    assert any(case.__name__ in row for case in CASES[family] for row in failed), failed
