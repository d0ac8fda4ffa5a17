"""`rebalance run`: collect → plan → benefit gate → apply → report, unattended (cron, systemd).

Never asks. Logs one line per event on stderr (`--quiet`: problems only). Each run keeps its plan,
journal and HTML report under STATE_DIR/runs/<start time>/ and appends one record to
STATE_DIR/history.jsonl, whose recent moves put VMs in cooldown for the next runs.

Exit codes: 0 done, or nothing worth doing, or the window closed (the next run goes on);
1 something failed (a migration, an --on-freed command, the goal is infeasible, a host is down);
2 bad configuration; 3 another run holds the lock.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType, MappingProxyType

import click

from executor.config import ExecutorConfig, load_config
from executor.errors import ApplyLockedError
from executor.faults import load_faults
from executor.hypervisor import Hypervisor, LiveState
from executor.libvirt_driver import LibvirtBackend
from executor.lock import ClusterLock
from executor.report import ApplyReport, EventKind, RunEvent, StepStatus
from executor.runner import ApplyOptions, apply_plan
from executor.schedule import Deadline
from executor.simulated import DEFAULT_BANDWIDTH_MIB_S, SimulatedBackend
from planner.domain.errors import InfeasibleError, InputError, RebalanceError
from operations.history import DEFAULT_STATE_DIR, RunRecord, VMMove, append_run, cooldown, history_path, read_runs
from planner.formats.inputs import PlanningInput, load_planning_input, with_overrides
from planner.domain.metrics import usage_by_host
from planner.domain.plan import Plan
from planner.formats.plan_io import write_plan
from planner.solver.planning import make_plan
from planner.domain.policy import Goal, Policy
from cluster.collector import collect
from cluster.insecure_control import refuse_insecure_control
from cluster.inventory import load_inventory
from planner.formats.scenario import cluster_record, load_policy, write_json
from planner.explain.why_not import context_of, context_path, write_context
from rebalance import option_types as types
from rebalance.collect_command import DEFAULT_INTERVAL_S, DEFAULT_TIMEOUT_S
from operations.disruption_budget import Budget, plan_within_budget
from operations.freed_hosts import emptied_hosts, run_hook
from rebalance.html_report import write_html
from rebalance.output_paths import check_writable
from operations.metrics_file import RunMetrics, write_metrics
from operations.run_clock import RunClock, parse_now
from operations.run_log import RunLog
from operations.window import Window, parse_window

EXIT_DONE, EXIT_FAILED, EXIT_BAD_CONFIG, EXIT_LOCKED = 0, 1, 2, 3
DEFAULT_COOLDOWN_HOURS = 24.0
GOALS = [g.value for g in Goal]


@dataclass(frozen=True)
class Source:
    inventory: str | None
    scenario: str | None
    snapshot: str | None
    policy: str | None
    skip_unreachable: bool
    allow_insecure: bool = False


@dataclass(frozen=True)
class Settings:
    goal: Goal | None
    drain: tuple[str, ...]
    window: Window | None
    budget: Budget
    cooldown_hours: float
    on_freed: str | None
    state_dir: Path
    metrics_file: str | None
    html: str | None
    config_path: str | None
    max_parallel: int | None
    per_host: int | None
    time_limit: float | None
    workers: int | None
    seed: int | None
    backend: str
    faults: str | None
    sim_bandwidth: float
    sim_time_scale: float
    dry_run: bool = False


@click.command(name="run")
@click.option("--inventory", "inventory_path", metavar="FILE", help="Inventory (YAML): the hosts to measure and migrate on.")
@click.option("--policy", "policy_path", metavar="FILE", help="Policy (YAML): rules, limits, solver settings.")
@click.option("--goal", type=click.Choice(GOALS), help="Goal of this run (default: the policy's).")
@click.option("--drain", multiple=True, metavar="HOST", help="Host to empty (repeatable); implies --goal drain.")
@click.option("--window", "window_text", metavar="HH:MM-HH:MM",
              help="Local hours in which migrations may start (may cross midnight); at its end the run stops "
                   "dispatching, and the next run goes on.")
@click.option("--max-moves", type=types.MOVE_COUNT, help="Disruption budget: at most this many migrations.")
@click.option("--max-moved-gib", type=types.MOVED_GIB, help="Disruption budget: at most this much memory moved.")
@click.option("--max-share", type=types.PERCENT, metavar="PERCENT",
              help="Disruption budget: at most this share of the cluster's VMs, and of each host group's, moves.")
@click.option("--cooldown-hours", type=types.COOLDOWN_HOURS, default=DEFAULT_COOLDOWN_HOURS, show_default=True,
              help="A VM moved this recently is not moved again unless a drain or a hard rule needs it.")
@click.option("--on-freed", metavar="'CMD {host}'",
              help="Shell command run for each host the run emptied, once every move off it is verified.")
@click.option("--state-dir", default=DEFAULT_STATE_DIR, show_default=True, envvar="REBALANCE_STATE_DIR",
              help="Run history, lock, and each run's plan, journal and report.")
@click.option("--metrics-file", metavar="PATH", help="Write Prometheus metrics of the run here (node_exporter textfile).")
@click.option("--html", metavar="FILE", help="Also write the run's HTML report here.")
@click.option("--config", "config_path", metavar="FILE", help="Executor settings (YAML), as for apply.")
@click.option("--max-parallel", type=types.PARALLEL_MIGRATIONS, help="Migrations at once over the cluster.")
@click.option("--per-host", type=types.PER_HOST_MIGRATIONS, help="Migrations at once into, and out of, each host.")
@click.option("--skip-unreachable", is_flag=True, help="Plan without the hosts that do not answer.")
@click.option("--allow-insecure", is_flag=True,
              help="Accept plain qemu+tcp control connections (unauthenticated, unencrypted); refused otherwise.")
@click.option("--time-limit", type=types.SOLVER_SECONDS, help="Seconds the solver may use.")
@click.option("--workers", type=types.SOLVER_WORKERS, help="CP-SAT worker threads.")
@click.option("--seed", type=types.SEED, help="Solver seed.")
@click.option("--dry-run", is_flag=True, help="Plan and write the report, migrate nothing, record nothing.")
@click.option("--quiet", "-q", is_flag=True, help="Log only warnings and errors.")
@click.option("--yes", "-y", is_flag=True, help="Accepted for symmetry with apply: run never asks.")
@click.option("--scenario", metavar="FILE", hidden=True, help="Testing: plan from a scenario instead of an inventory.")
@click.option("--snapshot", metavar="FILE", hidden=True,
              help="Testing: plan from a snapshot; with --backend simulated the run writes the new placement back.")
@click.option("--now", "now_text", metavar="TIME", hidden=True, help="Testing: pretend the run starts at TIME.")
@click.option("--backend", type=click.Choice(["libvirt", "simulated"]), default="libvirt", hidden=True)
@click.option("--faults", "faults_path", metavar="FILE", hidden=True)
@click.option("--sim-bandwidth", type=types.SIM_BANDWIDTH_MIB_S, default=DEFAULT_BANDWIDTH_MIB_S, hidden=True)
@click.option("--sim-time-scale", type=types.SIM_TIME_SCALE, default=0.0, hidden=True)
def run(inventory_path: str | None, policy_path: str | None, goal: str | None, drain: tuple[str, ...],
        window_text: str | None, max_moves: int | None, max_moved_gib: float | None, max_share: float | None,
        cooldown_hours: float, on_freed: str | None, state_dir: str, metrics_file: str | None, html: str | None,
        config_path: str | None, max_parallel: int | None, per_host: int | None, skip_unreachable: bool,
        allow_insecure: bool,
        time_limit: float | None, workers: int | None, seed: int | None, dry_run: bool, quiet: bool, yes: bool,
        scenario: str | None, snapshot: str | None, now_text: str | None, backend: str, faults_path: str | None,
        sim_bandwidth: float, sim_time_scale: float) -> None:
    """Collect, plan, apply and report in one unattended step (for cron or a systemd timer).

    \b
    rebalance run --goal consolidate --inventory hosts.yaml --window 01:00-05:00 \\
        --on-freed 'ssh {host} systemctl poweroff'

    \b
    Exit codes: 0 done or nothing worth doing (or the window closed: the next run goes on),
    1 something failed, 2 bad configuration, 3 another run holds the lock.
    """
    log = RunLog(quiet=quiet)
    check_writable("--state-dir", state_dir, directory=True)
    check_writable("--metrics-file", metrics_file)
    check_writable("--html", html)
    try:
        clock = RunClock(parse_now(now_text) if now_text else None, simulated=backend == "simulated")
        log.clock = clock
        source = Source(inventory_path, scenario, snapshot, policy_path, skip_unreachable, allow_insecure)
        settings = Settings(
            goal=Goal(goal) if goal else None, drain=drain,
            window=parse_window(window_text) if window_text else None,
            budget=Budget(max_moves, None if max_moved_gib is None else int(max_moved_gib * 1024), max_share),
            cooldown_hours=cooldown_hours, on_freed=on_freed, state_dir=Path(state_dir), metrics_file=metrics_file,
            html=html, config_path=config_path, max_parallel=max_parallel, per_host=per_host, time_limit=time_limit,
            workers=workers, seed=seed, backend=backend, faults=faults_path, sim_bandwidth=sim_bandwidth,
            sim_time_scale=sim_time_scale, dry_run=dry_run)
        code = _locked_run(source, settings, clock, log)
    except InputError as error:
        log.error(f"bad configuration: {error}")
        code = EXIT_BAD_CONFIG
    click.get_current_context().exit(code)


def _locked_run(source: Source, settings: Settings, clock: RunClock, log: RunLog) -> int:
    lock = ClusterLock(_cluster_hosts(source), load_config(settings.config_path).lock_dir or None, settings.state_dir)
    try:
        with lock:
            return _run(source, settings, clock, log)
    except ApplyLockedError as error:
        log.error(f"another run holds the lock: {error}")
        return EXIT_LOCKED
    except InputError:
        raise
    except RebalanceError as error:  # a host down while collecting, the cluster changed under the plan, …
        log.error(str(error))
        now = clock()
        append_run(history_path(settings.state_dir), RunRecord(now, now, settings.goal.value if settings.goal else "",
                                                               "error", note=str(error)))
        return EXIT_FAILED


def _cluster_hosts(source: Source) -> tuple[str, ...]:
    """The hosts a run may touch, known before anything is measured: every host of the inventory
    (or of the scenario or snapshot when testing), so `run` and `apply` exclude each other."""
    if source.inventory:
        inventory = load_inventory(source.inventory)
        refuse_insecure_control(inventory, source.allow_insecure)  # before the lock, the collection, anything
        return tuple(h.name for h in inventory.hosts)
    if source.scenario or source.snapshot:
        return tuple(h.name for h in load_planning_input(source.scenario, source.snapshot, source.policy).cluster.hosts)
    return ()


def _run(source: Source, settings: Settings, clock: RunClock, log: RunLog) -> int:
    started = clock()
    window = settings.window
    if window and not window.contains(started):
        log.info(f"outside the window {window}: nothing to do")
        return EXIT_DONE
    planning = _planning_input(source, settings, log)
    history_file = history_path(settings.state_dir)
    held = cooldown(read_runs(history_file), started, settings.cooldown_hours)
    planning = replace(planning, policy=replace(planning.policy, cooldown=MappingProxyType(held)))
    goal = planning.policy.goal.value
    if held:
        log.info(f"{len(held)} VMs in cooldown (moved in the last {settings.cooldown_hours:g} h)")
    record = RunRecord(started=started, finished=started, goal=goal, outcome="")
    try:
        plan, policy = plan_within_budget(planning.policy, settings.budget, planning.cluster,
                                          lambda policy: make_plan(replace(planning, policy=policy).resolve()))
    except InfeasibleError as error:
        log.error(f"infeasible: {error}")
        _finish(settings, replace(record, outcome="infeasible", note=str(error)), clock, None, None)
        return EXIT_FAILED
    plan_file = _run_dir(settings.state_dir, started) / "plan.json"
    write_plan(plan, plan_file)
    write_context(context_of(replace(planning, policy=policy).resolve()), context_path(plan_file))
    write_html(plan, plan_file.with_name("report.html"))
    if settings.html:
        write_html(plan, settings.html)
    record = replace(record, plan=str(plan_file))
    _log_plan(log, plan)
    if settings.dry_run:
        log.info(f"dry run: nothing migrated; plan and report in {plan_file.parent}")
        return EXIT_DONE
    if not plan.moves:
        note = "; ".join(plan.notes) or "nothing to move"
        log.info(f"nothing worth doing: {note}")
        _finish(settings, replace(record, outcome="nothing-to-do", note=note), clock, plan, None)
        return EXIT_DONE
    if window and not window.contains(clock()):
        log.warning(f"the window {window} closed while planning: no migration started")
        _finish(settings, replace(record, outcome="window-closed", moves_not_run=len(plan.moves)), clock, plan, None)
        return EXIT_DONE
    return _apply(plan, plan_file, source, settings, clock, log, record)


def _apply(plan: Plan, plan_file: Path, source: Source, settings: Settings, clock: RunClock, log: RunLog,
           record: RunRecord) -> int:
    config = load_config(settings.config_path).with_limits(settings.max_parallel, settings.per_host)
    backend = _backend(plan, settings, clock, config)
    deadline = None
    if settings.window:
        closes = settings.window.closes_at(clock())
        deadline = Deadline(closes.timestamp(), clock.timestamp)
        log.info(f"migrations may start until {closes.isoformat(timespec='minutes')}")
    events = _Events(log, clock)
    with _signals() as (stop, abort, abandon, signalled):
        report = apply_plan(plan, plan_file, backend, ApplyOptions(config, deadline=deadline, lock_held=True),
                            on_event=events, stop=stop, abort=abort, abandon=abandon)
    live = backend.inventory()
    if settings.backend == "simulated" and source.snapshot:
        write_json(source.snapshot, cluster_record(plan.cluster.with_placement(backend.placement())))
    emptied = emptied_hosts(plan, report.records, live)
    hooks_ok = _run_hooks(emptied, settings.on_freed, log)
    failed = report.failed + report.count(StepStatus.BLOCKED) + report.unknown
    if report.journal_error:
        log.error(f"journal: {report.journal_error}; nothing more was started")
    outcome = ("interrupted" if signalled.is_set() else "partly-failed" if failed or report.journal_error
               else "window-closed" if report.interrupted else "done")
    _log_summary(log, report, outcome, emptied)
    record = replace(record, outcome=outcome, moves_done=report.done, moves_failed=failed,
                     moves_skipped=report.skipped, moves_not_run=report.count(StepStatus.NOT_STARTED),
                     moved_mib=_moved_mib(plan, events.moves),
                     hosts_freed=emptied, moves=tuple(events.moves))
    _finish(settings, record, clock, plan, live)
    return EXIT_FAILED if failed or report.journal_error or not hooks_ok or signalled.is_set() else EXIT_DONE


def _moved_mib(plan: Plan, moves: list[VMMove]) -> int:
    """Memory of the VMs that reached their planned destination (parking detours not counted twice)."""
    target, vms = plan.target_placement, plan.cluster.vm_by_name
    return sum(vms[m.vm].memory_mib for m in moves if m.vm in vms and target.get(m.vm) == m.destination)


def _planning_input(source: Source, settings: Settings, log: RunLog) -> PlanningInput:
    given = [name for name, value in (("--inventory", source.inventory), ("--scenario", source.scenario),
                                      ("--snapshot", source.snapshot)) if value]
    if len(given) != 1:
        raise InputError("--inventory", "say which cluster to run on: --inventory FILE")
    if source.inventory:
        collection = collect(load_inventory(source.inventory), DEFAULT_INTERVAL_S, DEFAULT_TIMEOUT_S,
                             source.skip_unreachable)
        for warning in collection.warnings:
            log.warning(warning)
        cluster = collection.cluster
        planning = (PlanningInput(cluster, load_policy(source.policy), source.policy) if source.policy
                    else PlanningInput(cluster, Policy()))
    else:
        planning = load_planning_input(source.scenario, source.snapshot, source.policy)
    return with_overrides(planning, goal=settings.goal, drain=settings.drain, time_limit_s=settings.time_limit,
                          seed=settings.seed, workers=settings.workers)


def _backend(plan: Plan, settings: Settings, clock: RunClock, config: ExecutorConfig) -> Hypervisor:
    if settings.backend == "simulated":
        backend = SimulatedBackend(plan.cluster, settings.sim_bandwidth, settings.sim_time_scale,
                                   load_faults(settings.faults) if settings.faults else ())
        memory = {vm.name: vm.memory_mib for vm in plan.cluster.vms}
        clock.follow(lambda: sum(backend.estimate_s(memory[vm]) for vm, _, _ in list(backend.completed_migrations)))
        return backend
    if settings.faults:
        raise InputError("--faults", "needs --backend simulated")
    return LibvirtBackend(plan.cluster.host_by_name, config)


def _run_dir(state_dir: Path, started: datetime) -> Path:
    base = state_dir / "runs" / started.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate, suffix = base, 1
    while candidate.exists():
        suffix += 1
        candidate = base.with_name(f"{base.name}-{suffix}")
    candidate.mkdir(mode=0o700, parents=True)  # a run's plan names every host's control URI
    return candidate


def _run_hooks(hosts: tuple[str, ...], template: str | None, log: RunLog) -> bool:
    ok = True
    for host in hosts:
        if not template:
            log.info(f"emptied {host}")
            continue
        result = run_hook(template, host)
        if result.ok:
            log.info(f"emptied {host}; --on-freed: {result.detail}")
        else:
            ok = False
            log.error(f"emptied {host} but --on-freed failed: {result.detail}")
    return ok


def _finish(settings: Settings, record: RunRecord, clock: RunClock, plan: Plan | None, live: LiveState | None) -> None:
    record = replace(record, finished=clock())
    append_run(history_path(settings.state_dir), record)
    if settings.metrics_file:
        write_metrics(settings.metrics_file, _metrics(record, plan, live))


def _metrics(record: RunRecord, plan: Plan | None, live: LiveState | None) -> RunMetrics:
    before = after = ()
    if plan is not None:
        before = tuple(plan.before)
        placement = {vm: found.host for vm, found in live.vms.items()} if live is not None else None
        after = tuple(usage_by_host(plan.cluster, placement).values())

    def peak(usages: tuple, attribute: str) -> float:
        return max((getattr(u, attribute) for u in usages), default=0) / 1000

    return RunMetrics(
        finished_unix=record.finished.timestamp(), goal=record.goal,
        success=record.outcome in ("done", "nothing-to-do", "window-closed"),
        moves_done=record.moves_done, moves_failed=record.moves_failed, moves_not_run=record.moves_not_run,
        moved_bytes=record.moved_mib * 2**20, hosts_freed=len(record.hosts_freed),
        peak_cpu_before=peak(before, "cpu_permille"), peak_cpu_after=peak(after, "cpu_permille"),
        peak_memory_before=peak(before, "memory_permille"), peak_memory_after=peak(after, "memory_permille"))


def _log_plan(log: RunLog, plan: Plan) -> None:
    metric = plan.metric
    log.info(f"goal {plan.goal.value}: {metric.name} {metric.before} → {metric.after} {metric.unit}; "
             f"{len(plan.moves)} moves, {plan.moved_memory_mib / 1024:.1f} GiB")
    for move in plan.moves:
        log.info(f"planned {move.vm} {move.source} → {move.destination}: {move.reason}")


def _log_summary(log: RunLog, report: ApplyReport, outcome: str, emptied: tuple[str, ...]) -> None:
    for record in report.records:
        if record.status is StepStatus.NOT_STARTED:
            log.info(f"left for the next run: {record.vm} {record.source} → {record.destination}")
        elif record.status in (StepStatus.BLOCKED, StepStatus.UNKNOWN):
            log.error(f"{record.status.value}: {record.vm} {record.source} → {record.destination}: {record.reason}")
    line = (f"run {outcome}: {report.done} done, {report.failed} failed, {report.skipped} skipped, "
            f"{report.not_run} not run; hosts emptied: {', '.join(emptied) or 'none'}")
    (log.info if outcome in ("done", "window-closed") else log.error)(line)


class _Events:
    """Log lines per step, and the verified moves with the time they completed."""

    def __init__(self, log: RunLog, clock: RunClock) -> None:
        self.log = log
        self.clock = clock
        self.moves: list[VMMove] = []

    def __call__(self, event: RunEvent) -> None:
        if event.kind is EventKind.STARTED:
            self.log.info(f"start {event.step.describe()}")
        elif event.kind is EventKind.FINISHED and event.record is not None:
            record = event.record
            text = f"{record.status.value} {event.step.describe()} ({record.duration_s:.1f} s)"
            if record.status is StepStatus.DONE:
                self.moves.append(VMMove(record.vm, record.source, record.destination, self.clock()))
                self.log.info(text)
            elif record.status in (StepStatus.FAILED, StepStatus.UNKNOWN):
                self.log.error(f"{text}: {record.reason}")
            else:
                self.log.warning(f"{text}: {record.reason}")


@contextmanager
def _signals() -> Iterator[tuple[threading.Event, threading.Event, threading.Event, threading.Event]]:
    """SIGTERM (systemd stop) or Ctrl-C stops dispatching; a second one aborts running migrations; a
    third stops waiting for libvirt calls that do not return (their moves are reported unknown)."""
    stop, abort, abandon, signalled = threading.Event(), threading.Event(), threading.Event(), threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop, abort, abandon, signalled
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        next(event for event in (stop, abort, abandon) if not event.is_set() or event is abandon).set()
        signalled.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop, abort, abandon, signalled
    finally:
        for number, old in previous.items():
            signal.signal(number, old)

