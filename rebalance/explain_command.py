"""`rebalance explain plan.json VM`: why did this VM move, or why not."""

from __future__ import annotations

import click

from planner.domain.errors import InputError
from planner.formats.inputs import PlanningInput
from planner.formats.plan_io import load_plan
from planner.formats.scenario import load_policy
from planner.explain.why_not import PlanContext, context_of, context_path, explain_vm, read_context
from rebalance.render import terminal_safe


@click.command(name="explain")
@click.argument("plan_file")
@click.argument("vm")
@click.option("--policy", "policy_path", metavar="FILE",
              help="The policy the plan was made with (pins, host groups, limits); default: the context "
                   "`rebalance run` wrote beside the plan, if any.")
def explain(plan_file: str, vm: str, policy_path: str | None) -> None:
    """Say why VM moves in PLAN_FILE (the rule it moved for, by name, with the VMs and hosts
    involved, or what it does for the goal), or why it stays: pinned or unmigratable, host group,
    cooldown, its host was not hot or was kept, the move budget, the benefit gate.

    \b
    Exit codes: 0, 2 an unknown VM or a bad file.
    """
    plan = load_plan(plan_file)
    context: PlanContext | None = None
    if policy_path:
        planning = PlanningInput(plan.cluster, load_policy(policy_path), policy_path)
        context = context_of(planning.resolve())
    elif context_path(plan_file).exists():
        context = read_context(context_path(plan_file))
    try:
        lines = explain_vm(plan, vm, context)
    except InputError as error:
        raise error.in_file(plan_file) from None
    for line in lines:
        click.echo(terminal_safe(line))
