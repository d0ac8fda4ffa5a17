"""`rebalance plan` and `rebalance show`."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

import click

from operations.cordon_overlay import overlay_cordons
from operations.cordons import read_cordons
from operations.history import DEFAULT_STATE_DIR
from planner.domain.errors import InputError
from planner.formats.inputs import PlanningInput, load_planning_input, with_overrides
from planner.formats.plan_io import load_plan, plan_to_json, write_plan
from planner.solver.planning import make_plan
from planner.solver.progress import ignore
from planner.domain.plan import Plan
from planner.domain.policy import Goal
from rebalance import option_types as types
from rebalance.collect_command import planning_from_inventory
from rebalance.demand_options import demand_options, measuring, refuse_without_inventory
from rebalance.output_paths import check_writable
from rebalance.progress_line import stderr_progress
from rebalance.render import render_plan
from rebalance.schedule_summary import schedule_summary

GOALS = [g.value for g in Goal]


@click.command()
@click.option("--scenario", metavar="FILE", help="Scenario file: a cluster and its policy (YAML/JSON).")
@click.option("--snapshot", metavar="FILE", help="Snapshot file from `rebalance collect` (a cluster only).")
@click.option("--inventory", "inventory_path", metavar="FILE",
              help="Inventory (YAML): measure the live cluster over libvirt now, then plan.")
@click.option("--skip-unreachable", is_flag=True, help="With --inventory: plan without the hosts that do not answer.")
@click.option("--policy", "policy_path", metavar="FILE",
              help="Policy file (YAML); overrides the scenario's own policy.")
@click.option("--goal", type=click.Choice(GOALS), help="spread the load, consolidate onto fewer hosts, or drain hosts.")
@click.option("--drain", multiple=True, metavar="HOST", help="Host to empty (repeatable); implies --goal drain.")
@click.option("--max-moves", type=types.MOVE_COUNT, help="At most this many migrations.")
@click.option("--time-limit", type=types.SOLVER_SECONDS,
              help="Wall-clock seconds the solver may use (default: policy, 10); with solver.deterministic the "
                   "search is also capped by CP-SAT's deterministic clock so a seed repeats; see docs.")
@click.option("--seed", type=types.SEED, help="Random seed; same seed and inputs give the same plan.")
@click.option("--workers", type=types.SOLVER_WORKERS, help="CP-SAT worker threads (default: policy, 2).")
@click.option("-o", "--output", metavar="FILE", help="Write the plan to this file (plan.json).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON instead of tables.")
@click.option("--progress/--no-progress", default=None,
              help="Write `solving:` lines (best goal so far and the bound) to stderr while solving "
                   "(default: when stderr is a terminal).")
@click.option("--strict", is_flag=True,
              help="A policy rule whose VM selector matches no VM is an error (exit 2), not a warning.")
@demand_options
@click.option("--state-dir", default=DEFAULT_STATE_DIR, show_default=True, envvar="REBALANCE_STATE_DIR",
              help="Where recorded cordons (cordons.json) are read from, and with --inventory the demand "
                   "history (demand.sqlite).")
def plan(scenario: str | None, snapshot: str | None, inventory_path: str | None, skip_unreachable: bool,
         policy_path: str | None, goal: str | None,
         drain: tuple[str, ...], max_moves: int | None, time_limit: float | None, seed: int | None,
         workers: int | None, output: str | None, as_json: bool, progress: bool | None, strict: bool, state_dir: str,
         **demand: Any) -> None:
    """Compute a placement that reaches the goal with the fewest, cheapest migrations.

    Nothing is migrated: the plan is printed (and written with -o) for `rebalance apply`.
    With --inventory, each VM's CPU load is its demand over a window of the history that
    `rebalance collect --every` and `rebalance run` keep (p95 over 24h by default).

    \b
    rebalance plan --scenario scenarios/hot-rack.yaml -o plan.json
    rebalance plan --inventory hosts.yaml --goal spread --cpu-demand p95 --demand-window 24h
    rebalance plan --scenario big.yaml --time-limit 60 --progress

    \b
    Exit codes: 0 plan made (possibly empty), 1 the goal cannot be met, 2 bad input.
    """
    check_writable("--output", output)
    if inventory_path and (scenario or snapshot):
        raise InputError("--inventory", "give an inventory, a scenario or a snapshot, not several")
    demand_line = ""
    if inventory_path:
        planning, measured = planning_from_inventory(inventory_path, policy_path,
                                                     measuring(demand, state_dir, skip_unreachable, record=False))
        demand_line = measured.line
    else:
        refuse_without_inventory(demand)
        planning = load_planning_input(scenario, snapshot, policy_path)
    planning, cordon_lines = _with_cordons(planning, state_dir)
    planning = with_overrides(planning, goal=Goal(goal) if goal else None, drain=drain, max_moves=max_moves,
                              time_limit_s=time_limit, seed=seed, workers=workers)
    rules = planning.resolve()  # a rule that cannot hold is the one error to report, before any warning
    check_rules_match(planning, strict)
    for line in (demand_line, *cordon_lines) if demand_line else cordon_lines:
        click.echo(line, err=as_json)  # after the checks: a refused input prints its one error line only
    watching = progress if progress is not None else sys.stderr.isatty()
    result = make_plan(rules, progress=stderr_progress(rules.policy.goal) if watching else ignore)
    if output:
        write_plan(result, output)
    if as_json:
        click.echo(plan_to_json(result), nl=False)
        return
    click.echo(_with_schedule(result))
    if output:
        click.echo(f"\nPlan written to {output}. Run it with: rebalance apply {output}")


@click.command()
@click.argument("plan_file")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--html", "html_path", metavar="FILE",
              help="Also write a self-contained HTML report (charts, moves, schedule graph, bounds).")
def show(plan_file: str, as_json: bool, html_path: str | None) -> None:
    """Print a saved plan: per-host before/after, the moves, bounds and solver figures."""
    check_writable("--html", html_path)
    saved = load_plan(plan_file)
    if html_path:
        from rebalance.html_report import write_html  # noqa: PLC0415 — only `show --html` needs it

        write_html(saved, html_path)
    click.echo(plan_to_json(saved) if as_json else _with_schedule(saved), nl=not as_json)


def _with_cordons(planning: PlanningInput, state_dir: str) -> tuple[PlanningInput, tuple[str, ...]]:
    """Recorded cordons override the declared host states, with one line per host it concerns."""
    overlaid = overlay_cordons(planning.cluster, read_cordons(state_dir))
    return replace(planning, cluster=overlaid.cluster), tuple(overlaid.lines)


def check_rules_match(planning: PlanningInput, strict: bool) -> None:
    """A rule that selects no VM: a warning on stderr, or with --strict the error itself."""
    for unmatched in planning.unmatched_rules():
        if strict:
            raise unmatched
        click.echo(f"warning: {unmatched} (an error with --strict)", err=True)


def _with_schedule(plan: Plan) -> str:
    """The plan, then the order apply would run it in."""
    text = render_plan(plan)
    return f"{text}\n\n{schedule_summary(plan)}" if plan.moves else text
