"""`rebalance maintain`: rolling maintenance, host by host (or N at once), journaled and resumable."""

from __future__ import annotations

from pathlib import Path

import click

from cluster.demand_measure import Measuring
from cluster.doctor_run import run_doctor
from cluster.host_health import doctor_failures
from cluster.inventory import load_inventory
from executor.config import load_config
from executor.lock import ClusterLock
from executor.preview import clock
from operations import cluster_access
from operations import drain as drain_steps
from operations.history import DEFAULT_STATE_DIR
from operations.maintenance import remaining_hosts, run_maintenance
from operations.maintenance_hook import hook_argv
from operations.maintenance_journal import (
    MaintenanceJournal,
    Phase,
    RunDefinition,
    new_run_dir,
    read_definition,
    unfinished_run,
    write_definition,
)
from operations.maintenance_sequence import MaintenanceSequence, plan_sequence
from operations.trusted_cluster import DEFAULT_INVENTORY
from planner.domain.checks import check_name
from planner.domain.errors import InputError
from planner.domain.policy import Policy
from planner.formats.scenario import load_policy
from rebalance import option_types as types
from rebalance.executor_options import executor_options
from rebalance.apply_command import EXIT_FAILED, ApplySettings
from rebalance.drain_flow import DrainRequest
from rebalance.maintain_site import LiveMaintenanceSite

POLICIES = [p.value for p in drain_steps.UnmigratablePolicy]
DOCTOR_TIMEOUT_S = 10.0


@click.command()
@click.argument("hosts", nargs=-1, required=True, metavar="HOST...")
@click.option("--hook", required=True, metavar="'CMD {host}'",
              help="Run on each host once it is empty, e.g. an upgrade and reboot; {host} is replaced by the "
                   "host's name. Run without a shell (write sh -c '...' for one); a non-zero exit stops the run.")
@click.option("--inventory", "inventory_path", metavar="FILE", default=DEFAULT_INVENTORY, show_default=True,
              envvar="REBALANCE_INVENTORY", help="The trusted inventory: the cluster to measure and migrate in.")
@click.option("--policy", "policy_path", metavar="FILE", help="Policy file (YAML): rules, headroom, pins.")
@click.option("--state-dir", default=DEFAULT_STATE_DIR, show_default=True, envvar="REBALANCE_STATE_DIR",
              help="Where cordons, drain plans and the maintenance journal (maintenance/<UTC time>/) are kept.")
