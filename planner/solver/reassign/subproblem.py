"""One CP-SAT sub-problem of the reassignment LNS: free some processes on a few machines, let them
go anywhere among those machines, keep everything else where it is, and minimise the whole
objective restricted to what can change.

Exact with respect to the full problem: every hard constraint is stated for the freed processes
against what stays fixed (capacity, transient room held on a process's original machine,
conflict, spread over locations, dependencies over neighbourhoods, in both directions), and the
objective differs from the full one only by a constant. So the current assignment is a feasible
hint and any solution the solver returns is a feasible full assignment no worse than the current
one. The caller still applies it through `SearchState.try_moves`, which re-checks every hard
constraint where something changed: the model is the proposal, the state is the judge.

With a `hold_price`, the objective also charges each freed process that ends away from its
original machine a share of what its transient requirement would cost in load: the room it holds
there is spent until it goes home, and the search only ever accepts improvements, so a re-pack
that reaches nearly the same load while keeping more processes home leaves room for later ones.
The proposal may then cost more than the current assignment by the true objective; the caller
keeps only true improvements.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ortools.sat.python import cp_model

from planner.solver.cpsat_setup import CallLimits, CpSatSetup, new_solver
from planner.solver.model_families import add_families
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.sub_families import FAMILIES
from planner.solver.reassign.sub_model import SubModel

# Sub-problems are small and solved hundreds of times: presolve costs more than it saves on them,
# and the LP relaxation of the capacity rows (level 2) lets CP-SAT prove optimality sooner, so that
# more sub-problems finish within their time limit. Symmetry detection and probing stay on: they
# are what remains of presolve here, and the challenge's scores were measured with them.
SUB_PROBLEM = CpSatSetup(presolve=False, linearization_level=2, presolve_analysis=True)


@dataclass(frozen=True)
class SubResult:
    moves: tuple[tuple[int, int], ...]  # (process, new machine) for freed processes that change
    optimal: bool
    wall_s: float


def solve_subproblem(
    state: SearchState,
    machines: list[int],
    freed: list[int],
    seconds: float,
    seed: int = 0,
    deterministic: bool = False,
    hold_price: float = 0.0,
) -> SubResult | None:
    """Best reassignment of `freed` (all on `machines`) within `seconds` (of CP-SAT's
    deterministic clock when `deterministic`, so that results repeat), with processes left away
    from home charged `hold_price` (see above); None when the model cannot be stated or nothing
    was found (it then proposes nothing)."""
    sub = SubModel(state, machines, freed, hold_price)
    if not sub.add_assignment():
        return None
    add_families(FAMILIES, sub)
    sub.model.minimize(sum(sub.terms))
    limits = CallLimits(work=seconds) if deterministic else CallLimits(seconds=seconds)
    solver = new_solver(replace(SUB_PROBLEM, seed=seed), limits)
    status = solver.solve(sub.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    moves = []
    for p in freed:
        for m in sub.options_of(p):
            if solver.boolean_value(sub.x[p, m]):
                if m != int(state.assignment[p]):
                    moves.append((p, m))
                break
    return SubResult(tuple(moves), status == cp_model.OPTIMAL, solver.wall_time)
