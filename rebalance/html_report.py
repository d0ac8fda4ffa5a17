"""One self-contained HTML file per plan: before/after utilisation per host (CPU and memory), the
moves and why, the schedule's dependency graph in the order apply runs it, and the bounds.

No script, no font, no stylesheet or image from anywhere: inline CSS and inline SVG only, so the
report opens from a mail attachment on a machine with no network.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from executor.config import ExecutorConfig
from executor.errors import UnsafePlanError
from executor.preview import Preview, clock, preview_plan
from executor.simulated import DEFAULT_BANDWIDTH_MIB_S, SimulatedBackend
from planner.formats.safe_files import write_private
from planner.domain.plan import Plan

GRAPH_MAX_STEPS = 150  # past this the drawing is a hairball: the table of steps stays
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:70em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.legend span{display:inline-block;width:1em;height:.8em;margin:0 .3em 0 1em;vertical-align:middle}
svg text{font:12px system-ui,sans-serif}
"""
COLOURS = {"cpu-before": "#9ecae1", "cpu-after": "#08519c", "mem-before": "#fdae6b", "mem-after": "#a63603"}


def render_html(plan: Plan) -> str:
    metric = plan.metric
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>rebalance plan: {escape(plan.goal.value)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>rebalance plan — goal {escape(plan.goal.value)}</h1>",
        f"<p>{escape(metric.name)}: {metric.before} → {metric.after} {escape(metric.unit)}; "
        f"{len(plan.moves)} moves, {plan.moved_memory_mib / 1024:.1f} GiB of memory to migrate. "
        f"Planned {escape(plan.created.isoformat())}, expires {escape(plan.expires.isoformat())}.</p>",
        "<h2>Utilisation per host, before and after</h2>",
        _legend(),
        utilisation_chart(plan),
        "<h2>Moves</h2>",
        _move_table(plan),
        "<h2>Schedule</h2>",
        _schedule(plan),
        "<h2>Bounds</h2>",
        _bounds(plan),
    ]
    if plan.freed_hosts or plan.drained_hosts:
        parts.append(f"<p>Hosts emptied: {escape(', '.join(plan.freed_hosts + plan.drained_hosts))}</p>")
    parts += [f'<p class="note">Note: {escape(note)}</p>' for note in plan.notes]
    measured = plan.cluster.measured
    if measured:  # how old the figures are, and whether the CPU loads are one instant's or a statistic
        demand = f"; demand: {measured.demand.summary}" if measured.demand else ""
        parts.append(f'<p class="note">Measured {escape(measured.collected_at.isoformat())}{escape(demand)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(plan: Plan, path: str | Path) -> None:
    write_private(path, render_html(plan))


def _legend() -> str:
    names = {"cpu-before": "CPU before", "cpu-after": "CPU after", "mem-before": "memory before",
             "mem-after": "memory after"}
    items = "".join(f'<span style="background:{COLOURS[k]}"></span>{v}' for k, v in names.items())
    return f'<p class="legend">{items}</p>'


def utilisation_chart(plan: Plan) -> str:
    """Horizontal bars, one block per host (so a 200-host cluster grows down, not sideways)."""
    label_w, bar_w, row_h = 140, 420, 40
    after = {u.host: u for u in plan.after}
    height = row_h * len(plan.before) + 30
    out = [f'<svg id="utilisation-chart" width="{label_w + bar_w + 60}" '
           f'height="{height}" role="img" aria-label="CPU and memory utilisation per host, before and after">']
    for tick in (0, 25, 50, 75, 100):
        x = label_w + bar_w * tick / 100
        out.append(f'<line x1="{x:.0f}" y1="0" x2="{x:.0f}" y2="{height - 20}" stroke="#ccc"/>'
                   f'<text x="{x:.0f}" y="{height - 6}" text-anchor="middle">{tick}%</text>')
    for row, before in enumerate(plan.before):
        now = after[before.host]
        y = row * row_h + 4
        out.append(f'<text x="0" y="{y + 20}">{escape(before.host)}</text>')
        bars = (("cpu-before", before.cpu_permille), ("cpu-after", now.cpu_permille),
                ("mem-before", before.memory_permille), ("mem-after", now.memory_permille))
        for offset, (kind, permille) in enumerate(bars):
            width = bar_w * min(permille, 1000) / 1000
            what = kind.replace("mem", "memory").replace("-", " ")
            out.append(f'<rect class="{kind}" x="{label_w}" y="{y + offset * 8}" width="{width:.1f}" height="7" '
                       f'fill="{COLOURS[kind]}"><title>{escape(before.host)} {what}: {permille / 10:.1f}%</title></rect>')
    out.append("</svg>")
    return "".join(out)


def _move_table(plan: Plan) -> str:
    if not plan.moves:
        return "<p>No moves.</p>"
    rows = "".join(
        f"<tr><td class=n>{i}</td><td>{escape(m.vm)}</td><td>{escape(m.source)}</td><td>{escape(m.destination)}</td>"
        f"<td class=n>{m.memory_mib / 1024:.1f}</td><td class=n>{m.vcpus}</td><td>{escape(m.reason)}</td></tr>"
        for i, m in enumerate(plan.moves, start=1))
    return ("<table><tr><th>#</th><th>VM</th><th>from</th><th>to</th><th>GiB</th><th>vCPUs</th><th>why</th></tr>"
            f"{rows}</table>")


def _schedule(plan: Plan) -> str:
    if not plan.moves:
        return "<p>Nothing to migrate.</p>"
    estimate = SimulatedBackend(plan.cluster, DEFAULT_BANDWIDTH_MIB_S).estimate_s
    try:
        preview = preview_plan(plan, ExecutorConfig().limits, estimate)
    except UnsafePlanError as error:
        return f"<p>No safe order: {escape(str(error))}</p>"
    makespan = clock(preview.timeline.makespan)
    parked = len(preview.ordering.parked)
    text = (f"<p>{len(preview.ordering.steps)} steps ({parked} parking detour{'' if parked == 1 else 's'}), "
            f"about {makespan} at the default limits. An arrow means “starts after”.</p>")
    if len(preview.ordering.steps) > GRAPH_MAX_STEPS:
        return text + f"<p>(More than {GRAPH_MAX_STEPS} steps: the graph is not drawn.)</p>"
    return text + schedule_graph(preview)


def schedule_graph(preview: Preview) -> str:
    """Steps as boxes in columns by depth (a step sits right of everything it waits for)."""
    ordering = preview.ordering
    depth: dict[int, int] = {}
    for step in ordering.steps:
        depth[step.index] = 1 + max((depth.get(w, 0) for w in ordering.waits_for(step.index)), default=-1)
    columns: dict[int, list[int]] = {}
    for step in ordering.steps:
        columns.setdefault(depth[step.index], []).append(step.index)
    box_w, box_h, gap_x, gap_y = 190, 34, 50, 12
    position = {index: (col * (box_w + gap_x) + 5, row * (box_h + gap_y) + 5)
                for col, members in columns.items() for row, index in enumerate(members)}
    width = len(columns) * (box_w + gap_x) + 10
    height = max(len(m) for m in columns.values()) * (box_h + gap_y) + 10
    out = [f'<svg id="schedule-graph" width="{width}" height="{height}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
           'orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>']
    steps = {s.index: s for s in ordering.steps}
    for index in position:
        x, y = position[index]
        for before in ordering.waits_for(index):
            bx, by = position[before]
            out.append(f'<line x1="{bx + box_w}" y1="{by + box_h / 2}" x2="{x}" y2="{y + box_h / 2}" stroke="#555" '
                       f'marker-end="url(#arrow)"/>')
    number_of = {e.step.index: n for n, e in enumerate(preview.timeline.entries, start=1)}  # as apply --dry-run
    for index in position:
        step, (x, y), number = steps[index], position[index], number_of.get(index, "?")
        kind = step.kind.value
        out.append(f'<g class="step"><rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="4" '
                   f'fill="{"#fee" if kind != "move" else "#eef"}" stroke="#88a"/>'
                   f'<text x="{x + 6}" y="{y + 14}">#{number} {escape(step.vm)} ({escape(kind)})</text>'
                   f'<text x="{x + 6}" y="{y + 28}">{escape(step.source)} → {escape(step.destination)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _bounds(plan: Plan) -> str:
    bounds, metric = plan.bounds, plan.metric
    rows = [("goal", f"{escape(metric.name)} ≥ {bounds.goal} {escape(metric.unit)} (plan: {metric.after})"),
            ("moves", f"≥ {bounds.moves} (plan: {len(plan.moves)})"),
            ("moved memory", f"≥ {bounds.moved_memory_mib / 1024:.1f} GiB (plan: {plan.moved_memory_mib / 1024:.1f})"),
            ("solver", f"{escape(plan.solver.method)} ({escape(plan.solver.status)}) in {plan.solver.wall_time_s:.2f} s")]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    notes = "".join(f"<li>{escape(n)}</li>" for n in bounds.notes)
    return f"<table>{body}</table>" + (f"<ul>{notes}</ul>" if notes else "")
