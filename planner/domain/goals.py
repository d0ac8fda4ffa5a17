"""The three goals, and what each one means, in one place.

Every part of the planner that behaves differently per goal reads the goal's traits here rather
than testing which goal it is: what the goal minimises, which VMs may move, whether receiving hosts
keep the consolidation headroom, whether a plan must clear the benefit gate, and whether emptied
hosts are reported as freed. Spread and drain share an objective (the weighted peak): a drain is a
spread in which only the drained hosts' VMs, and those breaking a rule, may move.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Objective(enum.Enum):
    WEIGHTED_PEAK = "weighted peak"  # CPU and memory peaks in per-mille, weighted by policy.spread
    HOSTS_IN_USE = "hosts in use"  # hosts left with at least one VM


@dataclass(frozen=True)
class GoalTraits:
    objective: Objective
    moves_only_drained: bool  # every VM not on a drained host stays (unless it breaks a rule)
    keeps_headroom: bool  # hosts that receive VMs end within policy.consolidate's percentages
    benefit_gate: bool  # the plan runs only if it improves the goal by limits.min_improvement_percent
    reports_freed_hosts: bool  # hosts the plan empties are listed for the freed-host hook


class Goal(str, enum.Enum):
    SPREAD = "spread"
    CONSOLIDATE = "consolidate"
    DRAIN = "drain"

    @property
    def traits(self) -> GoalTraits:
        return _TRAITS[self]

    @property
    def minimises_hosts(self) -> bool:
        return self.traits.objective is Objective.HOSTS_IN_USE


_TRAITS = {
    Goal.SPREAD: GoalTraits(Objective.WEIGHTED_PEAK, moves_only_drained=False, keeps_headroom=False,
                            benefit_gate=True, reports_freed_hosts=False),
    Goal.CONSOLIDATE: GoalTraits(Objective.HOSTS_IN_USE, moves_only_drained=False, keeps_headroom=True,
                                 benefit_gate=True, reports_freed_hosts=True),
    Goal.DRAIN: GoalTraits(Objective.WEIGHTED_PEAK, moves_only_drained=True, keeps_headroom=False,
                           benefit_gate=False, reports_freed_hosts=False),
}
