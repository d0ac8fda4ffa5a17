"""The nightly run: lock → window → measure → plan within the disruption budget and the cooldown →
apply → freed-host command → history record, metrics and report. Unattended: it never asks, and
logs one line per event (operations.run_log).

Each run keeps its plan, journal and HTML report under STATE_DIR/runs/<start time>/ and appends one
record to STATE_DIR/history.jsonl, whose recent moves put VMs in cooldown for the next runs.
Configuration errors are InputError, raised before anything migrates; everything else ends in a
RunResult (and, unless nothing was recorded, a history record with its RunOutcome).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType

from executor.config import load_config
from executor.errors import ApplyLockedError
from executor.lock import ClusterLock
from operations import cluster_access
from operations.cluster_access import RunSite
from operations.cordon_overlay import overlay_cordons
from operations.cordons import read_cordons
from operations.disruption_budget import plan_within_budget
from operations.history import RunRecord, append_run, cooldown, history_path, read_runs
from operations.night_apply import apply_night
from operations.run_finish import Finisher
from operations.run_log import RunLog
from operations.run_outcome import RunOutcome
from operations.run_request import RunRequest, RunResult
from planner.domain.errors import InfeasibleError, InputError, RebalanceError
from planner.domain.plan import Plan
from planner.domain.policy import Policy
from planner.explain.why_not import context_of, context_path, write_context
from planner.formats.inputs import PlanningInput, with_overrides
from planner.formats.plan_io import write_plan
from planner.formats.scenario import load_policy
from planner.solver.planning import make_plan

ReportWriter = Callable[[Plan, str | Path], None]  # writes the HTML report of a plan to a file


def run_nightly(request: RunRequest, log: RunLog, write_report: ReportWriter,
                site: RunSite | None = None) -> RunResult:
    """One run on `site` (default: the inventory's hosts over libvirt, operations.cluster_access)."""
    site = site if site is not None else cluster_access.run_site(request.source)
    log.clock = site.now
    lock = ClusterLock(site.host_names(), load_config(request.config_path).lock_dir or None, request.state_dir)
    try:
        with lock:
            return _run(request, site, log, write_report)
    except ApplyLockedError as error:
        log.error(f"another run holds the lock: {error}")
        return RunResult(None, locked=True)
    except InputError:
        raise
    except RebalanceError as error:  # a host down while collecting, the cluster changed under the plan, …
        log.error(str(error))
        now = site.now()
        goal = request.goal.value if request.goal else ""
        append_run(history_path(request.state_dir), RunRecord(now, now, goal, RunOutcome.ERROR, note=str(error)))
        return RunResult(RunOutcome.ERROR, failed=True)


def _run(request: RunRequest, site: RunSite, log: RunLog, write_report: ReportWriter) -> RunResult:
    started = site.now()
    window = request.window
    if window and not window.contains(started):
        log.info(f"outside the window {window}: nothing to do")
        return RunResult(None)
    planning = _with_cooldown(_planning_input(request, site, log), request, started, log)
    finisher = Finisher(request.state_dir, request.metrics_file, started, planning.policy.goal.value, site.now, log)
    try:
        plan, policy = plan_within_budget(planning.policy, request.budget, planning.cluster,
                                          lambda policy: make_plan(replace(planning, policy=policy).resolve()))
    except InfeasibleError as error:
        log.error(f"infeasible: {error}")
        finisher.finish(RunOutcome.INFEASIBLE, note=str(error))
        return RunResult(RunOutcome.INFEASIBLE, failed=True)
    plan_file = _write_plan_files(plan, replace(planning, policy=policy), request, started, write_report)
    finisher = replace(finisher, plan_file=str(plan_file))
    _log_plan(log, plan)
    if request.dry_run:
        log.info(f"dry run: nothing migrated; plan and report in {plan_file.parent}")
        return RunResult(None)
    if not plan.moves:
        note = "; ".join(plan.notes) or "nothing to move"
        log.info(f"nothing worth doing: {note}")
        finisher.finish(RunOutcome.NOTHING_TO_DO, plan, note=note)
        return RunResult(RunOutcome.NOTHING_TO_DO)
    if window and not window.contains(site.now()):
        log.warning(f"the window {window} closed while planning: no migration started")
        finisher.finish(RunOutcome.WINDOW_CLOSED, plan, moves_not_run=len(plan.moves))
        return RunResult(RunOutcome.WINDOW_CLOSED)
    return apply_night(plan, plan_file, request, site, log, finisher)


def _planning_input(request: RunRequest, site: RunSite, log: RunLog) -> PlanningInput:
    cluster, warnings = site.measure()
    for warning in warnings:
        log.warning(warning)
    overlaid = overlay_cordons(cluster, read_cordons(request.state_dir))  # the run never fills a cordoned host
    for line in overlaid.lines:
        log.info(line)
    cluster = overlaid.cluster
    if cluster.measured and cluster.measured.demand:
        log.info(f"demand: {cluster.measured.demand.summary}")
    policy_file = request.source.policy
    planning = (PlanningInput(cluster, load_policy(policy_file), policy_file) if policy_file
                else PlanningInput(cluster, Policy()))
    for unmatched in planning.unmatched_rules():
        if request.strict:
            raise unmatched
        log.warning(f"{unmatched} (an error with --strict)")
    solver = request.solver
    return with_overrides(planning, goal=request.goal, drain=request.drain, time_limit_s=solver.time_limit_s,
                          seed=solver.seed, workers=solver.workers)


def _with_cooldown(planning: PlanningInput, request: RunRequest, started: datetime, log: RunLog) -> PlanningInput:
    """The VMs moved within the cooldown stay put (unless a drain or a hard rule needs them)."""
    held = cooldown(read_runs(history_path(request.state_dir)), started, request.cooldown_hours)
    if held:
        log.info(f"{len(held)} VMs in cooldown (moved in the last {request.cooldown_hours:g} h)")
    return replace(planning, policy=replace(planning.policy, cooldown=MappingProxyType(held)))


def _write_plan_files(plan: Plan, planning: PlanningInput, request: RunRequest, started: datetime,
                      write_report: ReportWriter) -> Path:
    """The plan, its explanation context and its report in the run's own directory; returns the plan file."""
    plan_file = _run_dir(request.state_dir, started) / "plan.json"
    write_plan(plan, plan_file)
    write_context(context_of(planning.resolve()), context_path(plan_file))
    write_report(plan, plan_file.with_name("report.html"))
    if request.html:
        write_report(plan, request.html)
    return plan_file


def _run_dir(state_dir: Path, started: datetime) -> Path:
    base = state_dir / "runs" / started.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate, suffix = base, 1
    while candidate.exists():
        suffix += 1
        candidate = base.with_name(f"{base.name}-{suffix}")
    candidate.mkdir(mode=0o700, parents=True)  # a run's plan names every host's control URI
    return candidate


def _log_plan(log: RunLog, plan: Plan) -> None:
    metric = plan.metric
    log.info(f"goal {plan.goal.value}: {metric.name} {metric.before} → {metric.after} {metric.unit}; "
             f"{len(plan.moves)} moves, {plan.moved_memory_mib / 1024:.1f} GiB")
    for move in plan.moves:
        log.info(f"planned {move.vm} {move.source} → {move.destination}: {move.reason}")
