"""A policy rule whose VM selector matches no VM: listed by the planner, a warning on `plan` and
`run`, an error (exit 2, naming the policy file and the rule's field) under `--strict`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.domain.policy import AntiAffinity, MoveCosts, MoveFactor, Pin, Selector
from planner.rules.empty_selectors import EmptySelector, empty_selectors
from rebalance.cli import cli
from tests.builders import cluster, host, policy, vm
from tests.harness import invoke

WEB = Selector(labels={"app": "web"})
CLUSTER = cluster([host("a"), host("b")], [vm("web-1", "a", labels={"app": "web"}), vm("db-1", "a")])


def test_the_planner_lists_every_selector_that_matches_nothing_in_policy_order() -> None:
    rules = policy(anti_affinity=(AntiAffinity("webs", WEB), AntiAffinity("caches", Selector(labels={"app": "cache"}))),
                   pins=(Pin("keep", Selector(names=frozenset({"db-1"}))),
                         Pin("stale", Selector(labels={"app": "web", "tier": "edge"}))),
                   move_costs=MoveCosts(vms=(MoveFactor(Selector(labels={"big": "yes"}), 3),)))
    assert empty_selectors(CLUSTER, rules) == (
        EmptySelector("rules.anti_affinity[1].vms", "caches", "app=cache"),
        EmptySelector("rules.pin[1].vms", "stale", "app=web tier=edge"),
        EmptySelector("move_cost.vms[0].vms", "", "big=yes"),
    )


def test_a_selector_naming_an_unknown_vm_is_left_to_the_rules_error() -> None:
    rules = policy(pins=(Pin("ghost", Selector(names=frozenset({"nobody"}))),))
    assert empty_selectors(CLUSTER, rules) == ()


def _scenario(path: Path, rules: dict) -> Path:
    document = {"cluster": {"hosts": [{"name": h, "cpus": 8, "memory_mib": 16896} for h in "ab"],
                            "vms": [{"name": "web-1", "host": "a", "vcpus": 1, "memory_mib": 1024,
                                     "labels": {"app": "web"}},
                                    {"name": "web-2", "host": "a", "vcpus": 1, "memory_mib": 1024}]},
                "policy": {"rules": rules, "solver": {"time_limit_s": 2, "workers": 1}}}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


UNMATCHED = {"anti_affinity": [{"name": "dbs-apart", "vms": {"labels": {"app": "db"}}}]}


def test_plan_warns_about_a_rule_that_selects_no_vm_and_plans_anyway(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path / "s.yaml", UNMATCHED)
    result = CliRunner().invoke(cli, ["plan", "--scenario", str(scenario)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: {scenario}: policy.rules.anti_affinity[0].vms: rule 'dbs-apart' selects no VM of the cluster "
        f"(app=db) (an error with --strict)"]
    assert "Goal: spread" in result.stdout


def test_plan_strict_fails_on_it_naming_the_file_and_the_rule(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path / "s.yaml", UNMATCHED)
    result = CliRunner().invoke(cli, ["plan", "--scenario", str(scenario), "--strict"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {scenario}: policy.rules.anti_affinity[0].vms: rule 'dbs-apart' selects no VM of the cluster (app=db)"]


def test_a_policy_file_is_named_as_the_policy_file(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path / "s.yaml", {})
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump({"rules": {"pin": [{"name": "keep", "vms": {"labels": {"x": "y"}}}]}}))
    result = CliRunner().invoke(cli, ["plan", "--scenario", str(scenario), "--policy", str(policy_file), "--strict"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {policy_file}: rules.pin[0].vms: rule 'keep' selects no VM")


@pytest.mark.parametrize("rules", [
    {"anti_affinity": [{"name": "webs", "vms": {"labels": {"app": "web"}}}]},
    {"pin": [{"name": "keep", "vms": ["web-2"]}]},
])
def test_rules_that_select_a_vm_are_not_warned_about(tmp_path: Path, rules: dict) -> None:
    scenario = _scenario(tmp_path / "s.yaml", rules)
    result = CliRunner().invoke(cli, ["plan", "--scenario", str(scenario), "--strict"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_plan_from_a_snapshot_warns_too(tmp_path: Path) -> None:
    scenario = yaml.safe_load(_scenario(tmp_path / "s.yaml", {}).read_text())
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps(scenario["cluster"]), encoding="utf-8")
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump({"rules": UNMATCHED}), encoding="utf-8")
    result = CliRunner().invoke(cli, ["plan", "--snapshot", str(snapshot), "--policy", str(policy_file)])
    assert result.exit_code == 0, result.output
    assert "rules.anti_affinity[0].vms: rule 'dbs-apart' selects no VM" in result.stderr


@pytest.mark.solver
def test_run_logs_the_warning_and_fails_with_strict_before_anything_moves(tmp_path: Path) -> None:
    snapshot = tmp_path / "cluster.yaml"
    snapshot.write_text(yaml.safe_dump(yaml.safe_load(_scenario(tmp_path / "s.yaml", {}).read_text())["cluster"]))
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump({"rules": UNMATCHED}), encoding="utf-8")
    before = snapshot.read_text()
    common = ["run", "--inventory", snapshot, "--policy", policy_file, "--time-limit", "2", "--workers", "1"]

    strict = invoke(*common, "--state-dir", tmp_path / "strict", "--strict")

    assert strict.exit_code == 2
    assert f"{policy_file}: rules.anti_affinity[0].vms: rule 'dbs-apart' selects no VM" in strict.stderr
    assert snapshot.read_text() == before  # nothing moved

    lenient = invoke(*common, "--state-dir", tmp_path / "lenient")

    assert lenient.exit_code == 0, lenient.stderr
    assert "selects no VM of the cluster (app=db) (an error with --strict)" in lenient.stderr
