"""`rebalance maintain`, before anything moves: in which order the hosts go out, whether every step
leaves room for the others (N+1), and how long the migrations take by the executor's estimate.

The sequence is simulated step by step. Step i drains its group from the state the earlier steps
leave: with returning, the earlier groups' VMs went back, so that is the starting state; without,
the earlier hosts are back (active, uncordoned) and hold nothing, and their VMs are where the
earlier drain plans put them. The group being drained is cordoned (takes no VMs); the hosts of
later groups are active. Each step is checked twice: first by sums (operations/maintenance_room.py,
which names the shortfall), then by the real drain plan, the same one `rebalance drain` makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from executor.preview import preview_plan
from executor.schedule import Limits
from executor.simulated import SimulatedBackend
from operations.drain import Stuck, drain_input, with_skipped
from operations.maintenance_room import check_room
from planner.domain.errors import InfeasibleError, InputError
from planner.domain.model import Cluster, HostState
from planner.domain.plan import Move, Plan
from planner.formats.inputs import PlanningInput
from planner.solver.planning import make_plan


@dataclass(frozen=True)
class MaintenanceStep:
    """One group of hosts out at once."""

    hosts: tuple[str, ...]
    vms: int  # VMs the drain moves
    memory_mib: int  # memory it moves
    estimate_s: float  # the drain's migrations, by the executor's estimate (makespan)
    return_estimate_s: float  # with returning: moving them back, by the same estimate; else 0


@dataclass(frozen=True)
class MaintenanceSequence:
    steps: tuple[MaintenanceStep, ...]
    order_reason: str  # one line for the operator: which order and why

    def estimate_s(self) -> float:
        """Migration time of the whole sequence: every drain, and every return when returning
        (hooks and health waits not included: they are the operator's)."""
        return sum(step.estimate_s + step.return_estimate_s for step in self.steps)


def plan_sequence(planning: PlanningInput, hosts: Sequence[str], parallel: int, returning: bool,
                  limits: Limits, time_limit_s: float | None, keep_order: bool = False,
                  skipped: Sequence[Stuck] = ()) -> MaintenanceSequence:
    """Raises InputError for bad hosts or --parallel, InfeasibleError (naming the step's hosts) when
    a step cannot be drained into the hosts left."""
    _check_request(planning.cluster, hosts, parallel)
    ordered, reason = order_hosts(planning.cluster, hosts, parallel, keep_order, skipped)
    groups = [ordered[i:i + parallel] for i in range(0, len(ordered), parallel)]
    state = _with_states(planning.cluster, ordered, HostState.ACTIVE)
    replace(planning, cluster=state).resolve()  # a policy error is the policy's, not a step's
    steps = []
    for group in groups:
        plan = _drain_step(replace(planning, cluster=_with_states(state, group, HostState.DISABLED)), group,
                           [s for s in skipped if s.host in group], time_limit_s, parallel)
        after = _with_states(plan.cluster.with_placement(plan.target_placement), group, HostState.ACTIVE)
        back = _estimate(_reverse(plan, after), limits) if returning else 0.0
        steps.append(MaintenanceStep(group, len(plan.moves), plan.moved_memory_mib, _estimate(plan, limits), back))
        if not returning:
            state = after
    return MaintenanceSequence(tuple(steps), reason)


def order_hosts(cluster: Cluster, hosts: Sequence[str], parallel: int, keep_order: bool,
                skipped: Sequence[Stuck] = ()) -> tuple[tuple[str, ...], str]:
    """Least memory to move first (ties by name), so a failing hook shows up having moved the
    least; or the operator's order. The line says which."""
    stays = {s.vm for s in skipped}
    moving = {name: [vm for vm in cluster.vms_by_host[name] if vm.name not in stays] for name in hosts}
    memory = {name: sum(vm.memory_mib for vm in vms) for name, vms in moving.items()}
    ordered = tuple(hosts) if keep_order else tuple(sorted(hosts, key=lambda name: (memory[name], name)))
    listed = ", ".join(_host_load(name, len(moving[name]), memory[name]) for name in ordered)
    why = "as you gave them (--keep-order)" if keep_order else "least memory to move first (--keep-order keeps yours)"
    at_once = f", {parallel} hosts at a time" if parallel > 1 else ""
    return ordered, f"order: {listed}: {why}{at_once}"


def _host_load(name: str, vms: int, memory_mib: int) -> str:
    if not vms:
        return f"{name} (0 VMs)"
    return f"{name} ({vms} VM{'s' if vms != 1 else ''}, {memory_mib} MiB)"


def _check_request(cluster: Cluster, hosts: Sequence[str], parallel: int) -> None:
    if parallel < 1:
        raise InputError("--parallel", f"must be at least 1, got {parallel}")
    if not hosts:
        raise InputError("HOST", "name at least one host to maintain")
    seen: set[str] = set()
    for name in hosts:
        if name not in cluster.host_by_name:
            raise InputError("HOST", f"{name} was not measured (unreachable?): it cannot be maintained now")
        if name in seen:
            raise InputError("HOST", f"{name} is named twice")
        seen.add(name)


def _with_states(cluster: Cluster, hosts: Sequence[str], state: HostState) -> Cluster:
    return replace(cluster, hosts=tuple(replace(h, state=state) if h.name in hosts else h for h in cluster.hosts))


def _drain_step(planning: PlanningInput, group: tuple[str, ...], skipped: Sequence[Stuck],
                time_limit_s: float | None, parallel: int) -> Plan:
    """The drain plan of one step, over the whole cluster (skipped VMs included), or the reason it
    cannot be made, naming the step's hosts."""
    drain = drain_input(planning, group, skipped, time_limit_s)
    check_room(planning.cluster, drain.policy, group, {s.vm for s in skipped}, parallel)
    try:
        plan = make_plan(drain.resolve())
    except (InfeasibleError, InputError) as error:  # the rules held with every host in: this step breaks them
        raise InfeasibleError(f"maintenance of {', '.join(group)} cannot be planned: {error}") from None
    return with_skipped(plan, planning.cluster, skipped)


def _reverse(plan: Plan, after: Cluster) -> Plan:
    """The drain's moves backwards, from where the drain left the VMs: what returning them costs.
    Only for the estimate; the real return is planned after the hook (planner/solver/return_plan.py)."""
    moves = tuple(Move(m.vm, m.uuid, m.destination, m.source, m.memory_mib, m.vcpus, m.cpu_load_millicores,
                       f"returns to {m.source} after maintenance") for m in plan.moves)
    return replace(plan, cluster=after, moves=moves, fingerprint="")


def _estimate(plan: Plan, limits: Limits) -> float:
    """Seconds by the executor's estimate, as `apply --dry-run` shows them."""
    return preview_plan(plan, limits, SimulatedBackend(plan.cluster).estimate_s).timeline.makespan
