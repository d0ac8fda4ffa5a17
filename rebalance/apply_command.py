"""`rebalance apply`: run a plan's migrations in a safe order, resumably.

The library computes and runs (executor.runner.apply_plan); this command decides and asks:
the confirmation prompt, the progress display and the exit code live here only.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import FrameType

import click

from executor.config import ExecutorConfig, load_config
from executor.journal import journal_path
from executor.preview import clock, preview_plan, render_schedule
from executor.report import ApplyReport, EventKind, RunEvent, StepStatus
from executor.runner import ApplyOptions, apply_plan
from executor.simulated import SimulatedBackend
from operations import cluster_access
from operations.cordon_overlay import check_plan_against_cordons, overlay_cordons
from operations.cordons import Cordon, cordon_of, read_cordons
from operations.history import DEFAULT_STATE_DIR
from operations.trusted_cluster import DEFAULT_INVENTORY
from planner.domain.errors import InputError
from planner.domain.plan import Plan
from planner.formats.plan_io import load_plan
from rebalance import option_types as types
from rebalance.output_paths import check_writable

EXIT_FAILED = 1


@click.command()
@click.argument("plan_file")
@click.option("--dry-run", is_flag=True, help="Print the ordered schedule with estimated durations; migrate nothing.")
@click.option("--max-parallel", type=types.PARALLEL_MIGRATIONS,
              help="Migrations at once over the cluster (default 2).")
@click.option("--per-host", type=types.PER_HOST_MIGRATIONS,
              help="Migrations at once into, and out of, each host (default 1 each).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--stop-on-error", is_flag=True, help="Start nothing new after the first failure.")
@click.option("--config", "config_path", metavar="FILE",
              help="Executor settings (YAML): live_migration_* knobs and limits.")
@click.option("--force", is_flag=True, help="Apply an expired plan, or one the cluster drifted from.")
@click.option("--allow-insecure", is_flag=True,
              help="Accept plain qemu+tcp control connections (unauthenticated, unencrypted); refused otherwise.")
@click.option("--inventory", "inventory_path", metavar="FILE", default=DEFAULT_INVENTORY, show_default=True,
              envvar="REBALANCE_INVENTORY",
              help="The trusted inventory: hosts, URIs, states and capacities come from here and the live "
                   "cluster, never from the plan file alone; a plan that disagrees is refused.")
@click.option("--state-dir", default=DEFAULT_STATE_DIR, show_default=True, envvar="REBALANCE_STATE_DIR",
              help="Where recorded cordons are read from: a plan moving a VM onto a cordoned host is refused.")
def apply(plan_file: str, dry_run: bool, max_parallel: int | None, per_host: int | None, yes: bool,
          stop_on_error: bool, config_path: str | None, force: bool, allow_insecure: bool, inventory_path: str,
          state_dir: str) -> None:
    """Run the migrations of PLAN_FILE so that no host is ever over capacity.

    Moves wait for the moves that free their room; cycles go through a parking host. Progress is
    journaled beside the plan (plan.journal.jsonl): running apply again resumes where it stopped.
    The plan file is not trusted: its hosts, URIs, states and capacities must match the inventory
    and the live cluster, or nothing runs. Ctrl-C stops starting migrations; a second Ctrl-C (or
    SIGTERM) aborts the running ones; a third gives up on any libvirt call that has not returned.

    \b
    rebalance apply plan.json --dry-run
    rebalance apply plan.json --inventory /etc/rebalance/hosts.yaml --yes --per-host 2

    \b
    Exit codes: 0 all done (skipped moves are fine), 1 something failed, did not run or ended
    unknown, 2 bad input, a plan that disagrees with the inventory, or a stale plan (use --force).
    """
    plan = load_plan(plan_file)
    config = load_config(config_path).with_limits(max_parallel, per_host)
    if dry_run:
        # Durations are estimated by the simulated backend's model (bandwidth only): nothing connects.
        click.echo(render_schedule(preview_plan(plan, config.limits, SimulatedBackend(plan.cluster).estimate_s)))
        if plan.expired():
            click.echo(f"\nNote: this plan expired at {plan.expires.isoformat()}; apply will refuse it without --force.")
        return
    report = apply_saved_plan(plan, plan_file, config, ApplySettings(inventory_path, state_dir, allow_insecure, yes,
                                                                     force, stop_on_error))
    if report is not None and not report.ok:
        click.get_current_context().exit(EXIT_FAILED)


@dataclass(frozen=True)
class ApplySettings:
    inventory_path: str
    state_dir: str
    allow_insecure: bool = False
    yes: bool = False
    force: bool = False
    stop_on_error: bool = False


def apply_saved_plan(plan: Plan, plan_file: str, config: ExecutorConfig, settings: ApplySettings,
                     lock_held: bool = False) -> ApplyReport | None:
    """What `apply` (and `drain`) do with a plan file: the journal check, the cordons, the trusted
    cluster, the prompt, the locked run with its display, the summary. None when nothing was to move."""
    _check_journal_writable(plan_file)
    cordons = _cordons_against(plan, plan_file, settings.state_dir)
    target = cluster_access.apply_target(plan, plan_file, settings.inventory_path, config, settings.allow_insecure)
    plan = replace(plan, cluster=overlay_cordons(plan.cluster, cordons).cluster)  # no parking detour there
    # Durations are estimated by the simulated backend's model (bandwidth only): nothing connects.
    preview = preview_plan(plan, config.limits, SimulatedBackend(plan.cluster).estimate_s)
    if not preview.ordering.steps:
        click.echo("Nothing to migrate.")
        return None
    hypervisor = target.backend(config)
    for warning in target.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not settings.yes:
        parked = len(preview.ordering.parked)
        detours = f" including {parked} parking detour{'s' if parked != 1 else ''}" if parked else ""
        click.confirm(f"Run {len(preview.ordering.steps)} live migrations{detours}, about "
                      f"{clock(preview.timeline.makespan)}?", abort=True, err=True)
    with _interrupts() as (stop, abort, abandon):
        options = ApplyOptions(config, settings.force, settings.stop_on_error, lock_hosts=target.host_names,
                               lock_held=lock_held, closed_to=cordon_of(settings.state_dir))
        report = apply_plan(plan, plan_file, hypervisor, options, on_event=_Display(sys.stdout.isatty()), stop=stop,
                            abort=abort, abandon=abandon)
    click.echo(_summary(report))
    return report


def _check_journal_writable(plan_file: str) -> None:
    """The journal lives beside the plan (PLAN_FILE's journal): a plan in a read-only directory
    could run no step safely."""
    check_writable("PLAN_FILE", journal_path(plan_file))


def _cordons_against(plan: Plan, plan_file: str, state_dir: str) -> Mapping[str, Cordon]:
    """A host cordoned after the plan was made takes none of its VMs, not even as a parking detour:
    a plan moving one there is refused before anything connects; the others run with those hosts
    out of the executor's parking choices."""
    cordons = read_cordons(state_dir)
    try:
        check_plan_against_cordons(plan, cordons)
    except InputError as error:
        raise error.in_file(plan_file) from None
    return cordons


@contextmanager
def _interrupts() -> Iterator[tuple[threading.Event, threading.Event, threading.Event]]:
    """Ctrl-C stops dispatching, a second one aborts the running migrations, a third stops waiting
    for libvirt calls that do not return; SIGTERM (systemd, kill) starts at the abort. The run then
    ends cleanly, journal and summary included, instead of dying mid-write."""
    stop, abort, abandon = threading.Event(), threading.Event(), threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop, abort, abandon
        return
    steps = [(stop, "Stopping: no new migrations; waiting for the running ones (Ctrl-C again to abort them)"),
             (abort, "Aborting the running migrations (Ctrl-C again to stop waiting for libvirt)"),
             (abandon, "Giving up on libvirt calls that have not returned: their moves are reported unknown")]

    def handler(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGTERM:
            stop.set()
        for event, message in steps:
            if not event.is_set():
                event.set()
                click.echo(f"\n{message}", err=True)
                return

    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop, abort, abandon
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


class _Display:
    """Plain lines per step; on a terminal, also a live progress line for running migrations."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def __call__(self, event: RunEvent) -> None:
        counter = f"[{event.finished_steps:>{len(str(event.total_steps))}}/{event.total_steps}]"
        if event.kind is EventKind.PROGRESS:
            if self.tty and event.progress:
                click.echo(f"\r{counter} {event.step.describe()} {event.progress.fraction:4.0%}"
                           f"  ETA {clock(event.eta_s)}", nl=False)
            return
        if self.tty:
            click.echo("\r\x1b[K", nl=False)
        if event.kind is EventKind.STARTED:
            click.echo(f"{counter} start  {event.step.describe()}")
        elif event.record is not None:
            record = event.record
            why = f": {record.reason}" if record.reason else ""
            click.echo(f"{counter} {record.status.value:<8}{event.step.describe()} ({record.duration_s:.0f} s){why}"
                       f"  ETA {clock(event.eta_s)}")


def _summary(report: ApplyReport) -> str:
    lines = []
    for record in report.records:
        if record.status in (StepStatus.FAILED, StepStatus.BLOCKED, StepStatus.SKIPPED, StepStatus.UNKNOWN):
            lines.append(f"  {record.status.value}: {record.vm} {record.source}→{record.destination}: {record.reason}")
    counts = (f"Summary: {report.done} done, {report.parked} parked, {report.skipped} skipped, "
              f"{report.failed} failed" + (f", {report.not_run} not run" if report.not_run else "")
              + (f", {report.unknown} unknown" if report.unknown else ""))
    tail = [counts]
    if report.unknown:
        tail.append("Unknown: libvirt never said how those migrations ended; check the VMs on the hosts named "
                    "above before running apply again.")
    if report.journal_error:
        tail.append(f"Journal: {report.journal_error}; nothing more was started. Free the space and run apply "
                    f"again to resume.")
    if report.interrupted:
        tail.append("Interrupted: run apply again to resume.")
    for warning in report.warnings:
        tail.append(f"Forced despite: {warning}")
    tail.append(f"Journal: {report.journal}")
    return "\n".join(lines + tail)
