"""A drain that fits only once a few other VMs move aside.

A drain moves the drained hosts' VMs and nothing else when it can (drain_only.py). On a
memory-tight cluster it sometimes cannot: each drained VM may fit some other host on its own, but
the holes big enough for the largest (256 GiB and 64 vCPUs, say) are few, the drained VMs placed
before it take them, and a host with the memory free is often short of vCPUs. Refusing the
maintenance then is the wrong answer (vSphere's maintenance mode moves other VMs to make room
too). The drain's repair then carries on from where it stopped as if every VM could move, making
room (room_making.py) only where a drained VM fits nowhere; the VMs it moved aside are the only
others the drain may move, only to where the repair put them, and the plan names them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.domain.errors import InfeasibleError
from planner.instance.problem import Problem, Unit, build_problem, with_drain_lifted, with_units
from planner.instance.state import PlacementState
from planner.rules.resolve import RuleSet
from planner.solver.greedy import repair


# VMs moved aside named in a note or refusal (the plan's moves list them all).
NAMED = 5


@dataclass(frozen=True)
class DrainStart:
    """The drain's problem, the placement now as its state, its repaired placement, or else
    (`repaired` None) why the repair cannot drain the hosts (`refusal`, for the caller's refusal
    path), and the VMs it moves besides those it must (empty unless needed)."""

    problem: Problem
    start: PlacementState
    repaired: PlacementState | None
    aside: frozenset[str]
    refusal: InfeasibleError | None = None


def drain_start(rules: RuleSet) -> DrainStart:
    """Raises InfeasibleError when the drain fits only with VMs moved aside and the policy's move
    limits do not allow them (the message says so: the repair's own would only name a VM that fits
    nowhere)."""
    problem = build_problem(rules)
    start = PlacementState(problem)
    state = start.copy()
    try:
        repair(state)
    except InfeasibleError as refusal:
        strict_refusal = refusal
    else:
        return DrainStart(problem, start, state, frozenset())
    made = _room_made(problem, state)
    if made is None:
        _refuse_if_only_the_limits_stop_it(problem, rules, state)
        return DrainStart(problem, start, None, frozenset(), strict_refusal)
    state, aside = made
    # The drain's own problem with just those free to move, each between where it runs and where
    # the repair put it (a search may bring it back when the room is not needed, not move it
    # anywhere for the drain's peak), placed as the repair left them (a placement that moves
    # nothing else, so valid there too).
    freed = with_units(problem, {unit.index: replace(unit, allowed=frozenset({unit.member_hosts[0],
                                                                            state.assignment[unit.index]}))
                                 for unit in aside})
    return DrainStart(freed, start.under(freed), state.under(freed), _names(aside))


def _room_made(problem: Problem, partial: PlacementState) -> tuple[PlacementState, list[Unit]] | None:
    """The drain's repair continued from where it stopped (`partial`, a state of `problem` it
    leaves as it is) with every VM free to move, and the units it moved aside (those `problem`
    keeps fixed); None when even that repair fails. Continuing keeps what the repair placed moving
    only the drained VMs, and the work it did."""
    # It keeps `problem`'s limits: a host already over its capacity (what stays fixed there raised
    # its limit) is not the drain's to relieve, so no VM is moved off it as if it broke a rule.
    roomy = with_drain_lifted(problem)
    state = partial.under(roomy)
    try:
        repair(state)
    except InfeasibleError:
        return None
    return state, [unit for unit in roomy.units
                   if state.assignment[unit.index] != unit.member_hosts[0] and problem.units[unit.index].fixed]


def _refuse_if_only_the_limits_stop_it(problem: Problem, rules: RuleSet, partial: PlacementState) -> None:
    limits = rules.policy.limits
    if limits.max_moves is None and limits.max_moved_memory_mib is None:
        return
    unlimited = replace(limits, max_moves=None, max_moved_memory_mib=None)
    lifted = replace(rules, policy=replace(rules.policy, limits=unlimited))
    made = _room_made(replace(problem, rules=lifted), partial)
    if made is None or not made[1]:
        return
    state, aside = made
    names = _names(aside)
    raise InfeasibleError(
        f"cannot drain {', '.join(sorted(rules.drained))} within the limits: its VMs fit only once {len(names)} "
        f"other VM(s) move aside ({named(names)}), {state.moved_vms} moves and {state.moved_mib / 1024:.1f} GiB in "
        f"all; raise limits.max_moves / max_moved_gib, or pin the VMs that must not move")


def named(names: frozenset[str]) -> str:
    """The first NAMED of `names` in order, and how many more: the VMs moved aside, for a note."""
    ordered = sorted(names)
    return ", ".join(ordered[:NAMED]) + (f" and {len(ordered) - NAMED} more" if len(ordered) > NAMED else "")


def _names(units: list[Unit]) -> frozenset[str]:
    return frozenset(vm for unit in units for vm in unit.vms)
