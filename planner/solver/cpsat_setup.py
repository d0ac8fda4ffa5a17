"""How every CP-SAT call of the solver package is configured: one place, so the whole model, the
product's LNS sub-solves and the reassignment LNS's sub-problems cannot drift apart.

A call says what kind of model it solves (`CpSatSetup`) and how long it may run (`CallLimits`);
everything else is the same for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model


@dataclass(frozen=True)
class CpSatSetup:
    """What differs between the package's models."""

    workers: int = 1  # sub-problems are small: one worker, no portfolio overhead
    seed: int = 0
    # Several workers take turns in a fixed order, so the deterministic clock, and the plan, repeat.
    interleave: bool = False
    # Symmetry detection and probing in presolve: on two cores they can eat a whole model's budget
    # on assignment models and return nothing, so they are off unless a model asks for them.
    presolve_analysis: bool = False
    # Sub-problems solved hundreds of times: presolve costs more than it saves on them.
    presolve: bool = True
    # None keeps CP-SAT's default; 2 adds the LP relaxation of every linear row, which proves small
    # re-packs optimal sooner.
    linearization_level: int | None = None


@dataclass(frozen=True)
class CallLimits:
    """One call's caps: wall-clock seconds and CP-SAT's deterministic clock (None = no cap)."""

    seconds: float | None = None
    work: float | None = None


def new_solver(setup: CpSatSetup, limits: CallLimits) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    parameters = solver.parameters
    parameters.num_workers = setup.workers
    parameters.random_seed = setup.seed
    if not setup.presolve_analysis:
        parameters.symmetry_level = 0
        parameters.cp_model_probing_level = 0
    if setup.interleave:
        parameters.interleave_search = True
    if not setup.presolve:
        parameters.cp_model_presolve = False
    if setup.linearization_level is not None:
        parameters.linearization_level = setup.linearization_level
    if limits.seconds is not None:
        parameters.max_time_in_seconds = max(0.0, limits.seconds)
    if limits.work is not None:
        parameters.max_deterministic_time = max(0.0, limits.work)
    return solver
