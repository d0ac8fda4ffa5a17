"""Plain-text rendering of plans: fixed-width tables that stay readable in a narrow terminal."""

from __future__ import annotations

from planner.domain.metrics import HostUsage
from planner.domain.plan import Plan
from planner.formats.text_table import format_table


def terminal_safe(text: str) -> str:
    """Free text read from a plan file (reasons, notes) with every control character shown as '?':
    a plan is untrusted input, and an escape sequence in it must not reach the terminal."""
    return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)


def percent(permille: int) -> str:
    return f"{permille / 10:.1f}"


def gib(mib: int) -> str:
    return f"{mib / 1024:.1f}"


def _change(before: str, after: str) -> str:
    return before if before == after else f"{before} → {after}"


def host_table(plan: Plan) -> str:
    after = {u.host: u for u in plan.after}
    states = {h.name: h.state.value for h in plan.cluster.hosts}
    extras = plan.cluster.resource_names  # one column each: disk_iops %, …
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
            *(_change(percent(usage.extra_permille.get(name, 0)), percent(new.extra_permille.get(name, 0)))
              for name in extras),
            tag,
        ])
    headers = ["host", "state", "VMs", "CPU %", "memory %", "vCPU alloc %", *(f"{terminal_safe(n)} %" for n in extras), ""]
    return format_table(headers, rows, right=tuple(range(2, 6 + len(extras))))


BAR_WIDTH = 10
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(permille: int, width: int = BAR_WIDTH) -> str:
    """A fixed-width bar of block characters (eighths), capped at 100 %."""
    filled = max(0, min(permille, 1000)) * width * 8 // 1000
    whole, part = divmod(filled, 8)
    return ("█" * whole + (_EIGHTHS[part] if part else "")).ljust(width)


def bar_chart(plan: Plan) -> str:
    """Per host, CPU and memory before → after as bars: 2 × (10 + 10) columns plus labels, so a
    cluster stays readable in an 80-column terminal."""
    after = {u.host: u for u in plan.after}
    width = max(len(u.host) for u in plan.before)
    lines = [f"{'':{width}}  {'CPU before → after':<27}  memory before → after"]
    for usage in plan.before:
        new = after[usage.host]
        cpu = f"{bar(usage.cpu_permille)}│{bar(new.cpu_permille)} {new.cpu_permille / 10:3.0f}%"
        memory = f"{bar(usage.memory_permille)}│{bar(new.memory_permille)} {new.memory_permille / 10:3.0f}%"
        lines.append(f"{usage.host:<{width}}  {cpu:<27}  {memory}")
    return "\n".join(lines)


def move_table(plan: Plan) -> str:
    rows = [
        [str(i), m.vm, m.source, m.destination, gib(m.memory_mib), str(m.vcpus), terminal_safe(m.reason)]
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
        "",
        bar_chart(plan),
    ]
    if plan.moves:
        lines += ["", move_table(plan)]
    if plan.freed_hosts:
        lines += ["", f"Hosts freed: {', '.join(plan.freed_hosts)}"]
    lines += unmigratable_lines(plan)
    bounds = plan.bounds
    lines += [
        "",
        f"Lower bounds: {metric.name} ≥ {bounds.goal} {metric.unit}; moves ≥ {bounds.moves}; "
        f"moved memory ≥ {gib(bounds.moved_memory_mib)} GiB",
        *(f"  ({terminal_safe(note)})" for note in bounds.notes),
        f"Solver: {plan.solver.method} ({plan.solver.status}) in {plan.solver.wall_time_s:.2f} s; "
        f"greedy start {plan.solver.greedy_goal} {metric.unit}",
    ]
    lines += [f"Note: {terminal_safe(note)}" for note in plan.notes]
    return "\n".join(lines)


NAMES_PER_REASON = 5


def unmigratable_lines(plan: Plan) -> list[str]:
    """The VMs that cannot move at all, grouped by why (a Nova-managed VM says to go through Nova)."""
    by_reason: dict[str, list[str]] = {}
    for vm in plan.cluster.vms:
        if not vm.migratable:
            by_reason.setdefault(vm.unmigratable_reason or "no reason given", []).append(vm.name)
    if not by_reason:
        return []
    lines = ["", "Not migratable, left where they are:"]
    for reason, names in by_reason.items():
        shown = ", ".join(names[:NAMES_PER_REASON])
        more = f" and {len(names) - NAMES_PER_REASON} more" if len(names) > NAMES_PER_REASON else ""
        lines.append(f"  {shown}{more}: {reason}")
    return lines
