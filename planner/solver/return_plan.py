"""After maintenance: move a host's original VMs back to it, where they still fit.

Not an optimisation: the operator asked for the VMs to go home, so each one returns unless that
breaks something. Greedy, largest memory first (the big ones are the hardest to place later),
ties by name so the same input gives the same plan. A move is kept when the independent validator
finds nothing on the tentative placement that the placement before the returns did not already
have: the cluster may already break a rule (that is not this plan's doing), but no return may add
a broken rule or overfill a host.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime

from planner.check.validate import validate_placement
from planner.domain.errors import InputError
from planner.domain.goal_metric import goal_metric
from planner.domain.goals import Goal
from planner.domain.metrics import usage_by_host
from planner.domain.model import Cluster, HostState, VM
from planner.domain.plan import Bounds, Move, Plan, SolverStats, default_expiry, utc_now
from planner.domain.policy import Policy

RETURN_METHOD = "return"


def plan_return(cluster: Cluster, policy: Policy, host: str, vms: Sequence[str],
                now: datetime | None = None) -> tuple[Plan, tuple[str, ...]]:
    """The plan moving back to `host` as many of `vms` (names that ran on it before its drain) as
    fit, and one line per VM left where it is, saying why."""
    started = time.monotonic()
    if host not in cluster.host_by_name:
        raise InputError("HOST", f"{host} is not in the measured cluster: no VM can return to it")
    baseline = {str(v) for v in validate_placement(cluster, policy, cluster.placement)}
    placement = cluster.placement
    returned: set[str] = set()
    left: list[str] = []
    for name, why in _unavailable(cluster, policy, host, vms):
        left.append(f"{name} {why}")
    for vm in _candidates(cluster, policy, host, vms):
        tentative = {**placement, vm.name: host}
        added = sorted({str(v) for v in validate_placement(cluster, policy, tentative)} - baseline)
        if added:
            left.append(f"{vm.name} stays on {vm.host}: would break {added[0]}")
            continue
        placement = tentative
        returned.add(vm.name)
    plan = _assemble(cluster, policy, host, placement, returned, tuple(left), len(_unique(vms)),
                     now or utc_now(), time.monotonic() - started)
    return plan, tuple(left)


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _unavailable(cluster: Cluster, policy: Policy, host: str, vms: Sequence[str]) -> list[tuple[str, str]]:
    """(VM, why) for each VM that cannot be offered a return at all, in the order given."""
    found = []
    for name in _unique(vms):
        vm = cluster.vm_by_name.get(name)
        if vm is None:
            found.append((name, f"does not return to {host}: no longer exists"))
        elif vm.host == host:
            found.append((name, f"already on {host}"))
        else:
            why = _stuck(vm, policy)
            if why:
                found.append((name, f"stays on {vm.host}: {why}"))
    return found


def _candidates(cluster: Cluster, policy: Policy, host: str, vms: Sequence[str]) -> list[VM]:
    """The VMs that may move, largest memory first, ties by name."""
    offered = [cluster.vm_by_name[n] for n in _unique(vms) if n in cluster.vm_by_name]
    movable = [vm for vm in offered if vm.host != host and not _stuck(vm, policy)]
    return sorted(movable, key=lambda vm: (-vm.memory_mib, vm.name))


def _stuck(vm: VM, policy: Policy) -> str:
    if not vm.migratable:
        return f"is not live-migratable ({vm.unmigratable_reason})" if vm.unmigratable_reason \
            else "is not live-migratable"
    for pin in policy.pins:
        if pin.vms.matches(vm.name, vm.labels):
            return f"pinned by the policy's pin {pin.name!r}"
    return ""


def _assemble(cluster: Cluster, policy: Policy, host: str, placement: Mapping[str, str], returned: set[str],
              left: tuple[str, ...], offered: int, now: datetime, wall_time_s: float) -> Plan:
    before, after = usage_by_host(cluster), usage_by_host(cluster, placement)
    # The spread metric over the hosts that take VMs, as a spread plan reports it.
    active = [h.name for h in cluster.hosts if h.state is HostState.ACTIVE and h.name not in policy.excluded_hosts]
    metric_hosts = active or [h.name for h in cluster.hosts]
    metric = goal_metric(Goal.SPREAD, policy.spread, [before[h] for h in metric_hosts],
                         [after[h] for h in metric_hosts])
    moves = tuple(Move(vm.name, vm.uuid, vm.host, host, vm.memory_mib, vm.vcpus, vm.cpu_load_millicores,
                       f"returns to {host} after maintenance")
                  for vm in cluster.vms if vm.name in returned)
    solver = SolverStats(method=RETURN_METHOD, status="greedy", wall_time_s=round(wall_time_s, 3),
                         greedy_goal=metric.after, objective=metric.after)
    bounds = Bounds(goal=0, moves=0, moved_memory_mib=0,
                    notes=("no bounds: a return moves VMs home, it does not optimise the goal",))
    notes = (f"returns {len(moves)} of {offered} VMs to {host} after maintenance",) + left
    return Plan(goal=Goal.SPREAD, cluster=cluster, moves=moves, metric=metric, before=tuple(before.values()),
                after=tuple(after.values()), bounds=bounds, solver=solver, created=now, expires=default_expiry(now),
                notes=notes)
