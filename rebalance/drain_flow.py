"""Draining cordoned hosts, as `drain` and `maintain` both do: survey, refuse or set aside what
cannot live-migrate, plan with the drain goal, apply as `apply` does, check nothing is left.

The caller cordons the hosts first and says afterwards what the outcome means for the operator
(exit code, how to resume); this flow prints the plan, the migrations and what it found.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import click

from executor.config import ExecutorConfig
from operations import cluster_access
from operations import drain as steps
from planner.domain.plan import Plan
from planner.domain.policy import Policy
from planner.formats.plan_io import write_plan
from rebalance.apply_command import ApplySettings, apply_saved_plan
from rebalance.render import render_plan
from rebalance.schedule_summary import schedule_summary


class DrainOutcome(enum.Enum):
    DRAINED = "drained"  # no domain left on the hosts (skipped unmigratable ones excepted)
    REFUSED = "refused"  # unmigratable VMs with --unmigratable fail: nothing moved
    DRY_RUN = "dry-run"  # planned and printed only
    FAILED = "failed"  # a migration failed or the run was stopped: resume from plan_file
    NOT_EMPTY = "not-empty"  # the plan ran but domains are still defined there


@dataclass(frozen=True)
class DrainRequest:
    hosts: tuple[str, ...]
    policy: Policy
    policy_source: str
    state_dir: str
    config: ExecutorConfig
    apply: ApplySettings
    mode: steps.UnmigratablePolicy = steps.UnmigratablePolicy.FAIL
    time_limit_s: float | None = None
    lock_held: bool = False  # the caller (maintain) holds the cluster lock for its whole run


@dataclass(frozen=True)
class DrainResult:
    outcome: DrainOutcome
    plan: Plan | None = None
    plan_file: Path | None = None


def drain_hosts(site: cluster_access.DrainSite, request: DrainRequest, dry_run: bool = False) -> DrainResult:
    """Raises InfeasibleError when no plan empties the hosts (the hosts stay as they are)."""
    surveyed = steps.survey(site, request.hosts, request.policy, request.policy_source, request.state_dir)
    for warning in surveyed.warnings:
        click.echo(f"warning: {warning}", err=True)
    stuck = surveyed.stuck
    if stuck and request.mode is steps.UnmigratablePolicy.FAIL:
        _list_stuck(stuck)
        return DrainResult(DrainOutcome.REFUSED)
    for line in surveyed.lines:
        click.echo(line)
    plan, unmatched = steps.drain_plan(surveyed, request.hosts, request.time_limit_s)
    for warning in unmatched:
        click.echo(warning, err=True)
    click.echo(render_plan(plan) + (f"\n\n{schedule_summary(plan)}" if plan.moves else ""))
    for item in stuck:
        click.echo(f"left (unmigratable, skipped): {item.describe()}")
    if dry_run:
        return DrainResult(DrainOutcome.DRY_RUN, plan)
    plan_file = None
    if plan.moves:
        plan_file = steps.drain_plan_path(request.state_dir)
        write_plan(plan, plan_file)
        click.echo(f"\nPlan written to {plan_file}")
        report = apply_saved_plan(plan, str(plan_file), request.config, request.apply, lock_held=request.lock_held)
        if report is not None and not report.ok:
            return DrainResult(DrainOutcome.FAILED, plan, plan_file)
    return _verified(site, request.hosts, stuck, plan, plan_file)


def _list_stuck(stuck: tuple[steps.Stuck, ...]) -> None:
    click.echo(f"{len(stuck)} VM{'s' if len(stuck) != 1 else ''} cannot live-migrate; nothing was moved:", err=True)
    for item in stuck:
        click.echo(f"  {item.describe()}", err=True)


def _verified(site: cluster_access.DrainSite, hosts: tuple[str, ...], stuck: tuple[steps.Stuck, ...], plan: Plan,
              plan_file: Path | None) -> DrainResult:
    remaining = steps.leftovers(site.defined_on(hosts), stuck)
    for host, domains in remaining.items():
        click.echo(f"{host} is not empty: still defined there: {', '.join(domains)}", err=True)
    if remaining:
        return DrainResult(DrainOutcome.NOT_EMPTY, plan, plan_file)
    click.echo(steps.summary(hosts, plan, stuck))
    return DrainResult(DrainOutcome.DRAINED, plan, plan_file)
