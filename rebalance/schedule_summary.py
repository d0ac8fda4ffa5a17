"""The order `rebalance apply` would run a fresh plan in, shown right after planning."""

from __future__ import annotations

from executor.config import ExecutorConfig
from executor.errors import UnsafePlanError
from executor.preview import preview_plan, render_schedule
from executor.simulated import DEFAULT_BANDWIDTH_MIB_S, SimulatedBackend
from planner.domain.plan import Plan

# Past this many steps the table drowns the plan; `apply --dry-run` prints all of it.
SHOWN_STEPS = 40


def schedule_summary(plan: Plan) -> str:
    config = ExecutorConfig()
    estimate = SimulatedBackend(plan.cluster, DEFAULT_BANDWIDTH_MIB_S).estimate_s
    try:
        preview = preview_plan(plan, config.limits, estimate)
    except UnsafePlanError as error:
        return f"Warning: {error}"
    text = render_schedule(preview)
    if len(preview.ordering.steps) <= SHOWN_STEPS:
        return text
    lines = text.splitlines()
    return "\n".join(lines[: SHOWN_STEPS + 3] + ["… (rebalance apply --dry-run shows every step)"])
