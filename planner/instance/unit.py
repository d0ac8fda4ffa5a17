"""What moves as one: a single VM, or an affinity group whose members must end on one host.

A unit that may not move for the goal (pinned, or not involved in a drain) is *fixed*: it only adds
to its host's usage. Sizes are in the model's integer units (MiB, vCPUs, milli-cores).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from planner.instance.move_cost_matrix import MoveCostMatrix
from planner.instance.rule_groups import Membership


@dataclass(frozen=True)
class MoveWeights:
    """What a unit's migration weighs under the policy's move costs (absent: plain memory)."""

    member_weight: tuple[int, ...]  # per member, like member_memory: its memory × the VM's factor
    matrix: MoveCostMatrix  # shared by all units: × cross_factor between cross-label values


@dataclass(frozen=True)
class Unit:
    index: int
    vms: tuple[str, ...]
    member_hosts: tuple[int, ...]  # where each member runs now
    member_memory: tuple[int, ...]
    vcpus: int
    memory_mib: int
    cpu_load: int
    allowed: frozenset[int]  # hosts this unit may end on
    fixed: bool
    anti_affinity: tuple[Membership, ...]  # the anti-affinity groups a member belongs to, by index
    min_spread: tuple[Membership, ...] = ()  # the same for min_spread groups
    weights: MoveWeights | None = None
    extra: tuple[int, ...] = ()  # demand per extra resource, in the order of Problem.resources

    @property
    def current(self) -> int | None:
        """The host all members share now, or None for an affinity group split over hosts. Not a
        cached_property: Python 3.11 takes a lock to fill one, 7 µs per unit, most of building a
        100,000-VM drain; the one-VM case below costs a tenth of that each time."""
        hosts = self.member_hosts
        first = hosts[0]
        if len(hosts) == 1:
            return first
        return first if all(h == first for h in hosts) else None

    def move_cost(self, host: int) -> int:
        """MiB of memory that must migrate for this unit to end on `host`."""
        if len(self.member_hosts) == 1:  # most units are one VM; the greedy asks this millions of times
            return 0 if self.member_hosts[0] == host else self.memory_mib
        return sum(m for h, m in zip(self.member_hosts, self.member_memory) if h != host)

    def weighted_cost(self, host: int) -> int:
        """move_cost weighed by the policy's move costs: what the solver's tie-break minimises."""
        weights = self.weights
        if weights is None:
            return self.move_cost(host)
        cost = weights.matrix.cost
        return sum(cost(weight, h, host) for h, weight in zip(self.member_hosts, weights.member_weight))

    @property
    def weighted_memory(self) -> int:
        """Memory × VM factors: the cost of moving every member within its cross-label value."""
        weights = self.weights
        if weights is None:
            return self.memory_mib
        return sum(weights.member_weight)

    def moved_vms(self, host: int) -> int:
        return sum(1 for h in self.member_hosts if h != host)


UNIT_FIELDS = tuple(field.name for field in fields(Unit))


def unit_from(values: tuple[object, ...]) -> Unit:
    """A Unit of `values`, in UNIT_FIELDS' order, without the frozen dataclass's __init__, which
    sets each field through object.__setattr__ (a third of the time of building one, and large
    problems build 200,000 at once). The values go one by one into the instance's own dict, which
    keeps it the compact kind whose keys all units share: dict.update would not (528 bytes a unit
    instead of 256, 65 MiB more at 200,000; sys.getsizeof of the dict 464 bytes where 280)."""
    unit = object.__new__(Unit)
    own = unit.__dict__
    for name, value in zip(UNIT_FIELDS, values):
        own[name] = value
    return unit


def replaced(unit: Unit, **changes: object) -> Unit:
    """dataclasses.replace without __init__, as unit_from: copied from `unit`'s own dict, which
    keeps the copy's compact (and is the fastest way: a drain frees up to 200,000 units at once,
    problem.with_drain_lifted)."""
    twin = object.__new__(Unit)
    twin.__dict__.update(vars(unit), **changes)
    return twin
