"""The ordered schedule as a person reads it: for `apply --dry-run`, and for `plan` to show later.

The durations are estimates (memory / bandwidth of the simulated backend); the order, the parking
detours and the waits are exactly what apply would follow from the plan's snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from executor.capacity import CapacityLedger
from executor.graph import Ordering, order_plan
from executor.schedule import Limits, Timeline, simulate
from executor.steps import StepKind
from planner.domain.plan import Plan
from planner.formats.text_table import format_table

SHOWN_WAITS = 3


@dataclass(frozen=True)
class Preview:
    ordering: Ordering
    timeline: Timeline
    limits: Limits


def preview_plan(plan: Plan, limits: Limits, estimate_s: Callable[[int], float]) -> Preview:
    """Order the plan and simulate its dispatch; raises UnsafePlanError as apply would."""
    ordering = order_plan(plan)
    ledger = CapacityLedger.from_placement(plan.cluster, plan.cluster.placement)
    return Preview(ordering, simulate(ordering, ledger, limits, lambda s: estimate_s(s.memory_mib)), limits)


def clock(seconds: float) -> str:
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def render_schedule(preview: Preview) -> str:
    ordering, timeline = preview.ordering, preview.timeline
    if not ordering.steps:
        return "Nothing to migrate."
    number = {entry.step.index: n for n, entry in enumerate(timeline.entries, start=1)}
    rows = []
    for n, entry in enumerate(timeline.entries, start=1):
        step = entry.step
        waits = [f"#{number[i]}" for i in ordering.waits_for(step.index) if i in number]
        shown = ", ".join(waits[:SHOWN_WAITS]) + (f" +{len(waits) - SHOWN_WAITS}" if len(waits) > SHOWN_WAITS else "")
        rows.append([str(n), clock(entry.start), clock(entry.end - entry.start), step.vm, step.source, step.destination,
                     f"{step.memory_mib / 1024:.1f}", _note(step.kind), shown])
    parked = len(ordering.parked)
    limits = preview.limits
    lines = [
        f"Schedule: {len(ordering.steps)} migrations"
        + (f" ({parked} parking detour{'s' if parked != 1 else ''} to break cycles)" if parked else "")
        + f", estimated {clock(timeline.makespan)} with at most {limits.max_parallel} at once"
        f" and {limits.per_host_outgoing} out / {limits.per_host_incoming} in per host",
        "",
        format_table(["#", "start", "takes", "VM", "from", "to", "GiB", "step", "after"], rows, right=(0, 1, 2, 6)),
    ]
    if timeline.stalled:
        lines += ["", f"Stalled: {len(timeline.stalled)} steps never got room (live capacity differs?)"]
    return "\n".join(lines)


def _note(kind: StepKind) -> str:
    return {StepKind.MOVE: "move", StepKind.PARK: "park (detour)", StepKind.UNPARK: "from parking",
            StepKind.RETURN: "back from parking"}[kind]
