"""Plain-text rendering of plans: fixed-width tables that stay readable in a narrow terminal."""

from __future__ import annotations

from planner.metrics import HostUsage
from planner.plan import Plan
from planner.text_table import format_table


def percent(permille: int) -> str:
    return f"{permille / 10:.1f}"


def gib(mib: int) -> str:
    return f"{mib / 1024:.1f}"


def _change(before: str, after: str) -> str:
    return before if before == after else f"{before} → {after}"


def host_table(plan: Plan) -> str:
    after = {u.host: u for u in plan.after}
    states = {h.name: h.state.value for h in plan.cluster.hosts}
    rows = []
    for usage in plan.before:
        new: HostUsage = after[usage.host]
        tag = ""
        if usage.host in plan.drained_hosts:
            tag = "drained"
        elif usage.host in plan.freed_hosts:
            tag = "freed"
        rows.append([
            usage.host,
            states[usage.host],
            _change(str(usage.vms), str(new.vms)),
            _change(percent(usage.cpu_permille), percent(new.cpu_permille)),
            _change(percent(usage.memory_permille), percent(new.memory_permille)),
            _change(percent(usage.vcpu_permille), percent(new.vcpu_permille)),
            tag,
        ])
    return format_table(["host", "state", "VMs", "CPU %", "memory %", "vCPU alloc %", ""], rows, right=(2, 3, 4, 5))


def move_table(plan: Plan) -> str:
    rows = [
        [str(i), m.vm, m.source, m.destination, gib(m.memory_mib), str(m.vcpus), m.reason]
        for i, m in enumerate(plan.moves, start=1)
    ]
    return format_table(["#", "VM", "from", "to", "GiB", "vCPUs", "why"], rows, right=(0, 4, 5))


def _metric_change(before: int, after: int, unit: str) -> str:
    if before == after:
        return f"{after} {unit} (unchanged)"
    change = 100.0 * abs(before - after) / before if before else 0.0
    # A drain may raise the peak on the hosts that take the VMs: say so rather than "-3 % better".
    direction = "better" if after < before else "higher"
    return f"{before} → {after} {unit} ({change:.1f} % {direction})"


def render_plan(plan: Plan) -> str:
    metric = plan.metric
    lines = [
        f"Goal: {plan.goal.value} — {metric.name}: {_metric_change(metric.before, metric.after, metric.unit)}",
        f"Moves: {len(plan.moves)}, {gib(plan.moved_memory_mib)} GiB of memory to migrate",
        "",
        host_table(plan),
    ]
    if plan.moves:
        lines += ["", move_table(plan)]
    if plan.freed_hosts:
        lines += ["", f"Hosts freed: {', '.join(plan.freed_hosts)}"]
    bounds = plan.bounds
    lines += [
        "",
        f"Lower bounds: {metric.name} ≥ {bounds.goal} {metric.unit}; moves ≥ {bounds.moves}; "
        f"moved memory ≥ {gib(bounds.moved_memory_mib)} GiB",
        f"Solver: {plan.solver.method} ({plan.solver.status}) in {plan.solver.wall_time_s:.2f} s; "
        f"greedy start {plan.solver.greedy_goal} {metric.unit}",
    ]
    lines += [f"Note: {note}" for note in plan.notes]
    return "\n".join(lines)
