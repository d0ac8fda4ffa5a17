"""Why a goal cannot be met, in operator terms: which hosts, which VMs, how much is missing."""

from __future__ import annotations

from planner.rules.min_spread import MinSpreadGroup
from planner.instance.problem import Problem, Unit
from planner.instance.state import PlacementState


def _gib(mib: int) -> str:
    return f"{mib / 1024:.1f} GiB"


def free_room(state: PlacementState, hosts: list[int]) -> tuple[int, int]:
    """(memory MiB, vCPUs) still free on `hosts` within their limits."""
    p = state.problem
    memory = sum(max(0, p.memory_limit[h] - state.memory[h]) for h in hosts)
    vcpus = sum(max(0, p.vcpu_limit[h] - state.vcpus[h]) for h in hosts)
    return memory, vcpus


def explain_no_room(state: PlacementState, unit: Unit, needy: list[Unit]) -> str:
    problem = state.problem
    names = [problem.hosts[i].name for i in range(len(problem.hosts))]
    drained = sorted(problem.rules.drained)
    allowed_elsewhere = sorted(h for h in unit.allowed if h != state.assignment[unit.index])
    label = "+".join(unit.vms)
    source = names[state.assignment[unit.index]]
    if not allowed_elsewhere and drained and source in drained:
        return (f"cannot drain {', '.join(drained)}: VM {label} has nowhere to go "
                f"({_why_no_host(problem, unit)})")
    if not allowed_elsewhere:
        return f"VM {label} on {source} must move but no host may take it ({_why_no_host(problem, unit)})"
    if drained:
        moving = [u for u in needy if problem.hosts[u.member_hosts[0]].name in problem.rules.drained]
        need_memory = sum(u.memory_mib for u in moving)
        need_vcpus = sum(u.vcpus for u in moving)
        others = sorted(problem.index_of_host[h] for h in problem.rules.destinations)
        free_memory, free_vcpus = free_room(state, others)
        if need_memory > free_memory or need_vcpus > free_vcpus:
            return (f"cannot drain {', '.join(drained)}: their VMs need {_gib(need_memory)} and {need_vcpus} vCPUs, "
                    f"the other hosts have {_gib(free_memory)} and {free_vcpus} vCPUs free")
    held = _held_by_min_spread(state, unit, allowed_elsewhere)
    if held is not None:
        return (f"cannot place VM {label} from {source}: every host with room would leave rule {held.name!r} "
                f"on fewer than {held.at_least} distinct {held.label}s")
    short = _extra_short(state, unit, allowed_elsewhere)
    if short is not None:
        return f"cannot place VM {label} from {source}: {short}"
    return (f"cannot place VM {label} ({_gib(unit.memory_mib)}, {unit.vcpus} vCPUs) from {source}: "
            f"{_short_of(state, unit, allowed_elsewhere)}")


def _short_of(state: PlacementState, unit: Unit, hosts: list[int]) -> str:
    """What no allowed host has enough of for `unit`, with the closest host: the one with the most
    memory free may be short of vCPUs, and naming only its memory read as if the VM fitted there."""
    problem, names = state.problem, [h.name for h in state.problem.hosts]
    memory = {h: problem.memory_limit[h] - state.memory[h] for h in hosts}
    vcpus = {h: problem.vcpu_limit[h] - state.vcpus[h] for h in hosts}
    most_memory, most_vcpus = max(hosts, key=memory.__getitem__), max(hosts, key=vcpus.__getitem__)
    if memory[most_memory] < unit.memory_mib:
        return (f"no allowed host has that much memory left "
                f"(most free: {_gib(memory[most_memory])} on {names[most_memory]})")
    if vcpus[most_vcpus] < unit.vcpus:
        return f"no allowed host has that many vCPUs left (most free: {vcpus[most_vcpus]} on {names[most_vcpus]})"
    if not any(memory[h] >= unit.memory_mib and vcpus[h] >= unit.vcpus for h in hosts):
        return (f"no allowed host has both left (most memory free: {_gib(memory[most_memory])} and "
                f"{vcpus[most_memory]} vCPUs on {names[most_memory]}; most vCPUs free: {vcpus[most_vcpus]} and "
                f"{_gib(memory[most_vcpus])} on {names[most_vcpus]})")
    roomy = next(h for h in hosts if memory[h] >= unit.memory_mib and vcpus[h] >= unit.vcpus)
    return (f"the hosts with its memory and vCPUs free (such as {names[roomy]}) are refused by its "
            f"anti-affinity rules or the load limit")


def _extra_short(state: PlacementState, unit: Unit, hosts: list[int]) -> str | None:
    """The extra resource no allowed host has enough of left for `unit`, if one is the reason."""
    problem = state.problem
    for k, (name, need) in enumerate(zip(problem.resources, unit.extra)):
        free = state.limits[hosts, 3 + k] - state.sizes[hosts, 3 + k]
        if need > 0 and int(free.max()) < need:
            best = hosts[int(free.argmax())]
            return (f"it needs {need:,} {name} and no allowed host has that much left "
                    f"(most free: {max(0, int(free.max())):,} on {problem.hosts[best].name})")
    return None


def _held_by_min_spread(state: PlacementState, unit: Unit, hosts: list[int]) -> MinSpreadGroup | None:
    """The min_spread rule that refuses `unit` a host it would otherwise fit on, if any."""
    if not unit.min_spread:
        return None
    p = state.problem
    for host in hosts:
        room = bool(state.room_for(unit)[host])
        group = state.min_spread_refusal(unit, host) if room and state.anti_affinity_ok(unit, host) else None
        if group is not None:
            return p.rules.min_spread[group]
    return None


def _why_no_host(problem: Problem, unit: Unit) -> str:
    rules = problem.rules
    groups = [g for g in rules.policy.host_groups if any(g.vms.matches(n, rules.cluster.vm_by_name[n].labels) for n in unit.vms)]
    if groups:
        return f"host group {groups[0].name!r} allows only hosts that are drained, excluded or disabled"
    return "every other host is drained, excluded or disabled"