@click.option("--parallel", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Hosts taken out at once.")
@click.option("--return", "returning", is_flag=True,
              help="After a host is back, move its original VMs back to it where they still fit.")
@click.option("--keep-order", is_flag=True, help="Maintain the hosts in the order given (default: least memory "
                                                  "to move first).")
@click.option("--health-timeout", type=types.HOST_TIMEOUT_S, default=600.0, show_default=True,
              help="Seconds to wait for a host to come back healthy after its hook.")
@click.option("--hook-timeout", type=click.FloatRange(1.0, 86_400.0), default=3600.0, show_default=True,
              help="Seconds a hook may run before it is killed (and the run stops).")
@click.option("--expect-reboot", is_flag=True,
              help="The hook reboots the host: its boot id (read through the inventory's exec) must change.")
@click.option("--unmigratable", type=click.Choice(POLICIES), default="fail", show_default=True,
              help="VMs that cannot live-migrate: fail (list them, move nothing), skip (they stay on their host "
                   "through its hook) or shutdown (powered off for the hook, started again before the uncordon).")
@click.option("--shutdown-timeout", type=types.HOST_TIMEOUT_S, default=300.0, show_default=True,
              help="With --unmigratable shutdown: seconds a guest may take to power off (never forced).")
@click.option("--restart", is_flag=True, help="Abandon an unfinished maintenance run and start a new one.")
@click.option("--dry-run", is_flag=True, help="Check the sequence, print the order and the estimate; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--time-limit", type=types.SOLVER_SECONDS, help="Wall-clock seconds each drain plan may take.")
@executor_options
def maintain(hosts: tuple[str, ...], hook: str, inventory_path: str, policy_path: str | None, state_dir: str,
             parallel: int, returning: bool, keep_order: bool, health_timeout: float, hook_timeout: float,
             expect_reboot: bool, unmigratable: str, shutdown_timeout: float, restart: bool, dry_run: bool, yes: bool,
             time_limit: float | None, max_parallel: int | None, per_host: int | None, config_path: str | None,
             allow_insecure: bool) -> None:
    """Rolling maintenance: for each host (or --parallel N at once) cordon, drain, run the hook,
    wait until it is back and healthy, uncordon, and with --return give its VMs back.

    Before anything moves, the whole sequence is checked: with each group out, every VM must fit
    the other hosts within the policy's headroom and rules (else refused, naming the host and the
    shortfall); the order and the expected migration time are printed. Every phase is journaled
    under STATE_DIR/maintenance/: running the same command again after a failure or a crash
    continues where it stopped, and never runs a hook recorded as done again (--restart starts
    over). The cluster lock is held throughout, so `rebalance run` does not start meanwhile.

    \b
    rebalance maintain lab-a lab-b lab-c --hook 'ssh root@{host} "apt-get -y upgrade && reboot"' \\
        --expect-reboot --return --dry-run
    rebalance maintain lab-a lab-b --hook '/usr/local/sbin/patch-host {host}' --parallel 2 --yes

    \b
    Exit codes: 0 every host done and uncordoned, 1 the sequence does not fit, or a drain, hook or
    health wait failed (the run stops there, that host stays cordoned; run again to resume), 2 bad
    input or an unfinished run of other hosts.
    """
    names = [check_name(name, "HOST") for name in hosts]
    if len(set(names)) != len(names):
        raise InputError("HOST", "a host is named twice")
    hook_argv(hook, names[0])  # a template that does not parse is refused before anything is measured
    config = load_config(config_path).with_limits(max_parallel, per_host)
    policy, policy_source = (load_policy(policy_path), policy_path) if policy_path else (Policy(), "<defaults>")
    # Measurements go into the demand history, as `run`'s do: the first one samples long enough to
    # plan from, the drains and returns after it plan from the history with a short sample.
    site = cluster_access.drain_site(inventory_path, Measuring(Path(state_dir), record=True), allow_insecure)
    drain_steps.check_hosts(site.host_names(), names, inventory_path, at_once=parallel)
    request = DrainRequest(tuple(names), policy, policy_source, state_dir, config,
                           ApplySettings(inventory_path, state_dir, allow_insecure, yes=True),
                           drain_steps.UnmigratablePolicy(unmigratable), time_limit, lock_held=True,
                           shutdown_timeout_s=shutdown_timeout)
    previous = unfinished_run(state_dir)
    if previous is not None:
        definition = read_definition(previous)
        if not restart:
            _check_same(previous, definition, names, hook, returning, parallel)
    if dry_run:
        _dry_run(site, request, names, parallel, returning, keep_order, previous if not restart else None)
        return
    with ClusterLock(site.host_names(), config.lock_dir or None, state_dir):
        if previous is not None and not restart:
            click.echo(f"Resuming the maintenance run in {previous}: "
                       f"{' '.join(remaining_hosts(definition, previous))} left")
            _run(previous, definition, site, request, inventory_path, resumed=True)
            return
        sequence = _checked_sequence(site, request, names, parallel, returning, keep_order)
        if not yes:
            click.confirm(f"Maintain {len(names)} host{'s' if len(names) != 1 else ''}, about "
                          f"{clock(sequence.estimate_s())} of migrations plus the hooks?", abort=True, err=True)
        if previous is not None:
            _abandon(previous)
        definition = RunDefinition(tuple(names), tuple(s.hosts for s in sequence.steps), hook, returning,
                                   expect_reboot, health_timeout, hook_timeout,
                                   doctor_failures(run_doctor(load_inventory(inventory_path), DOCTOR_TIMEOUT_S)))
        run_dir = new_run_dir(state_dir)
        write_definition(run_dir, definition)
        _run(run_dir, definition, site, request, inventory_path, resumed=False)


def _dry_run(site: cluster_access.DrainSite, request: DrainRequest, names: list[str], parallel: int,
             returning: bool, keep_order: bool, unfinished: Path | None) -> None:
    if unfinished is not None:
        definition = read_definition(unfinished)
        click.echo(f"An unfinished maintenance run is in {unfinished}: running the command without --dry-run "
                   f"resumes it ({' '.join(remaining_hosts(definition, unfinished))} left).")
        return
    _checked_sequence(site, request, names, parallel, returning, keep_order)
    click.echo("\nDry run: nothing cordoned, recorded or moved.")


def _check_same(run_dir: Path, definition: RunDefinition, names: list[str], hook: str, returning: bool,
                parallel: int) -> None:
    if not definition.same_request(names, hook, returning, parallel):
        raise InputError("HOST", f"an unfinished maintenance run of {' '.join(definition.hosts)} is in {run_dir}: "
                                 f"run it again with the same hosts, --hook, --parallel and --return to resume it, "
                                 f"or add --restart to abandon it")


def _abandon(run_dir: Path) -> None:
    with MaintenanceJournal(run_dir) as journal:
        journal.record(Phase.RUN_FINISHED, detail="abandoned: a new run was started with --restart")
    click.echo(f"Abandoned the unfinished maintenance run in {run_dir} (its hosts keep their cordons).")


def _checked_sequence(site: cluster_access.DrainSite, request: DrainRequest, names: list[str], parallel: int,
                      returning: bool, keep_order: bool) -> MaintenanceSequence:
    """The N+1 check over the whole sequence, before anything is cordoned or moved."""
    surveyed = drain_steps.survey(site, names, request.policy, request.policy_source, request.state_dir)
    for warning in surveyed.warnings:
        click.echo(f"warning: {warning}", err=True)
    _refuse_unmovable(surveyed.stuck, request.mode)
    for line in surveyed.lines:
        click.echo(line)
    sequence = plan_sequence(surveyed.planning, names, parallel, returning, request.config.limits,
                             request.time_limit_s, keep_order, surveyed.stuck)
    click.echo(sequence.order_reason)
    for number, step in enumerate(sequence.steps, start=1):
        back = f", {clock(step.return_estimate_s)} back" if returning and step.return_estimate_s else ""
        click.echo(f"  {number}. {', '.join(step.hosts)}: {step.vms} VM{'s' if step.vms != 1 else ''} "
                   f"({step.memory_mib} MiB) out, about {clock(step.estimate_s)}{back}")
    click.echo(f"Expected: about {clock(sequence.estimate_s())} of live migrations, plus the hooks and the "
               f"health checks.")
    return sequence


def _refuse_unmovable(stuck: tuple[drain_steps.Stuck, ...], mode: drain_steps.UnmigratablePolicy) -> None:
    """VMs that cannot leave, listed before anything moves: all of them with fail, the ones
    rebalance may not power off (Nova's, mid-migration) with shutdown; exit 1."""
    if mode is drain_steps.UnmigratablePolicy.SHUTDOWN:
        listed = [(item, why) for item in stuck if (why := drain_steps.shutdown_refusal(item))]
        for item in stuck:
            if not drain_steps.shutdown_refusal(item) and drain_steps.needs_power_off(item):
                click.echo(f"to power off for its host's hook: {item.describe()}")
    elif mode is drain_steps.UnmigratablePolicy.FAIL:
        listed = [(item, item.reason) for item in stuck]
    else:
        listed = []
    if not listed:
        return
    click.echo(f"{len(listed)} VM{'s' if len(listed) != 1 else ''} cannot leave their host; nothing was moved:",
               err=True)
    for item, why in listed:
        click.echo(f"  {item.vm} on {item.host} ({item.memory_mib} MiB): {why}", err=True)
    click.echo("Move or shut them down yourself, or keep them on their hosts with --unmigratable skip.", err=True)
    click.get_current_context().exit(EXIT_FAILED)


def _run(run_dir: Path, definition: RunDefinition, site: cluster_access.DrainSite, request: DrainRequest,
         inventory_path: str, resumed: bool) -> None:
    live = LiveMaintenanceSite(site, load_inventory(inventory_path), definition, request, run_dir)
    stopped = run_maintenance(run_dir, definition, live, request.state_dir, click.echo, resumed)
    if stopped is None:
        click.echo(f"Maintenance done: {' '.join(h for g in definition.groups for h in g)} "
                   f"(journal {run_dir / 'journal.jsonl'}).")
        return
    click.echo(f"Maintenance stopped at {stopped.host}: {stopped.reason}.", err=True)
    click.echo(f"{stopped.host} stays cordoned. Fix it, then run the same command again to resume from "
               f"{stopped.host} (journal {run_dir / 'journal.jsonl'}).", err=True)
    click.get_current_context().exit(EXIT_FAILED)
