"""Draining cordoned hosts, as `drain` and `maintain` both do: survey, refuse or set aside what
cannot live-migrate, plan with the drain goal, apply as `apply` does, check nothing is left.

The caller cordons the hosts first and says afterwards what the outcome means for the operator
(exit code, how to resume); this flow prints the plan, the migrations and what it found.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, replace
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


SETTLE_S = 120.0
SETTLE_POLL_S = 2.0


class DrainOutcome(enum.Enum):
    DRAINED = "drained"  # no domain left on the hosts (skipped unmigratable ones excepted)
    REFUSED = "refused"  # unmigratable VMs with --unmigratable fail: nothing moved
    DRY_RUN = "dry-run"  # planned and printed only
    FAILED = "failed"  # a migration failed or the run was stopped: resume from plan_file
    NOT_POWERED_OFF = "not-powered-off"  # --unmigratable shutdown: a guest did not power off; nothing migrated
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
    shutdown_timeout_s: float = 300.0  # --unmigratable shutdown: how long a guest may take to power off


@dataclass(frozen=True)
class DrainResult:
    outcome: DrainOutcome
    plan: Plan | None = None
    plan_file: Path | None = None
    powered_off: tuple[steps.Stuck, ...] = ()  # guests this drain shut down (they stay defined there)


def drain_hosts(site: cluster_access.DrainSite, request: DrainRequest, dry_run: bool = False) -> DrainResult:
    """Raises InfeasibleError when no plan empties the hosts (the hosts stay as they are)."""
    surveyed = _settled_survey(site, request)
    for warning in surveyed.warnings:
        click.echo(f"warning: {warning}", err=True)
    stuck = surveyed.stuck
    if stuck and request.mode is steps.UnmigratablePolicy.FAIL:
        _list_stuck(stuck)
        return DrainResult(DrainOutcome.REFUSED)
    to_power_off: tuple[steps.Stuck, ...] = ()
    if stuck and request.mode is steps.UnmigratablePolicy.SHUTDOWN:
        refused = tuple((item, why) for item in stuck if (why := steps.shutdown_refusal(item)))
        if refused:
            _list_unstoppable(refused)
            return DrainResult(DrainOutcome.REFUSED)
        to_power_off = tuple(item for item in stuck if steps.needs_power_off(item))
        problem = "" if dry_run else _power_off(site, to_power_off, request.shutdown_timeout_s)
        if problem:
            return DrainResult(DrainOutcome.NOT_POWERED_OFF)
    for line in surveyed.lines:
        click.echo(line)
    plan, unmatched = steps.drain_plan(surveyed, request.hosts, request.time_limit_s)
    for warning in unmatched:
        click.echo(warning, err=True)
    click.echo(render_plan(plan) + (f"\n\n{schedule_summary(plan)}" if plan.moves else ""))
    for item in stuck:
        click.echo(f"left (unmigratable, {_how_left(item in to_power_off, request.mode, dry_run)}): "
                   f"{item.describe()}")
    if dry_run:
        return DrainResult(DrainOutcome.DRY_RUN, plan)
    plan_file = None
    if plan.moves:
        plan_file = steps.drain_plan_path(request.state_dir)
        write_plan(plan, plan_file)
        click.echo(f"\nPlan written to {plan_file}")
        report = apply_saved_plan(plan, str(plan_file), request.config, request.apply, lock_held=request.lock_held)
        if report is not None and not report.ok:
            return DrainResult(DrainOutcome.FAILED, plan, plan_file, to_power_off)
    return replace(_verified(site, request.hosts, stuck, plan, plan_file), powered_off=to_power_off)


def _list_stuck(stuck: tuple[steps.Stuck, ...]) -> None:
    click.echo(f"{len(stuck)} VM{'s' if len(stuck) != 1 else ''} cannot live-migrate; nothing was moved:", err=True)
    for item in stuck:
        click.echo(f"  {item.describe()}", err=True)


def _settled_survey(site: cluster_access.DrainSite, request: DrainRequest) -> steps.Survey:
    """The survey once no migration of the hosts' VMs is under way: one a crashed run left to
    libvirt ends on one host or the other within seconds, and the drain plans from there rather
    than counting that VM as one that cannot leave. Given up after SETTLE_S (then it is listed)."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        surveyed = steps.survey(site, request.hosts, request.policy, request.policy_source, request.state_dir)
        moving = [item.vm for item in surveyed.stuck if steps.in_flight(item)]
        if not moving or time.monotonic() >= deadline:
            return surveyed
        click.echo(f"waiting for migrations under way to end: {', '.join(moving)}")
        time.sleep(SETTLE_POLL_S)


def _how_left(powered_off: bool, mode: steps.UnmigratablePolicy, dry_run: bool) -> str:
    if powered_off:
        return "to be powered off" if dry_run else "powered off"
    return "skipped" if mode is steps.UnmigratablePolicy.SKIP else "already shut off"


def _list_unstoppable(refused: tuple[tuple[steps.Stuck, str], ...]) -> None:
    click.echo(f"{len(refused)} VM{'s' if len(refused) != 1 else ''} can neither live-migrate nor be shut down "
               f"here; nothing was moved:", err=True)
    for item, why in refused:
        click.echo(f"  {item.vm} on {item.host}: {why}", err=True)


def _power_off(site: cluster_access.DrainSite, guests: tuple[steps.Stuck, ...], timeout_s: float) -> str:
    """Each guest asked to shut down, one after the other; the first that does not stops the drain
    before anything migrates (the ones already off stay off)."""
    for item in guests:
        click.echo(f"shutting down {item.vm} on {item.host} ({item.reason})")
        problem = site.power_off(item.host, item.vm, timeout_s)
        if problem:
            click.echo(f"{item.vm} on {item.host}: {problem}; nothing was migrated", err=True)
            return problem
        click.echo(f"{item.vm} is off (still defined on {item.host})")
    return ""


def _verified(site: cluster_access.DrainSite, hosts: tuple[str, ...], stuck: tuple[steps.Stuck, ...], plan: Plan,
              plan_file: Path | None) -> DrainResult:
    remaining = steps.leftovers(site.defined_on(hosts), stuck)
    for host, domains in remaining.items():
        click.echo(f"{host} is not empty: still defined there: {', '.join(domains)}", err=True)
    if remaining:
        return DrainResult(DrainOutcome.NOT_EMPTY, plan, plan_file)
    click.echo(steps.summary(hosts, plan, stuck))
    return DrainResult(DrainOutcome.DRAINED, plan, plan_file)
