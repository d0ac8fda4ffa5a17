"""`rebalance run`: collect → plan → benefit gate → apply → report, unattended (cron, systemd).

The workflow is operations.nightly.run_nightly; this command turns its options into a RunRequest,
runs it and turns the result into the exit code: 0 done, or nothing worth doing, or the window
closed (the next run goes on); 1 something failed (a migration, an --on-freed command, the goal is
infeasible, a host is down); 2 bad configuration; 3 another run holds the lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from operations.disruption_budget import Budget
from operations.history import DEFAULT_STATE_DIR
from operations.nightly import run_nightly
from operations.run_log import RunLog
from operations.run_request import (
    DEFAULT_COOLDOWN_HOURS,
    RunRequest,
    RunResult,
    RunSource,
    SolverOverrides,
)
from operations.window import parse_window
from planner.domain.errors import InputError
from planner.domain.policy import Goal
from rebalance import option_types as types
from rebalance.demand_options import demand_options, measuring
from rebalance.html_report import write_html
from rebalance.output_paths import check_writable

EXIT_DONE, EXIT_FAILED, EXIT_BAD_CONFIG, EXIT_LOCKED = 0, 1, 2, 3
GOALS = [g.value for g in Goal]


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
              help="Run history, lock, each run's plan, journal and report, and the demand history.")
@click.option("--metrics-file", metavar="PATH", help="Write Prometheus metrics of the run here (node_exporter textfile).")
@click.option("--html", metavar="FILE", help="Also write the run's HTML report here.")
@click.option("--config", "config_path", metavar="FILE", help="Executor settings (YAML), as for apply.")
@click.option("--max-parallel", type=types.PARALLEL_MIGRATIONS, help="Migrations at once over the cluster.")
@click.option("--per-host", type=types.PER_HOST_MIGRATIONS, help="Migrations at once into, and out of, each host.")
@click.option("--skip-unreachable", is_flag=True, help="Plan without the hosts that do not answer.")
@click.option("--allow-insecure", is_flag=True,
              help="Accept plain qemu+tcp control connections (unauthenticated, unencrypted); refused otherwise.")
@click.option("--time-limit", type=types.SOLVER_SECONDS,
              help="Wall-clock seconds for planning (deterministic within them, as for plan).")
@click.option("--workers", type=types.SOLVER_WORKERS, help="CP-SAT worker threads.")
@click.option("--seed", type=types.SEED, help="Solver seed.")
@click.option("--dry-run", is_flag=True, help="Plan and write the report, migrate nothing, record nothing.")
@click.option("--quiet", "-q", is_flag=True, help="Log only warnings and errors.")
@click.option("--yes", "-y", is_flag=True, help="Accepted for symmetry with apply: run never asks.")
@click.option("--strict", is_flag=True,
              help="A policy rule whose VM selector matches no VM is a configuration error (exit 2), not a warning.")
@demand_options
def run(inventory_path: str | None, policy_path: str | None, goal: str | None, drain: tuple[str, ...],
        window_text: str | None, max_moves: int | None, max_moved_gib: float | None, max_share: float | None,
        cooldown_hours: float, on_freed: str | None, state_dir: str, metrics_file: str | None, html: str | None,
        config_path: str | None, max_parallel: int | None, per_host: int | None, skip_unreachable: bool,
        allow_insecure: bool, time_limit: float | None, workers: int | None, seed: int | None, dry_run: bool,
        quiet: bool, yes: bool, strict: bool, **demand: Any) -> None:
    """Collect, plan, apply and report in one unattended step (for cron or a systemd timer).

    \b
    rebalance run --goal consolidate --inventory hosts.yaml --window 01:00-05:00 \\
        --on-freed 'ssh {host} systemctl poweroff'

    \b
    Each run adds its collection to the demand history in --state-dir and plans each VM's CPU
    from it (--cpu-demand p95 over --demand-window 24h by default).

    \b
    Exit codes: 0 done or nothing worth doing (or the window closed: the next run goes on),
    1 something failed, 2 bad configuration, 3 another run holds the lock.
    """
    log = RunLog(quiet=quiet)
    check_writable("--state-dir", state_dir, directory=True)
    check_writable("--metrics-file", metrics_file)
    check_writable("--html", html)
    try:
        request = RunRequest(
            source=RunSource(inventory_path, policy_path, skip_unreachable, allow_insecure,
                             measuring(demand, state_dir, skip_unreachable, record=not dry_run)),
            state_dir=Path(state_dir), goal=Goal(goal) if goal else None, drain=drain,
            window=parse_window(window_text) if window_text else None,
            budget=Budget(max_moves, None if max_moved_gib is None else int(max_moved_gib * 1024), max_share),
            cooldown_hours=cooldown_hours, on_freed=on_freed, metrics_file=metrics_file, html=html,
            config_path=config_path, max_parallel=max_parallel, per_host=per_host,
            solver=SolverOverrides(time_limit, workers, seed), dry_run=dry_run, strict=strict)
        code = exit_code(run_nightly(request, log, write_html))
    except InputError as error:
        log.error(f"bad configuration: {error}")
        code = EXIT_BAD_CONFIG
    click.get_current_context().exit(code)


def exit_code(result: RunResult) -> int:
    if result.locked:
        return EXIT_LOCKED
    return EXIT_FAILED if result.failed else EXIT_DONE
