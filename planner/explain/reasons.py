"""Why each VM moves, in a sentence an operator can check against the before/after table.

A VM that moved for a hard rule names the rule and the facts first ("because anti-affinity
'webs-apart' had web-1 and web-2 on b"), then the goal when the same move also serves it ("; also
to lower the peak: b CPU 92% → 71%"). A VM that moved for the goal alone says what it did for the
goal: lowered the peak or brought a host under a spread threshold, emptied a host, drained one.
Computed here, in the planner, from the placement before and after, so plan.json carries it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from planner.domain.metrics import HostUsage
from planner.domain.model import VM
from planner.domain.policy import Goal
from planner.explain.rule_reasons import rule_reasons
from planner.explain.wording import bounded, gib, pct
from planner.rules.resolve import RuleSet


@dataclass(frozen=True)
class GoalView:
    """What a goal reason reads: the goal, usage before and after, and the thresholds and peaks."""

    goal: Goal
    before: Mapping[str, HostUsage]
    after: Mapping[str, HostUsage]
    drained: frozenset[str]  # hosts the drain goal empties (policy.drain_hosts)
    closed: frozenset[str]  # hosts every VM must leave (drained ones, hosts in maintenance)
    freed: frozenset[str]
    weights: tuple[int, int]  # (CPU, memory) spread weights: a peak with weight 0 is not the goal's
    floors: tuple[int, int]  # spread thresholds in per-mille
    peaks: tuple[int, int]  # peak CPU ‰ and memory ‰ before, over the hosts the metric looks at


def move_reasons(rules: RuleSet, goal: Goal, placement: Mapping[str, str], before: Mapping[str, HostUsage],
                 after: Mapping[str, HostUsage], freed: frozenset[str],
                 repairs: Mapping[str, str]) -> dict[str, str]:
    """Moved VM → why. `repairs` is the planner's own list of rule breakers: its generic text is
    kept for a VM no named rule accounts for."""
    view = _view(rules, goal, before, after, freed)
    by_rule = rule_reasons(rules, placement, before, after)
    reasons = {}
    for vm in rules.cluster.vms:
        destination = placement.get(vm.name, vm.host)
        if destination == vm.host:
            continue
        for_goal, serves = goal_reason(vm, destination, view)
        clauses = by_rule.get(vm.name)
        if clauses:
            text = "because " + "; and ".join(clauses) + (f"; also {for_goal}" if serves else "")
        elif vm.name in repairs and vm.host not in rules.drained:  # a drained host's VMs move for the drain
            text = repairs[vm.name]
        else:
            text = for_goal
        reasons[vm.name] = bounded(text)
    return reasons


def _view(rules: RuleSet, goal: Goal, before: Mapping[str, HostUsage], after: Mapping[str, HostUsage],
          freed: frozenset[str]) -> GoalView:
    spread = rules.policy.spread
    metric = [u for h, u in before.items() if h not in rules.excluded] or list(before.values())
    return GoalView(goal, before, after, frozenset(rules.policy.drain_hosts), rules.drained, freed,
                    (spread.cpu_weight, spread.memory_weight),
                    (round(spread.cpu_threshold_percent * 10), round(spread.memory_threshold_percent * 10)),
                    (max(u.cpu_permille for u in metric), max(u.memory_permille for u in metric)))


def goal_reason(vm: VM, destination: str, view: GoalView) -> tuple[str, bool]:
    """(what the move does for the goal, whether it serves the goal by itself: empties or drains
    its host, lowers a peak or brings its host under a threshold — as opposed to making room)."""
    source = vm.host
    was = view.before[source]
    if view.goal.traits.moves_only_drained and source in view.drained:
        return f"to drain {source} ({was.vms} VMs there)", True
    if view.goal.traits.moves_only_drained and source not in view.closed:
        # No rule moved it: a drain moves another host's VM only to make room (drain_room.py).
        return f"moved aside to make room on {source} for a VM of a drained host", False
    if view.goal.minimises_hosts:
        if source in view.freed:
            return f"to empty {source} ({was.vms} VMs, {gib(was.memory_mib)} GiB) so it can be powered down", True
        into, now = view.before[destination], view.after[destination]
        return (f"to make room to empty another host ({source} → {destination}: memory "
                f"{pct(into.memory_permille)} → {pct(now.memory_permille)})"), False
    return _spread_reason(source, destination, view)


def _spread_reason(source: str, destination: str, view: GoalView) -> tuple[str, bool]:
    was, now = view.before[source], view.after[source]
    if now.cpu_permille > was.cpu_permille or now.memory_permille > was.memory_permille:
        # The source ends busier: this VM leaves to make room for a bigger one (a swap), it does
        # not relieve its host. Say what it enables on the destination's side instead.
        into, then = view.before[destination], view.after[destination]
        return (f"to make room on {source} for a busier VM ({source} CPU {pct(was.cpu_permille)} → "
                f"{pct(now.cpu_permille)}; {destination} CPU {pct(into.cpu_permille)} → {pct(then.cpu_permille)})"), False
    # A drain moves other VMs only for rules: lowering a peak is then a side effect, not a purpose.
    serves = not view.goal.traits.moves_only_drained
    dimensions = (("CPU", was.cpu_permille, now.cpu_permille), ("memory", was.memory_permille, now.memory_permille))
    over = [(what, floor, a, b) for (what, a, b), floor, weight in zip(dimensions, view.floors, view.weights)
            if weight and floor and a > floor and b < a]
    if over:
        what, floor, a, b = over[0]
        return f"to bring {source} under the {pct(floor)} {what} threshold: {pct(a)} → {pct(b)}", serves
    peaks = [f"{what} {pct(a)} → {pct(b)}" for (what, a, b), peak, floor, weight
             in zip(dimensions, view.peaks, view.floors, view.weights) if weight and a == peak > floor and b < a]
    if peaks:
        return f"to lower the peak: {source} {', '.join(peaks)}", serves
    return (f"to relieve {source}: CPU {pct(was.cpu_permille)} → {pct(now.cpu_permille)}, "
            f"memory {pct(was.memory_permille)} → {pct(now.memory_permille)}"), False
