"""`rebalance explain plan.json VM`: why it moved, and every kind of why not."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from planner.formats.plan_io import write_plan
from planner.domain.policy import Goal, Limits, Pin, Selector
from planner.rules.resolve import resolve_rules
from planner.explain.why_not import context_of, context_path, write_context
from rebalance.cli import cli
from tests.builders import cluster, host, plan_for, policy, vm

pytestmark = pytest.mark.solver

# a is hot (two busy VMs), b is empty, c is quiet; "pinned" cannot move, "fixed" is pinned by a rule.
CLUSTER = cluster([host("a"), host("b"), host("c")],
                  [vm("hot1", "a", load=3000), vm("hot2", "a", load=3000), vm("quiet", "c", load=100),
                   vm("stuck", "a", load=100, migratable=False, unmigratable_reason="local disk /srv/x.qcow2")])


def saved(tmp_path: Path, pol) -> Path:
    path = tmp_path / "plan.json"
    write_plan(plan_for(CLUSTER, pol), path)
    write_context(context_of(resolve_rules(CLUSTER, pol)), context_path(path))
    return path


def explain(path: Path, name: str, *options: str) -> Result:
    return CliRunner().invoke(cli, ["explain", str(path), name, *options])


def test_a_moved_vm_says_where_and_why_and_by_how_much(tmp_path: Path) -> None:
    path = saved(tmp_path, policy(Goal.SPREAD))
    result = explain(path, "hot1") if "hot1 moves" in explain(path, "hot1").output else explain(path, "hot2")
    assert result.exit_code == 0
    first, source, _ = result.output.splitlines()
    assert "moves a → b (1.0 GiB) to lower the peak: a CPU 76% → " in first
    assert source.startswith("a with the whole plan: 3 → 2 VMs")


def test_why_not_unmigratable_with_its_reason(tmp_path: Path) -> None:
    result = explain(saved(tmp_path, policy(Goal.SPREAD)), "stuck")
    assert result.exit_code == 0
    assert "cannot migrate: local disk /srv/x.qcow2" in result.output


def test_why_not_cooldown_and_host_not_hot(tmp_path: Path) -> None:
    path = saved(tmp_path, policy(Goal.SPREAD, cooldown={"quiet": "in cooldown: moved 1 h 00 min ago"}))
    result = explain(path, "quiet")
    assert "held: in cooldown: moved 1 h 00 min ago" in result.output
    assert "Its host c was not hot" in result.output


def test_why_not_the_move_budget(tmp_path: Path) -> None:
    path = saved(tmp_path, policy(Goal.SPREAD, limits=Limits(max_moves=1)))
    stayed = next(n for n in ("hot1", "hot2") if "stays" in explain(path, n).output)
    assert "allows at most 1 moves; the plan uses 1" in explain(path, stayed).output


def test_why_not_with_a_policy_file_for_a_hand_made_plan(tmp_path: Path, write_file) -> None:
    path = tmp_path / "plan.json"
    pin = Pin("keep-quiet", Selector(names=frozenset({"quiet"})))
    write_plan(plan_for(CLUSTER, policy(Goal.SPREAD, pins=(pin,))), path)
    pins = write_file("policy.yaml", "rules:\n  pin:\n    - {name: keep-quiet, vms: [quiet]}\n")
    assert "pinned by rule 'keep-quiet'" in explain(path, "quiet", "--policy", str(pins)).output
    assert "give --policy" in explain(path, "quiet").output


def test_an_unknown_vm_exits_2_naming_the_plan(tmp_path: Path) -> None:
    path = saved(tmp_path, policy(Goal.SPREAD))
    result = explain(path, "nope")
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: VM: 'nope' is not in the plan's cluster\n"
