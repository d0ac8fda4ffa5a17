"""`rebalance explain plan.json VM`: why this VM moves, or why it does not.

A plan knows its moves and their reasons, the cluster it was made from and its notes (the benefit
gate). Why a VM was *held* — a pin rule, an excluded host, a cooldown, the disruption budget —
comes from the rules it was planned under: `rebalance run` writes them beside the plan
(plan.context.json), and for a plan made by hand `--policy` resolves them again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.domain.checks import quote
from planner.formats.reading import read_document
from planner.formats.safe_files import write_private
from planner.domain.errors import InputError
from planner.domain.plan import Plan
from planner.rules.resolve import RuleSet


@dataclass(frozen=True)
class PlanContext:
    """What the planner held fixed and how far the budget went."""

    held: Mapping[str, str] = field(default_factory=dict)  # VM → why it may not move
    host_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # VM → the hosts it may use
    max_moves: int | None = None
    max_moved_mib: int | None = None


def context_of(rules: RuleSet) -> PlanContext:
    limits = rules.policy.limits
    return PlanContext(dict(rules.pin_reason), {vm: tuple(sorted(h)) for vm, h in rules.allowed_hosts.items()},
                       limits.max_moves, limits.max_moved_memory_mib)


def context_path(plan_path: str | Path) -> Path:
    return Path(plan_path).with_suffix(".context.json")


def write_context(context: PlanContext, path: str | Path) -> None:
    record = {"held": dict(context.held), "host_groups": {k: list(v) for k, v in context.host_groups.items()},
              "max_moves": context.max_moves, "max_moved_mib": context.max_moved_mib}
    write_private(path, json.dumps(record, indent=1) + "\n")


def read_context(path: str | Path) -> PlanContext:
    raw: Any = read_document(path)  # the one reading layer: size, UTF-8, nesting, duplicate keys
    try:
        return PlanContext(dict(raw["held"]), {k: tuple(v) for k, v in raw["host_groups"].items()},
                           raw["max_moves"], raw["max_moved_mib"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError("", f"unreadable plan context: {quote(str(error))}", str(path)) from None


def _pct(permille: int) -> str:
    return f"{permille / 10:.0f}%"


def explain_vm(plan: Plan, name: str, context: PlanContext | None) -> list[str]:
    """Sentences, most decisive first."""
    vm = plan.cluster.vm_by_name.get(name)
    if vm is None:
        raise InputError("VM", f"{name!r} is not in the plan's cluster")
    move = next((m for m in plan.moves if m.vm == name), None)
    if move is not None:
        return [f"{name} moves {move.source} → {move.destination} ({move.memory_mib / 1024:.1f} GiB){_why(move.reason)}.",
                _change(plan, move.source), _change(plan, move.destination)]
    lines = [f"{name} stays on {vm.host}."]
    if not vm.migratable:
        lines.append(f"It cannot migrate: {vm.unmigratable_reason or 'no reason given'}.")
    if context is not None and name in context.held:
        lines.append(f"It was held: {context.held[name]}.")
    if context is not None and name in context.host_groups:
        lines.append(f"Its host group allows only {', '.join(context.host_groups[name])}.")
    if not plan.moves:
        lines += [f"The plan moves nothing: {note}." for note in plan.notes] or ["The plan moves nothing."]
        return lines + _budget(plan, context)
    lines.append(_goal_reason(plan, vm.host))
    lines += _budget(plan, context)
    if context is None:
        lines.append("(Pins, cooldowns and host groups are not known for this plan: give --policy to check them.)")
    return lines


def _why(reason: str) -> str:
    """The move's reason as the end of the sentence: 'because …' and 'to …' follow the move as they
    are; an older plan's reason ('relieves a: …') after a colon."""
    if not reason:
        return ""
    return f" {reason}" if reason.startswith(("because ", "to ")) else f": {reason}"


def _change(plan: Plan, host: str) -> str:
    was = next(u for u in plan.before if u.host == host)
    now = next(u for u in plan.after if u.host == host)
    return (f"{host} with the whole plan: {was.vms} → {now.vms} VMs, CPU {_pct(was.cpu_permille)} → "
            f"{_pct(now.cpu_permille)}, memory {_pct(was.memory_permille)} → {_pct(now.memory_permille)}.")


def _goal_reason(plan: Plan, host: str) -> str:
    before = {u.host: u for u in plan.before}
    after = {u.host: u for u in plan.after}
    if plan.goal.traits.moves_only_drained or host in plan.drained_hosts:
        drained = ", ".join(plan.drained_hosts) or "none"
        return f"A drain moves only the VMs of the drained hosts ({drained}) and those breaking a rule."
    if plan.goal.minimises_hosts:
        freed = ", ".join(plan.freed_hosts) or "none"
        return (f"Its host {host} is kept ({after[host].vms} VMs after the plan); the plan empties {freed} "
                f"and moves only what emptying those needs.")
    was = before[host]
    peak_cpu = max(u.cpu_permille for u in plan.before)
    peak_memory = max(u.memory_permille for u in plan.before)
    relieved = sorted({m.source for m in plan.moves})
    if host in relieved:
        return (f"Its host {host} (CPU {_pct(was.cpu_permille)}, memory {_pct(was.memory_permille)}) is relieved by "
                f"moving other VMs, which cost less or fit better.")
    return (f"Its host {host} was not hot: CPU {_pct(was.cpu_permille)}, memory {_pct(was.memory_permille)}, "
            f"against peaks of {_pct(peak_cpu)} and {_pct(peak_memory)}; the moves relieve {', '.join(relieved)}.")


def _budget(plan: Plan, context: PlanContext | None) -> list[str]:
    if context is None:
        return []
    found = []
    if context.max_moves is not None and (len(plan.moves) >= context.max_moves or not plan.moves):
        found.append(f"The move budget allows at most {context.max_moves} moves; the plan uses {len(plan.moves)}.")
    if context.max_moved_mib is not None and plan.moved_memory_mib + 1024 > context.max_moved_mib:
        found.append(f"The memory budget is nearly used up: {plan.moved_memory_mib / 1024:.1f} of at most "
                     f"{context.max_moved_mib / 1024:.1f} GiB moved.")
    return found
