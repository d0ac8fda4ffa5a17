"""What the operator declares: the goal, the rules that must always hold, and the limits of a plan.

Rules select VMs (and hosts) by name or by labels, so one line covers a whole tier
(`vms: {labels: {app: db}}`) the way DRS rules and Nova server groups do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from planner.domain.goals import Goal
from planner.domain.model import EMPTY_LABELS


@dataclass(frozen=True)
class Selector:
    """Matches by name (any listed) or by labels (all listed); an empty selector matches nothing."""

    names: frozenset[str] = frozenset()
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY_LABELS)

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        if name in self.names:
            return True
        return bool(self.labels) and all(labels.get(k) == v for k, v in self.labels.items())

    def describe(self) -> str:
        parts = []
        if self.names:
            parts.append(", ".join(sorted(self.names)))
        if self.labels:
            parts.append(" ".join(f"{k}={v}" for k, v in sorted(self.labels.items())))
        return " or ".join(parts) or "nothing"


HOST_SCOPE = "host"


@dataclass(frozen=True)
class AntiAffinity:
    """At most one of the selected VMs per host, or per value of a host label such as `rack`."""

    name: str
    vms: Selector
    scope: str = HOST_SCOPE


@dataclass(frozen=True)
class MinSpread:
    """The selected VMs run on at least `at_least` distinct values of a host label (racks, zones),
    so losing one rack never takes out the whole service. A host without the label is a value of
    its own; `label: host` counts hosts."""

    name: str
    vms: Selector
    label: str
    at_least: int


@dataclass(frozen=True)
class Affinity:
    """The selected VMs end on one host."""

    name: str
    vms: Selector


@dataclass(frozen=True)
class Pin:
    """The selected VMs are never moved."""

    name: str
    vms: Selector


@dataclass(frozen=True)
class HostGroup:
    """The selected VMs may only run on the selected hosts."""

    name: str
    vms: Selector
    hosts: Selector


@dataclass(frozen=True)
class MoveFactor:
    """Moving the selected VMs counts `factor` times their memory (big caches, chatty databases)."""

    vms: Selector
    factor: int


@dataclass(frozen=True)
class MoveCosts:
    """How the solver weighs migrations when it picks among equally good plans: each moved VM costs
    memory × its factor (the largest that selects it, else 1) × `cross_factor` when source and
    destination differ in `cross_label`. Limits and reports stay in plain memory."""

    cross_label: str | None = None
    cross_factor: int = 1
    vms: tuple[MoveFactor, ...] = ()

    @property
    def weighted(self) -> bool:
        return (self.cross_label is not None and self.cross_factor != 1) or any(f.factor != 1 for f in self.vms)


@dataclass(frozen=True)
class ResourceBalance:
    """How spread weighs one extra named resource (see SpreadSettings); a declared resource the
    policy does not mention counts with weight 1 and threshold 0, like CPU and memory."""

    name: str
    weight: int = 1
    threshold_percent: float = 0.0


@dataclass(frozen=True)
class SpreadSettings:
    """Spread minimises the weighted peak utilisation; hosts under the thresholds count as fine.

    A threshold of 0 asks for the most even placement; 60 means "bring every host under 60 %,
    and don't move anything for hosts already under it".
    """

    cpu_threshold_percent: float = 0.0
    memory_threshold_percent: float = 0.0
    cpu_weight: int = 1
    memory_weight: int = 1
    resources: tuple[ResourceBalance, ...] = ()  # extra named resources, by name

    def balance_of(self, resource: str) -> ResourceBalance:
        return next((r for r in self.resources if r.name == resource), ResourceBalance(resource))


@dataclass(frozen=True)
class ConsolidateSettings:
    """Headroom a kept host must keep (measured CPU, and memory of the usable memory)."""

    max_cpu_percent: float = 80.0
    max_memory_percent: float = 90.0


# Off by default: what a GiB is worth depends on the cluster's size (measured with benchmarks.trade:
# 0.005 keeps the whole gain on benchmarks.solve's 1000x20000 but a fifth of it goes on a
# memory-tight 1000x20000, which migrates twice as much for its last 87 per-mille). Every spread
# plan notes the options, so the operator can set the value the cluster warrants.
DEFAULT_MIN_GAIN_PER_MOVED_GIB = 0.0
# A GiB worth a whole host's utilisation is as far as the knob usefully goes.
MAX_GAIN_PER_MOVED_GIB = 1000.0


@dataclass(frozen=True)
class Limits:
    max_moves: int | None = None
    max_moved_memory_mib: int | None = None
    # The benefit gate: a spread or consolidation plan that improves the goal metric by less than
    # this is not worth its migrations (drains are never gated).
    min_improvement_percent: float = 5.0
    # Spread only: what one GiB of migrated memory must buy, in per-mille of the goal (the weighted
    # peak). A plan moving G GiB more than another must lower the goal by G × this, or the lighter
    # plan is kept. 0 takes the best goal whatever it moves. See planner/solver/trade.py.
    min_gain_per_moved_gib: float = DEFAULT_MIN_GAIN_PER_MOVED_GIB


@dataclass(frozen=True)
class SolverSettings:
    """How long and how the solver searches.

    `time_limit_s` is wall-clock seconds the solver may take, a hard deadline. With `deterministic`
    (the default) the same inputs and seed give the same plan: CP-SAT interleaves its workers and is
    also capped by its deterministic clock, which counts work rather than time, at a budget derived
    from the limit and set so that this cap, not the wall clock, normally ends the search. On a
    heavily loaded machine the wall clock can end it first (or the greedy shortens its passes to its
    pace, planner/solver/pace.py); the plan then says "… this plan may not repeat" in its solver
    status or notes. `deterministic: false` searches
    until the wall clock with CP-SAT's parallel portfolio: often better plans, not reproducible.
    """

    time_limit_s: float = 10.0
    workers: int = 2
    seed: int = 0
    # Hosts offered to each movable VM besides its current host and the greedy's choice.
    candidates_per_vm: int = 12
    deterministic: bool = True


@dataclass(frozen=True)
class Policy:
    goal: Goal = Goal.SPREAD
    spread: SpreadSettings = SpreadSettings()
    consolidate: ConsolidateSettings = ConsolidateSettings()
    anti_affinity: tuple[AntiAffinity, ...] = ()
    affinity: tuple[Affinity, ...] = ()
    pins: tuple[Pin, ...] = ()
    host_groups: tuple[HostGroup, ...] = ()
    min_spread: tuple[MinSpread, ...] = ()
    excluded_hosts: frozenset[str] = frozenset()
    drain_hosts: frozenset[str] = field(default=frozenset())
    limits: Limits = Limits()
    move_costs: MoveCosts = MoveCosts()
    solver: SolverSettings = SolverSettings()
    # VMs to leave where they are this time (name → why: "in cooldown: moved 3 h ago", a budget),
    # unless a drained host or a broken hard rule needs them to move. Set by `rebalance run` from
    # its run history; not read from policy files.
    cooldown: Mapping[str, str] = field(default_factory=lambda: EMPTY_LABELS)
