"""Where a planning run's cluster and policy come from, so errors can point back at the right file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from planner.domain.errors import InputError
from planner.domain.model import Cluster
from planner.domain.policy import Goal, Policy
from planner.rules.empty_selectors import empty_selectors
from planner.rules.resolve import RuleSet, resolve_rules
from planner.formats.scenario import load_cluster, load_policy, load_scenario


@dataclass(frozen=True)
class PlanningInput:
    cluster: Cluster
    policy: Policy
    # Where the policy was read from, and the prefix of its fields there ("policy" inside a scenario).
    policy_source: str = "<defaults>"
    policy_prefix: str = ""

    def resolve(self) -> RuleSet:
        """The policy applied to the cluster; rule errors name the policy file and field."""
        try:
            return resolve_rules(self.cluster, self.policy)
        except InputError as error:
            raise self._located(error) from None

    def unmatched_rules(self) -> tuple[InputError, ...]:
        """Each rule whose VM selector matches no VM, as an error naming the policy file and field:
        the command warns with it, or raises it under --strict."""
        return tuple(self._located(InputError(empty.field, empty.message))
                     for empty in empty_selectors(self.cluster, self.policy))

    def _located(self, error: InputError) -> InputError:
        located = error.within(self.policy_prefix) if self.policy_prefix else error
        return located.in_file(self.policy_source)


def load_planning_input(scenario: str | Path | None, snapshot: str | Path | None,
                        policy: str | Path | None) -> PlanningInput:
    if scenario and snapshot:
        raise InputError("--snapshot", "give a scenario or a snapshot, not both")
    if scenario:
        loaded = load_scenario(scenario)
        if policy:
            return PlanningInput(loaded.cluster, load_policy(policy), str(policy))
        return PlanningInput(loaded.cluster, loaded.policy, str(scenario), "policy")
    if snapshot:
        cluster = load_cluster(snapshot)
        if policy:
            return PlanningInput(cluster, load_policy(policy), str(policy))
        return PlanningInput(cluster, Policy())
    raise InputError("--scenario", "say what to plan: --scenario FILE, or --snapshot FILE [--policy FILE]")


def with_overrides(planning: PlanningInput, goal: Goal | None = None, drain: Iterable[str] = (),
                   max_moves: int | None = None, time_limit_s: float | None = None,
                   seed: int | None = None, workers: int | None = None) -> PlanningInput:
    """Command-line options win over the policy file; `--drain` implies the drain goal."""
    drain = frozenset(drain)
    for name in sorted(drain):
        if name not in planning.cluster.host_by_name:
            raise InputError("--drain", f"unknown host {name!r}")
    policy = planning.policy
    if drain:
        policy = replace(policy, drain_hosts=policy.drain_hosts | drain, goal=goal or Goal.DRAIN)
    if goal:
        policy = replace(policy, goal=goal)
    if max_moves is not None:
        policy = replace(policy, limits=replace(policy.limits, max_moves=max_moves))
    solver = policy.solver
    if time_limit_s is not None:
        solver = replace(solver, time_limit_s=time_limit_s)
    if seed is not None:
        solver = replace(solver, seed=seed)
    if workers is not None:
        solver = replace(solver, workers=workers)
    return replace(planning, policy=replace(policy, solver=solver))
