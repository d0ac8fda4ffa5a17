"""A CP-SAT plan the validator rejects is replaced by the greedy plan, and the plan says so."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from planner.check.validate import validate_placement
from planner.domain.errors import RebalanceError
from planner.formats.plan_io import load_plan, plan_record, write_plan
from planner.rules.resolve import resolve_rules
from planner.solver import cpsat_model
from planner.solver.planning import make_plan
from rebalance.render import render_plan
from tests.solver.model_cases import QUICK, hot_pair, unmovable

LABEL = "greedy (fallback: CP-SAT plan failed validation: "


@pytest.fixture
def no_memory_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    off = tuple(replace(f, add=lambda parts: None) if f.name == "memory_capacity" else f for f in cpsat_model.FAMILIES)
    monkeypatch.setattr(cpsat_model, "FAMILIES", off)


def _case():
    # Without memory rows the cheapest peak-lowering move puts a hot VM on the full host b.
    clu, pol = hot_pair([unmovable("big", "b", memory_mib=15360)])
    return clu, replace(pol, solver=QUICK)


@pytest.mark.solver
def test_a_rejected_cp_sat_plan_is_replaced_and_labelled(no_memory_rows: None) -> None:
    clu, pol = _case()
    plan = make_plan(resolve_rules(clu, pol))
    assert plan.solver.method.startswith(LABEL), plan.solver.method
    assert "memory" in plan.solver.method
    assert plan_record(plan)["solver"]["method"] == plan.solver.method
    assert f"Solver: {plan.solver.method}" in render_plan(plan)
    assert validate_placement(clu, pol, plan.target_placement) == []


@pytest.mark.solver
def test_a_labelled_fallback_plan_is_written_and_read_back_for_apply(no_memory_rows: None, tmp_path: Path) -> None:
    clu, pol = _case()
    plan = make_plan(resolve_rules(clu, pol))
    write_plan(plan, tmp_path / "plan.json")
    assert load_plan(tmp_path / "plan.json").solver.method == plan.solver.method


@pytest.mark.solver
def test_without_the_fallback_a_rejected_plan_is_an_internal_error(no_memory_rows: None) -> None:
    clu, pol = _case()
    with pytest.raises(RebalanceError, match="internal error: the CP-SAT plan failed validation"):
        make_plan(resolve_rules(clu, pol), fallback=False)


@pytest.mark.solver
def test_a_valid_cp_sat_plan_keeps_its_label() -> None:
    clu, pol = _case()
    assert make_plan(resolve_rules(clu, pol)).solver.method == "cp-sat"
