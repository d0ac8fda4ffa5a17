"""The plan: the contract between planning and execution.

`rebalance plan` writes it, `rebalance apply` needs nothing else but the live cluster. It carries
the snapshot it was planned from (so the executor can order moves against real capacities and tell
when the cluster has drifted), the moves with their reasons, before/after metrics, the lower bounds
and how the solver did.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from planner.domain.metrics import HostUsage
from planner.domain.model import Cluster
from planner.domain.policy import Goal

PLAN_FORMAT_VERSION = 1
DEFAULT_PLAN_LIFETIME = timedelta(hours=24)  # Watcher expires action plans after 24 h too


@dataclass(frozen=True)
class Move:
    vm: str
    uuid: str
    source: str
    destination: str
    memory_mib: int
    vcpus: int
    cpu_load_millicores: int
    reason: str = ""


@dataclass(frozen=True)
class GoalMetric:
    """The number the goal minimises, before and after the plan, and what it means."""

    name: str
    unit: str
    before: int
    after: int

    @property
    def improvement_percent(self) -> float:
        if self.before <= 0:
            return 0.0
        return 100.0 * (self.before - self.after) / self.before


@dataclass(frozen=True)
class Bounds:
    """Lower bounds next to the result: no plan can do better than these."""

    goal: int
    moves: int
    moved_memory_mib: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SolverStats:
    # "cp-sat", "lns", "greedy", "greedy (fallback: <why the solver plan was refused>)", "none",
    # or "return" (VMs moved back after maintenance, planner/solver/return_plan.py)
    method: str
    status: str
    wall_time_s: float
    greedy_goal: int
    objective: int
    best_bound: int | None = None
    variables: int = 0
    lns_rounds: int = 0


@dataclass(frozen=True)
class Plan:
    goal: Goal
    cluster: Cluster
    moves: tuple[Move, ...]
    metric: GoalMetric
    before: tuple[HostUsage, ...]
    after: tuple[HostUsage, ...]
    bounds: Bounds
    solver: SolverStats
    created: datetime
    expires: datetime
    freed_hosts: tuple[str, ...] = ()
    drained_hosts: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    version: int = PLAN_FORMAT_VERSION
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", cluster_fingerprint(self.cluster))

    @property
    def moved_memory_mib(self) -> int:
        return sum(m.memory_mib for m in self.moves)

    @property
    def target_placement(self) -> dict[str, str]:
        placement = self.cluster.placement
        placement.update({m.vm: m.destination for m in self.moves})
        return placement

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utc_now()) >= self.expires


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def default_expiry(created: datetime) -> datetime:
    return created + DEFAULT_PLAN_LIFETIME


def cluster_fingerprint(cluster: Cluster) -> str:
    """A hash of what makes a plan valid: hosts, their capacities, VMs, sizes and locations.

    Measured CPU load is left out on purpose: it moves every second, and a plan should only go
    stale when the placement or the sizes it was computed for change.
    """
    # Extra resources are hashed only where declared, so clusters without them keep their digests.
    hosts = sorted(
        (h.name, h.cpus, h.memory_mib, h.cpu_allocation_ratio, h.ram_allocation_ratio, h.reserved_memory_mib,
         h.state.value, *([sorted(h.resources.items())] if h.resources else []))
        for h in cluster.hosts
    )
    vms = sorted((v.name, v.uuid, v.host, v.vcpus, v.memory_mib, *([sorted(v.resources.items())] if v.resources else []))
                 for v in cluster.vms)
    digest = hashlib.sha256(json.dumps([hosts, vms], separators=(",", ":")).encode()).hexdigest()
    return f"sha256:{digest}"
