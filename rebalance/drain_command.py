"""`rebalance drain`: cordon hosts, move every VM off them as `apply` would, check they are empty."""

from __future__ import annotations

from pathlib import Path

import click

from executor.config import load_config
from cluster.demand_measure import Measuring
from operations import cluster_access
from operations import drain as steps
from operations.history import DEFAULT_STATE_DIR
from operations.trusted_cluster import DEFAULT_INVENTORY
from planner.domain.checks import check_name
from planner.domain.errors import InfeasibleError
from planner.domain.policy import Policy
from planner.formats.scenario import load_policy
from rebalance import option_types as types
from rebalance.executor_options import executor_options
from rebalance.apply_command import EXIT_FAILED, ApplySettings
from rebalance.drain_flow import DrainOutcome, DrainRequest, DrainResult, drain_hosts

POLICIES = [p.value for p in steps.UnmigratablePolicy]


@click.command()
@click.argument("hosts", nargs=-1, required=True, metavar="HOST...")
@click.option("--inventory", "inventory_path", metavar="FILE", default=DEFAULT_INVENTORY, show_default=True,
              envvar="REBALANCE_INVENTORY", help="The trusted inventory: the cluster to measure and migrate in.")
@click.option("--policy", "policy_path", metavar="FILE", help="Policy file (YAML): rules, headroom, pins.")
@click.option("--state-dir", default=DEFAULT_STATE_DIR, show_default=True, envvar="REBALANCE_STATE_DIR",
              help="Where the cordon is recorded, the demand history read, and the plan and its journal kept "
                   "(drains/<UTC time>/plan.json).")
@click.option("--dry-run", is_flag=True, help="Measure and print the plan; cordon, record and move nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation before migrating.")
@click.option("--unmigratable", type=click.Choice(POLICIES), default="fail", show_default=True,
              help="VMs on the hosts that cannot live-migrate: fail (list them, move nothing), skip (drain the "
                   "rest, report them), shutdown (power them off where they are, then drain the rest).")
@click.option("--shutdown-timeout", type=types.HOST_TIMEOUT_S, default=300.0, show_default=True,
              help="With --unmigratable shutdown: seconds a guest may take to power off (never forced).")
@click.option("--time-limit", type=types.SOLVER_SECONDS, help="Wall-clock seconds the solver may use.")
@executor_options
@click.option("--skip-unreachable", is_flag=True,
              help="Plan without the hosts that do not answer (never one of the hosts to drain).")
def drain(hosts: tuple[str, ...], inventory_path: str, policy_path: str | None, state_dir: str, dry_run: bool,
          yes: bool, unmigratable: str, shutdown_timeout: float, time_limit: float | None, max_parallel: int | None,
          per_host: int | None, config_path: str | None, allow_insecure: bool, skip_unreachable: bool) -> None:
    """Empty hosts for maintenance: cordon them, plan their VMs away, apply, check nothing is left.

    The plan moves only the drained hosts' VMs, with the least memory moved; it runs as `rebalance
    apply` runs a plan (journal, cluster lock, limits, prompt), from STATE_DIR/drains/<time>/plan.json:
    `rebalance apply` on that file resumes an interrupted drain, and so does running drain again.
    VMs that cannot live-migrate (local disks, host devices, Nova-managed, shut off, pinned by the
    policy) are listed before anything moves. The hosts stay cordoned until `rebalance uncordon`.

    \b
    rebalance drain lab-a --inventory hosts.yaml --dry-run
    rebalance drain lab-a lab-b --inventory hosts.yaml --yes
    rebalance drain lab-a --inventory hosts.yaml --unmigratable skip --per-host 2

    \b
    Exit codes: 0 the hosts hold no domain (with skip or shutdown: none but those, left defined
    there), 1 unmigratable VMs (fail, or Nova's with shutdown), a guest that did not power off, no
    feasible plan, a migration failed or a domain is still there, 2 bad input or a plan the
    cluster drifted from.
    """
    names = [check_name(name, "HOST") for name in hosts]
    mode = steps.UnmigratablePolicy(unmigratable)
    config = load_config(config_path).with_limits(max_parallel, per_host)
    policy = (load_policy(policy_path), policy_path) if policy_path else (Policy(), "<defaults>")
    site = cluster_access.drain_site(inventory_path, Measuring(Path(state_dir), skip_unreachable=skip_unreachable),
                                     allow_insecure)
    steps.check_hosts(site.host_names(), names, inventory_path)
    if not dry_run:
        for made in steps.cordon_hosts(state_dir, names):
            click.echo(f"{made.host}: {made.describe()}")
    request = DrainRequest(tuple(names), *policy, state_dir, config,
                           ApplySettings(inventory_path, state_dir, allow_insecure, yes), mode, time_limit,
                           shutdown_timeout_s=shutdown_timeout)
    try:
        result = drain_hosts(site, request, dry_run)
    except InfeasibleError:
        if not dry_run:
            click.echo(f"{_stay(names)} cordoned (uncordon with: rebalance uncordon {' '.join(names)}).", err=True)
        raise
    _conclude(result, names, dry_run)


def _conclude(result: DrainResult, names: list[str], dry_run: bool) -> None:
    """What the outcome means for the operator: the exit code and how to go on."""
    kept = f"{_stay(names)} cordoned"
    if result.outcome is DrainOutcome.DRY_RUN:
        click.echo("\nDry run: nothing cordoned, recorded or moved.")
        return
    if result.outcome is DrainOutcome.DRAINED:
        return
    if result.outcome is DrainOutcome.REFUSED:
        undo = "" if dry_run else f" {kept} (uncordon with: rebalance uncordon {' '.join(names)})."
        click.echo(f"Move or shut them down yourself, or drain the rest with --unmigratable skip.{undo}", err=True)
    elif result.outcome is DrainOutcome.FAILED:
        click.echo(f"{kept}; run `rebalance apply {result.plan_file}` to resume, or drain again.")
    elif result.outcome is DrainOutcome.NOT_POWERED_OFF:
        click.echo(f"{kept}; shut that guest down yourself, then drain again (guests already off stay off).",
                   err=True)
    else:
        click.echo(f"{kept}; drain again once those are gone.", err=True)
    click.get_current_context().exit(EXIT_FAILED)


def _stay(names: list[str]) -> str:
    return f"{', '.join(names)} {'stays' if len(names) == 1 else 'stay'}"
