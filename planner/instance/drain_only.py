"""Which units a drain leaves where they run: all but the drained hosts' VMs and those breaking a
rule (problem.with_drain_lifted frees them again, for drain_room.py)."""

from __future__ import annotations

from collections.abc import Mapping

from planner.rules.min_spread import broken_at_start
from planner.rules.resolve import RuleSet


class DrainOnly:
    """A drain moves the VMs off the drained hosts and those breaking a rule; nothing else: every
    other unit is fixed where it runs (decided as each unit is built; rebuilding them afterwards
    was a second of a 100,000-VM drain)."""

    def __init__(self, rules: RuleSet, index_of_host: Mapping[str, int]) -> None:
        self.drained = {index_of_host[h] for h in rules.drained}
        # Any member of a min_spread group spread too thin may be the one that moves to fix it.
        self.thin = {name for g in rules.min_spread if broken_at_start(rules.cluster, g) for name in g.members}
        self.stay_on: dict[int, frozenset[int]] = {}  # one allowed set per host, shared by its units
        # Each unit kept in place, by index, with the hosts it may use otherwise: freeing them again
        # from this costs a tenth of working each unit's freedom out again at 200,000 VMs.
        self.kept: dict[int, frozenset[int]] = {}

    def stays(self, index: int, names: tuple[str, ...], member_hosts: tuple[int, ...],
              allowed: frozenset[int]) -> frozenset[int] | None:
        """The one host unit `index` keeps (where it runs), or None when it must move; `allowed`
        is where it may go when not kept."""
        current = member_hosts[0]
        # A split affinity group, a VM on a drained host, or one of a group spread too thin moves.
        # (The checks are spelled out for the one-VM unit: they run for every unit of a drain.)
        split = len(member_hosts) > 1 and any(h != current for h in member_hosts)
        if split or current not in allowed or current in self.drained or not self.thin.isdisjoint(names):
            return None
        self.kept[index] = allowed
        return self.stay_on.get(current) or self.stay_on.setdefault(current, frozenset({current}))
