"""A drain that fits only once a few other VMs move aside.

A drain moves the drained hosts' VMs and nothing else when it can (drain_only.py). On a
memory-tight cluster it sometimes cannot: each drained VM may fit some other host on its own, but
the holes big enough for the largest (256 GiB and 64 vCPUs, say) are few, the drained VMs placed
before it take them, and a host with the memory free is often short of vCPUs. Refusing the
maintenance then is the wrong answer (vSphere's maintenance mode moves other VMs to make room
too). The drain is then repaired as if every VM could move, making room (room_making.py) only
where a drained VM fits nowhere; the VMs that repair moved aside are the only others the drain may
move, only to where the repair put them, and the plan names them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.domain.errors import InfeasibleError
from planner.instance.drain_only import EVERY_VM
from planner.instance.problem import Problem, build_problem, with_units
from planner.instance.state import PlacementState
from planner.rules.resolve import RuleSet
from planner.solver.greedy import repair, units_needing_repair


@dataclass(frozen=True)
class DrainStart:
    """The drain's problem, its repaired placement (None when the repair cannot drain the hosts:
    the caller's refusal path), and the VMs it moves besides those it must (empty unless needed)."""

    problem: Problem
    repaired: PlacementState | None
    aside: frozenset[str]


def drain_start(rules: RuleSet) -> DrainStart:
    problem = build_problem(rules)
    repaired = _repaired(problem)
    if repaired is not None:
        return DrainStart(problem, repaired, frozenset())
    roomy = build_problem(rules, also_movable=EVERY_VM)
    state = PlacementState(roomy)
    must_move = {unit.index for unit in units_needing_repair(state)}
    try:
        repair(state)
    except InfeasibleError:
        return DrainStart(problem, None, frozenset())
    # The others moved aside; the drain's own problem with just them free to move, each between
    # where it runs and where the repair put it (a search may bring it back when the room is not
    # needed, not move it anywhere for the drain's peak), placed as the repair left them (a
    # placement that moves nothing else, so valid there too).
    aside = [unit for unit in roomy.units
             if state.assignment[unit.index] != unit.member_hosts[0] and unit.index not in must_move]
    freed = with_units(problem, {unit.index: replace(unit, allowed=frozenset({unit.member_hosts[0],
                                                                            state.assignment[unit.index]}))
                                 for unit in aside})
    return DrainStart(freed, PlacementState(freed, state.assignment), frozenset(vm for unit in aside for vm in unit.vms))


def _repaired(problem: Problem) -> PlacementState | None:
    state = PlacementState(problem)
    try:
        repair(state)
    except InfeasibleError:
        return None
    return state
