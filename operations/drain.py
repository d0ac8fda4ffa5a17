"""`rebalance drain`: the steps between the cordon and the verified empty host.

The command (rebalance/drain_command.py) runs them in order: cordon the hosts, measure the
cluster, refuse or set aside what cannot live-migrate, plan with the drain goal, apply the plan
as `apply` does, then list whatever is still defined on the hosts. Each step here is a small
function over the planner's records, so a test can drive them on a simulated cluster.

A VM that cannot live-migrate never leaves on its own: the planner refuses a drain of a host that
keeps one. With `--unmigratable skip` those VMs are left out of what the planner sees (their host
takes no VMs anyway, so nothing can be placed beside them) and put back into the plan's snapshot,
so `apply` checks the plan against the whole live cluster.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from cluster.domain_metadata import NOVA_REASON
from operations.cluster_access import DrainSite
from operations.cordon_overlay import overlay_cordons
from operations.cordons import Cordon, add_cordons, current_user, read_cordons
from planner.domain.errors import InputError
from planner.domain.metrics import usage_by_host
from planner.domain.model import Cluster, VM
from planner.domain.plan import Plan
from planner.domain.policy import Policy
from planner.formats.inputs import PlanningInput, with_overrides
from planner.formats.safe_files import private_dir
from planner.solver.planning import make_plan

DRAIN_REASON = "drain"
DRAINS_DIR = "drains"
PLAN_FILE = "plan.json"


class UnmigratablePolicy(str, enum.Enum):
    FAIL = "fail"  # list them and move nothing
    SKIP = "skip"  # drain the others, report the ones left
    SHUTDOWN = "shutdown"  # power them off where they are (never forced), drain the others


@dataclass(frozen=True)
class Stuck:
    """A VM on a host to drain that cannot live-migrate, and why."""

    vm: str
    host: str
    memory_mib: int
    reason: str

    def describe(self) -> str:
        return f"{self.vm} on {self.host} ({self.memory_mib} MiB): {self.reason}"


def cordon_hosts(state_dir: str | Path, hosts: Iterable[str]) -> tuple[Cordon, ...]:
    """Recorded like `rebalance cordon --reason drain`: who and when, lasting until uncordon."""
    return add_cordons(state_dir, hosts, current_user(), DRAIN_REASON)


def check_hosts(known: Sequence[str], hosts: Sequence[str], source: str, at_once: int | None = None) -> None:
    """Before the cordon: every host to drain is the inventory's, and some host is left to take VMs
    (with `at_once`, hosts drained that many at a time, as maintain does)."""
    for name in hosts:
        if name not in known:
            raise InputError("HOST", f"{name} is not a host of {source} ({', '.join(known)})")
    if at_once is not None:
        if min(at_once, len(set(hosts))) >= len(set(known)):
            raise InputError("--parallel", f"{at_once} hosts out at once leaves nowhere for the VMs to go")
    elif set(hosts) >= set(known):
        raise InputError("HOST", "draining every host leaves nowhere for the VMs to go")


def check_measured(cluster: Cluster, hosts: Sequence[str]) -> None:
    """A host to drain that was not measured (unreachable, skipped) cannot be planned empty."""
    for name in hosts:
        if name not in cluster.host_by_name:
            raise InputError("HOST", f"{name} was not measured (unreachable?): it cannot be drained now")


def stuck_vms(cluster: Cluster, policy: Policy, hosts: Sequence[str]) -> tuple[Stuck, ...]:
    """VMs on `hosts` that will not live-migrate: what the collector found (local disks, host
    devices, Nova-managed, shut off) and what the policy pins."""
    found = []
    for vm in cluster.vms:
        if vm.host not in hosts:
            continue
        reason = _why_stuck(vm, policy)
        if reason:
            found.append(Stuck(vm.name, vm.host, vm.memory_mib, reason))
    return tuple(found)


def _why_stuck(vm: VM, policy: Policy) -> str:
    if not vm.migratable:
        return vm.unmigratable_reason or "not live-migratable"
    for pin in policy.pins:
        if pin.vms.matches(vm.name, vm.labels):
            return f"pinned by the policy's pin {pin.name!r}"
    return ""


def shutdown_refusal(item: Stuck) -> str:
    """Why `--unmigratable shutdown` leaves this VM alone ("" when it may power it off): Nova owns
    the guests it manages, and a guest in the middle of a migration is not ours to stop."""
    if NOVA_REASON in item.reason:
        return "managed by OpenStack Nova: stop it through Nova (openstack server stop)"
    if in_flight(item):
        return f"not shut down while {item.reason}"
    return ""


def in_flight(item: Stuck) -> bool:
    """Stuck only for now: a migration of it is under way (a crashed run's, finishing in libvirt)."""
    return item.reason.startswith("migrating") or "holds the room of" in item.reason


def needs_power_off(item: Stuck) -> bool:
    """A guest already shut off stays as it is (and is not started again after the maintenance)."""
    return not item.reason.startswith("shut off")


@dataclass(frozen=True)
class Survey:
    """The cluster as measured, with the recorded cordons over it, and what will not leave."""

    planning: PlanningInput
    stuck: tuple[Stuck, ...]
    warnings: tuple[str, ...]  # what could not be measured
    lines: tuple[str, ...]  # the demand basis and one line per cordoned host


def survey(site: DrainSite, hosts: Sequence[str], policy: Policy, policy_source: str,
           state_dir: str | Path) -> Survey:
    """Measure (as `plan --inventory` does), apply the cordons, find the VMs that will not leave."""
    reading = site.measure()
    check_measured(reading.cluster, hosts)
    overlaid = overlay_cordons(reading.cluster, read_cordons(state_dir))
    lines = ((reading.demand_line,) if reading.demand_line else ()) + overlaid.lines
    return Survey(PlanningInput(overlaid.cluster, policy, policy_source), stuck_vms(overlaid.cluster, policy, hosts),
                  tuple(reading.warnings), lines)


def drain_plan(surveyed: Survey, hosts: Sequence[str], time_limit_s: float | None) -> tuple[Plan, tuple[str, ...]]:
    """The drain goal's plan with the stuck VMs set aside (InfeasibleError when it cannot be met),
    and a warning per policy rule that selects no VM."""
    planning = drain_input(surveyed.planning, hosts, surveyed.stuck, time_limit_s)
    rules = planning.resolve()
    unmatched = tuple(f"warning: {rule}" for rule in planning.unmatched_rules())
    return with_skipped(make_plan(rules), surveyed.planning.cluster, surveyed.stuck), unmatched


def drain_input(planning: PlanningInput, hosts: Sequence[str], skipped: Iterable[Stuck],
                time_limit_s: float | None) -> PlanningInput:
    """The drain goal over the named hosts, without the VMs set aside."""
    left = {s.vm for s in skipped}
    cluster = replace(planning.cluster, vms=tuple(vm for vm in planning.cluster.vms if vm.name not in left))
    return with_overrides(replace(planning, cluster=cluster), drain=hosts, time_limit_s=time_limit_s)


def with_skipped(plan: Plan, full: Cluster, skipped: Sequence[Stuck]) -> Plan:
    """The plan over the whole cluster again, so apply's drift check sees every domain and the
    per-host figures count the VMs left; a host keeping a skipped VM is not reported drained."""
    if not skipped:
        return plan
    keeping = {s.host for s in skipped}
    cluster = replace(plan.cluster, vms=full.vms)
    after = cluster.placement | {m.vm: m.destination for m in plan.moves}
    return replace(plan, cluster=cluster, fingerprint="",
                   before=tuple(usage_by_host(cluster).values()), after=tuple(usage_by_host(cluster, after).values()),
                   drained_hosts=tuple(h for h in plan.drained_hosts if h not in keeping))


def drain_plan_path(state_dir: str | Path, now: datetime | None = None) -> Path:
    """STATE_DIR/drains/<UTC time>/plan.json; its journal lands beside it, so `rebalance apply`
    on that file resumes an interrupted drain."""
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return private_dir(Path(state_dir) / DRAINS_DIR / stamp, "--state-dir") / PLAN_FILE


def leftovers(defined: Mapping[str, tuple[str, ...]], expected: Iterable[Stuck]) -> dict[str, tuple[str, ...]]:
    """Domains still defined on the drained hosts that should have left (skipped VMs excepted)."""
    allowed = {(s.host, s.vm) for s in expected}
    found = {host: tuple(name for name in names if (host, name) not in allowed) for host, names in defined.items()}
    return {host: names for host, names in found.items() if names}


def summary(hosts: Sequence[str], plan: Plan | None, skipped: Sequence[Stuck]) -> str:
    """`lab-a drained: 3 VMs moved (96 MiB), host cordoned (uncordon with: rebalance uncordon lab-a)`."""
    moves = plan.moves if plan else ()
    memory = sum(m.memory_mib for m in moves)
    names = " ".join(hosts)
    plural = len(hosts) > 1
    left = ""
    if skipped:
        left = f", {len(skipped)} unmigratable VM{'s' if len(skipped) != 1 else ''} left: " + \
               ", ".join(f"{s.vm} on {s.host}" for s in skipped)
    return (f"{', '.join(hosts)} drained: {len(moves)} VM{'s' if len(moves) != 1 else ''} moved ({memory} MiB){left}, "
            f"host{'s' if plural else ''} cordoned (uncordon with: rebalance uncordon {names})")
