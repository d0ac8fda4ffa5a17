"""Is the plan still good for the live cluster? Refuse expired or drifted plans unless forced.

The plan's own VMs may be anywhere on their way (a resumed run, a VM gone since): the runner
settles those move by move. Anything else that changed — another VM moved, resized, appeared or
disappeared — means the capacities the plan was ordered against are not the real ones: stale.
Hosts that cannot be reached are not counted as drift: their moves fail on their own.
"""

from __future__ import annotations

from datetime import datetime

from executor.hypervisor import LiveState
from planner.domain.errors import StalePlanError
from planner.domain.plan import Plan, utc_now
from cluster.sightings import PLACEHOLDER_LABEL

SHOWN_DIFFERENCES = 3


def drift(plan: Plan, live: LiveState) -> tuple[str, ...]:
    """Differences between the live cluster and the plan's snapshot, beyond the plan's own moves."""
    moving = {m.vm for m in plan.moves}
    # A plan made with `--memory-demand used` sized VMs by what their guests use, which moves all
    # the time; the live figure is the allocation. Only a change of vCPUs is drift then.
    basis = plan.cluster.measured.demand if plan.cluster.measured else None
    by_allocation = basis is None or basis.memory == "allocated"
    found = []
    for vm in plan.cluster.vms:
        if PLACEHOLDER_LABEL in vm.labels:
            continue  # room held for a migration that was running when the plan was made: not a domain
        now = live.vms.get(vm.name)
        if now is None:
            if vm.name not in moving and vm.host not in live.unreachable:
                found.append(f"VM {vm.name} is gone from {vm.host}")
            continue
        if now.vcpus != vm.vcpus or (by_allocation and now.memory_mib != vm.memory_mib):
            found.append(f"VM {vm.name} is now {now.memory_mib} MiB/{now.vcpus} vCPUs "
                         f"(plan: {vm.memory_mib} MiB/{vm.vcpus} vCPUs)")
        elif vm.name not in moving and now.host != vm.host:
            found.append(f"VM {vm.name} is on {now.host} (plan: {vm.host})")
    known = plan.cluster.vm_by_name
    for name, now in sorted(live.vms.items()):
        if name not in known and now.host in plan.cluster.host_by_name:
            found.append(f"new VM {name} on {now.host}")
    return tuple(found)


def check_fresh(plan: Plan, live: LiveState, force: bool, now: datetime | None = None) -> tuple[str, ...]:
    """Raise StalePlanError for an expired or drifted plan; with `force`, return the reasons as warnings."""
    problems = []
    if plan.expired(now or utc_now()):
        problems.append(f"the plan expired at {plan.expires.isoformat()}")
    differences = drift(plan, live)
    if differences:
        shown = "; ".join(differences[:SHOWN_DIFFERENCES])
        more = f" and {len(differences) - SHOWN_DIFFERENCES} more" if len(differences) > SHOWN_DIFFERENCES else ""
        problems.append(f"the cluster changed since it was planned ({shown}{more})")
    if problems and not force:
        raise StalePlanError(f"stale plan: {'; '.join(problems)}. Make a new plan, or use --force to apply it anyway")
    return tuple(problems)
