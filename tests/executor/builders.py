"""Plans without the solver: a cluster, a target placement, and the rest filled in trivially."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from planner.domain.metrics import usage_by_host
from planner.domain.model import VM, Cluster, Host
from planner.domain.plan import Bounds, GoalMetric, Move, Plan, SolverStats, default_expiry, utc_now
from planner.domain.policy import Goal

GIB = 1024
RESERVED = 512


def host(name: str, memory_gib: int = 16, cpus: int = 8, **extra: object) -> Host:
    """A host whose usable memory is exactly `memory_gib` GiB (the reserve is added on top)."""
    return Host(name, cpus=cpus, memory_mib=memory_gib * GIB + RESERVED, reserved_memory_mib=RESERVED, **extra)


def vm(name: str, on: str, memory_gib: int = 4, vcpus: int = 1) -> VM:
    return VM(name, host=on, vcpus=vcpus, memory_mib=memory_gib * GIB, uuid=f"uuid-{name}")


def make_plan(cluster: Cluster, target: Mapping[str, str], created: datetime | None = None,
              expires: datetime | None = None) -> Plan:
    created = created or utc_now()
    moves = tuple(
        Move(v.name, v.uuid, v.host, target[v.name], v.memory_mib, v.vcpus, v.cpu_load_millicores, "test")
        for v in cluster.vms if target.get(v.name, v.host) != v.host
    )
    placement = {**cluster.placement, **target}
    return Plan(
        goal=Goal.SPREAD,
        cluster=cluster,
        moves=moves,
        metric=GoalMetric("peak", "‰", 0, 0),
        before=tuple(usage_by_host(cluster).values()),
        after=tuple(usage_by_host(cluster, placement).values()),
        bounds=Bounds(0, 0, 0),
        solver=SolverStats("none", "test", 0.0, 0, 0),
        created=created,
        expires=expires or default_expiry(created),
    )


def expired_plan(cluster: Cluster, target: Mapping[str, str]) -> Plan:
    created = utc_now() - timedelta(days=3)
    return make_plan(cluster, target, created=created, expires=created + timedelta(hours=1))
