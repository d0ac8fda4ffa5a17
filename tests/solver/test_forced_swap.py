"""Host groups that force VMs to trade places: the greedy repair cannot move either first (the
other's host is full), but the final placement fits, so the planner must still find it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.check.validate import validate_placement
from planner.domain.errors import InfeasibleError
from planner.domain.policy import HostGroup, Selector
from planner.rules.resolve import resolve_rules
from planner.solver.planning import make_plan
from rebalance.cli import cli
from tests.builders import cluster, host, policy, vm

SMALL = 8192 + 512  # 8 GiB usable


def only_on(name: str, *hosts: str) -> HostGroup:
    return HostGroup(f"{name}-only", Selector(names=frozenset({name})), Selector(names=frozenset(hosts)))


def test_two_vms_forced_to_swap_are_planned() -> None:
    clu = cluster([host("a", memory_mib=SMALL), host("b", memory_mib=SMALL)],
                  [vm("x", "a", memory_mib=6144), vm("y", "b", memory_mib=6144)])
    pol = policy(host_groups=(only_on("x", "b"), only_on("y", "a")))
    plan = make_plan(resolve_rules(clu, pol), fallback=False)
    assert plan.target_placement == {"x": "b", "y": "a"}
    assert validate_placement(clu, pol, plan.target_placement) == []
    assert any("greedy repair found no placement" in note for note in plan.notes)


def test_three_vms_forced_to_rotate_are_planned_by_cp_sat() -> None:
    # Each host holds one 6 GiB VM and has room for one; no VM may stay, each may take either other host.
    clu = cluster([host(n, memory_mib=SMALL) for n in "abc"],
                  [vm("x", "a", memory_mib=6144), vm("y", "b", memory_mib=6144), vm("z", "c", memory_mib=6144)])
    pol = policy(host_groups=(only_on("x", "b", "c"), only_on("y", "a", "c"), only_on("z", "a", "b")))
    plan = make_plan(resolve_rules(clu, pol), fallback=False)
    where = plan.target_placement
    assert plan.solver.method == "cp-sat"
    assert sorted(where.values()) == ["a", "b", "c"]
    assert all(where[name] != start for name, start in (("x", "a"), ("y", "b"), ("z", "c")))
    assert validate_placement(clu, pol, where) == []


def test_a_swap_that_does_not_fit_stays_infeasible_with_the_greedy_reason() -> None:
    clu = cluster([host("a", memory_mib=SMALL), host("b", memory_mib=SMALL)],
                  [vm("x", "a", memory_mib=7168), vm("y", "b", memory_mib=5120), vm("z", "b", memory_mib=2048)])
    pol = policy(host_groups=(only_on("x", "b"), only_on("y", "a"), only_on("z", "b")))
    with pytest.raises(InfeasibleError, match="cannot place VM x"):
        make_plan(resolve_rules(clu, pol))


SCENARIO = """\
description: x and y must trade hosts; each host has room for one of them
cluster:
  hosts:
    - {name: a, cpus: 4, memory_mib: 8704}
    - {name: b, cpus: 4, memory_mib: 8704}
  vms:
    - {name: x, host: a, vcpus: 1, memory_mib: 6144, cpu_load_millicores: 500}
    - {name: y, host: b, vcpus: 1, memory_mib: 6144, cpu_load_millicores: 500}
policy:
  goal: spread
  rules:
    host_groups:
      - {name: x-on-b, vms: [x], hosts: [b]}
      - {name: y-on-a, vms: [y], hosts: [a]}
  solver: {time_limit_s: 2, seed: 1}
"""


def test_plan_command_plans_the_forced_swap(tmp_path: Path) -> None:
    scenario = tmp_path / "forced-swap.yaml"
    scenario.write_text(SCENARIO)
    result = CliRunner().invoke(cli, ["plan", "--scenario", str(scenario), "-o", str(tmp_path / "plan.json")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[1:4] == ["x", "a", "b"] for line in lines), result.output
    assert any(line.split()[1:4] == ["y", "b", "a"] for line in lines), result.output
