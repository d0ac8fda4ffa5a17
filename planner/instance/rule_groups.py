"""Anti-affinity and min_spread groups in solver terms: hosts mapped to domains, units to counts.

A *domain* is the set of hosts a rule treats as one place (a host, a rack, …); ids are small
integers local to each group. Groups are referred to by their index in the RuleSet's list.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Membership:
    """A unit's share of one rule group: an affinity group may put several of its VMs in it."""

    group: int  # index of the anti-affinity (or min_spread) group
    members: int  # how many of the unit's VMs belong to that group


@dataclass(frozen=True)
class AntiAffinityLayout:
    """One anti-affinity group: at most one member per domain."""

    domain_of_host: tuple[int, ...]  # host index → domain id (same id = same host/rack/…)
    units: tuple[int, ...]  # indexes of the units with a member in the group


@dataclass(frozen=True)
class SpreadLayout:
    """One min_spread group: its members on at least `at_least` distinct domains."""

    domain_of_host: tuple[int, ...]  # host index → domain id
    at_least: int
    units: tuple[int, ...]  # indexes of the units with a member in the group
