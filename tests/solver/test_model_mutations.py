"""The model tests can fail: with any one family of the CP-SAT model switched off, at least one
model case must fail (and the table holds exactly the families the cases cover)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.solver import cpsat_model
from tests.solver.model_cases import CASES

EXPECTED_FAMILIES = (
    "one_host_per_unit", "memory_capacity", "vcpu_capacity", "cpu_load_capacity", "extra_capacity", "anti_affinity", "min_spread",
    "max_moves", "max_moved_memory", "moved_memory_cost", "peak_utilisation", "hosts_in_use",
)


def test_the_table_holds_the_expected_families_each_with_cases() -> None:
    # A family added to the model without cases (or a case list for a family that is gone) fails here.
    assert tuple(f.name for f in cpsat_model.FAMILIES) == EXPECTED_FAMILIES
    assert set(CASES) == set(EXPECTED_FAMILIES)


def _failures(cases) -> list[str]:
    failed = []
    for case in cases:
        try:
            case()
        except Exception as error:  # any failure counts: an assertion, a wrong error, an internal error
            failed.append(f"{case.__name__}: {type(error).__name__}")
    return failed


@pytest.mark.solver
@pytest.mark.parametrize("family", EXPECTED_FAMILIES)
def test_switching_a_family_off_fails_a_model_case(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    off = tuple(replace(f, add=lambda parts: None) if f.name == family else f for f in cpsat_model.FAMILIES)
    monkeypatch.setattr(cpsat_model, "FAMILIES", off)
    every_case = [case for cases in CASES.values() for case in cases]
    assert _failures(every_case), f"no model case notices {family!r} missing from the model"
