"""Small builders for clusters and policies in tests, with defaults that keep each test short."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from planner.domain.model import VM, Cluster, Host
from planner.domain.plan import Plan
from planner.solver.planning import make_plan
from planner.domain.policy import Goal, Policy, SolverSettings
from planner.rules.resolve import resolve_rules
from planner.check.validate import validate_placement

FAST = SolverSettings(time_limit_s=5.0, workers=2, seed=1)


def host(name: str, cpus: int = 8, memory_mib: int = 16384 + 512, **extra: Any) -> Host:
    """A host with 16 GiB usable memory and 32 usable vCPUs by default."""
    return Host(name=name, cpus=cpus, memory_mib=memory_mib, **extra)


def hosts(*names: str, gib: int = 16, cpus: int = 8) -> list[Host]:
    """Hosts of `gib` GiB usable memory each (the builder's 512 MiB reserve on top)."""
    return [host(name, cpus=cpus, memory_mib=gib * 1024 + 512) for name in names]


def vm(name: str, on: str, vcpus: int = 1, memory_mib: int = 1024, load: int = 100, **extra: Any) -> VM:
    return VM(name=name, host=on, vcpus=vcpus, memory_mib=memory_mib, cpu_load_millicores=load, **extra)


def cluster(hosts: list[Host], vms: list[VM]) -> Cluster:
    return Cluster(tuple(hosts), tuple(vms))


def policy(goal: Goal = Goal.SPREAD, **fields: Any) -> Policy:
    fields.setdefault("solver", FAST)
    return replace(Policy(goal=goal), **fields)


def plan_for(clu: Cluster, pol: Policy) -> Plan:
    """Plan, and insist the independent validator accepts the result."""
    plan = make_plan(resolve_rules(clu, pol))
    violations = validate_placement(clu, pol, plan.target_placement)
    assert violations == [], violations
    return plan


def where(plan: Plan) -> dict[str, str]:
    return plan.target_placement
