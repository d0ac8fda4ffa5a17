"""Less memory migrated for the same peak: a moved VM goes back home, and its home sheds cheaper VMs.

The spread greedy takes a host off its peak with what relieves it most at the time; later steps
then move more around those choices, and where memory is tight a hot VM that left needs a swap or an
exchange at its destination. Afterwards some of that is dearer than needed. For each moved VM,
largest first: it goes back to the host it started on, and if that host is now above the peaks it
sheds VMs, the ones that came to it first (sending one on costs no more memory, sending it home
saves it), then those with the least memory per millicore of load, each to the coolest host that
takes it under the peaks (the greedy's own ranking, `peak_relief.coolness`). The trial stays when
the plan's move cost fell and every host is within its limits, the rules and the peaks the pass
began with; otherwise it is undone. The goal never rises, and the plan is valid after every trial.

On the memory-tight 1000x20000 clusters of benchmarks.tight (fill 0.80, seeds 1-3) it takes 12-19 %
off the memory the plan migrates at the same peak.
"""

from __future__ import annotations

from planner.instance.problem import Unit
from planner.instance.state import PlacementState
from planner.solver.caps import Caps
from planner.solver.greedy_budget import GreedyBudget
from planner.solver.landing import ranked_landing, within_caps
from planner.solver.peak_relief import coolness


def send_home(state: PlacementState, budget: GreedyBudget | None = None) -> int:
    """One pass over the moved VMs, largest first, until `budget` is spent; how many went home."""
    if budget is not None and budget.work_ran_out():
        return 0  # before listing the moved VMs: a pass over every VM, long on the largest clusters
    # Every cap fixed where the pass starts, extra resources' too: left to follow the live peaks, a
    # VM going home could raise an extra resource's peak and find itself under the raised cap.
    caps = Caps(*state.peaks(), state.extra_caps())
    problem = state.problem
    hosts, resources = len(problem.hosts), len(problem.resources)
    moved = sorted((unit for unit in problem.movable if _away(state, unit)),
                   key=lambda unit: (-unit.memory_mib, unit.index))
    kept = 0
    for unit in moved:
        if budget is not None and budget.spent():
            break
        if not _away(state, unit) or not state.fits(unit, unit.current):
            continue
        went_home, tried = _try_home(state, unit, caps)
        if budget is not None:
            budget.homecoming(tried, hosts, resources)
        kept += went_home
    return kept


def _away(state: PlacementState, unit: Unit) -> bool:
    return unit.current is not None and state.assignment[unit.index] != unit.current


def _try_home(state: PlacementState, unit: Unit, caps: Caps) -> tuple[bool, int]:
    """Send `unit` home and shed its home back under `caps`; kept when the move cost fell, else
    undone. Whether it was kept, and how many VMs its landing searches tried (for the budget)."""
    home, mark, cost = unit.current, len(state.moves), state.move_cost
    state.move(unit, home)
    tried = 0
    if not within_caps(state, home, caps):
        tried = _shed(state, home, unit, caps, cost)
    if state.move_cost < cost and within_caps(state, home, caps):
        state.mark_step()
        return True, tried
    state.undo_to(mark)
    return False, tried


def _shed(state: PlacementState, home: int, returned: Unit, caps: Caps, cost_before: int) -> int:
    """Move VMs off `home` until it is within `caps`, while the plan still costs less than
    `cost_before`; how many VMs the landing searches tried."""
    candidates = _shedding_order(state, home, returned)
    total = 0
    while candidates and state.move_cost < cost_before:
        found, tried = ranked_landing(state, candidates, home, caps, coolness(state))
        total += tried
        if found is None:
            return total
        leaver, target = found
        state.move(leaver, target)
        if within_caps(state, home, caps):
            return total
        candidates = candidates[tried:]
    return total


def _shedding_order(state: PlacementState, home: int, returned: Unit) -> list[Unit]:
    """The movable VMs on `home` but `returned`: those that came there first, then the least
    memory per millicore of load."""
    problem = state.problem
    units = [problem.units[i] for i in state.units_on[home] if i != returned.index and not problem.units[i].fixed]
    return sorted(units, key=lambda u: (u.current == home, u.memory_mib / max(1, u.cpu_load), u.index))

