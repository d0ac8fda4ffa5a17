"""The disruption budget of one run: at most N moves, G GiB moved, P % of any host group's VMs.

Moves and GiB are the policy's own limits (the solver honours them exactly). The share is turned
into the same currency: P % of the whole cluster becomes a move limit, and a host group whose
VMs the plan moves beyond its share gets the surplus held back (Policy.cooldown, reason given)
and the plan is made again. Holding only ever grows, so this ends after at most one round per
group. A plan is never trimmed after the fact: dropping moves from a consolidation can leave the
remaining ones without the room they were planned into. Shares round up (Kubernetes disruption
budgets do the same), so any share above 0 lets at least one VM of a group move.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import MappingProxyType

from planner.domain.model import Cluster
from planner.domain.plan import Plan
from planner.domain.policy import Policy


@dataclass(frozen=True)
class Budget:
    max_moves: int | None = None
    max_moved_mib: int | None = None
    max_share_percent: float | None = None


def quota(share_percent: float, members: int) -> int:
    return math.ceil(members * share_percent / 100)


def with_limits(policy: Policy, budget: Budget, cluster: Cluster) -> Policy:
    """The policy's limits, tightened by the budget (the smaller of each wins)."""
    moves = [v for v in (policy.limits.max_moves, budget.max_moves) if v is not None]
    if budget.max_share_percent is not None:
        moves.append(quota(budget.max_share_percent, len(cluster.vms)))
    memory = [v for v in (policy.limits.max_moved_memory_mib, budget.max_moved_mib) if v is not None]
    limits = replace(policy.limits, max_moves=min(moves) if moves else None,
                     max_moved_memory_mib=min(memory) if memory else None)
    return replace(policy, limits=limits)


def over_share(plan: Plan, policy: Policy, share_percent: float) -> dict[str, str]:
    """For each host group the plan moves too many VMs of: the group's VMs to hold back (all but
    the first `quota` the plan moves), with the reason."""
    moved = [m.vm for m in plan.moves]
    held: dict[str, str] = {}
    for group in policy.host_groups:
        members = plan.cluster.select(group.vms.names, group.vms.labels)
        names = {vm.name for vm in members}
        allowed = quota(share_percent, len(members))
        moving = [name for name in moved if name in names]
        if len(moving) <= allowed:
            continue
        keep = set(moving[:allowed])
        reason = (f"held back by the disruption budget: at most {allowed} of host group {group.name}'s "
                  f"{len(members)} VMs move per run ({share_percent:g} %)")
        held.update({vm.name: reason for vm in members if vm.name not in keep})
    return held


def plan_within_budget(policy: Policy, budget: Budget, cluster: Cluster,
                       make: Callable[[Policy], Plan]) -> tuple[Plan, Policy]:
    """Plan with the budget's limits; hold back host groups' surplus and plan again until it fits.
    Returns the plan and the policy it was made with."""
    policy = with_limits(policy, budget, cluster)
    plan = make(policy)
    if budget.max_share_percent is None:
        return plan, policy
    for _ in range(len(policy.host_groups)):
        surplus = {k: v for k, v in over_share(plan, policy, budget.max_share_percent).items()
                   if k not in policy.cooldown}
        if not surplus:
            break
        policy = replace(policy, cooldown=MappingProxyType({**policy.cooldown, **surplus}))
        plan = make(policy)
    return plan, policy
