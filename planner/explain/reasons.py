"""Why each VM moves, in a sentence an operator can check against the before/after table."""

from __future__ import annotations

from collections.abc import Mapping

from planner.domain.metrics import HostUsage
from planner.domain.model import VM
from planner.domain.policy import Goal


def _pct(permille: int) -> str:
    return f"{permille / 10:.0f}%"


def move_reason(vm: VM, destination: str, goal: Goal, before: Mapping[str, HostUsage],
                after: Mapping[str, HostUsage], drained: frozenset[str], freed: frozenset[str],
                repairs: Mapping[str, str]) -> str:
    source = vm.host
    if source in drained:
        return f"drains {source} ({before[source].vms} VMs there)"
    if vm.name in repairs:
        return repairs[vm.name]
    if goal.minimises_hosts:
        was = before[source]
        if source in freed:
            return (f"empties {source} ({was.vms} VMs, {was.memory_mib / 1024:.1f} GiB) so it can be powered down")
        into, now = before[destination], after[destination]
        return (f"makes room to empty another host ({source} → {destination}: memory "
                f"{_pct(into.memory_permille)} → {_pct(now.memory_permille)})")
    was, now = before[source], after[source]
    if now.cpu_permille > was.cpu_permille or now.memory_permille > was.memory_permille:
        # The source ends busier: this VM leaves to make room for a bigger one (a swap), it does
        # not relieve its host. Say what it enables on the destination's side instead.
        into, then = before[destination], after[destination]
        return (f"makes room on {source} for a busier VM ({source} CPU {_pct(was.cpu_permille)} → "
                f"{_pct(now.cpu_permille)}; {destination} CPU {_pct(into.cpu_permille)} → {_pct(then.cpu_permille)})")
    return (f"relieves {source}: CPU {_pct(was.cpu_permille)} → {_pct(now.cpu_permille)}, "
            f"memory {_pct(was.memory_permille)} → {_pct(now.memory_permille)}")
