"""The solver's plan only once the independent validator accepts it, with an honest label.

A CP-SAT (or LNS) plan the validator rejects means the model is wrong: the planner still gives the
operator the greedy plan, but says so in the solver method (`greedy (fallback: CP-SAT plan failed
validation: …)`), which the plan prints and plan.json keeps. Tests switch the fallback off, so a
wrong model fails them instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from planner.check.validate import validate_placement
from planner.domain.errors import InfeasibleError, RebalanceError
from planner.instance.problem import Problem
from planner.instance.state import PlacementState
from planner.solver.cpsat_solve import SolveOutcome, solve_placement

SOLVER_NAMES = {"cp-sat": "CP-SAT", "lns": "LNS"}
FORCED = "the rules leave each VM that must move one host"


def to_placement(problem: Problem, assignment: Sequence[int]) -> dict[str, str]:
    placement = {}
    for unit, host in zip(problem.units, assignment):
        for name in unit.vms:
            placement[name] = problem.hosts[host].name
    return placement


def _first_violation(problem: Problem, assignment: Sequence[int]) -> str | None:
    rules = problem.rules
    violations = validate_placement(rules.cluster, rules.policy, to_placement(problem, assignment))
    return str(violations[0]) if violations else None


def checked(problem: Problem, outcome: SolveOutcome, greedy: PlacementState,
            fallback: bool) -> tuple[SolveOutcome, PlacementState]:
    """`outcome` if the validator agrees and it is no worse than the greedy plan, else the greedy
    plan labelled with why (or, without `fallback`, an internal error naming the problem); with
    the placement state of the plan kept (built once here: 0.4 s at 200,000 VMs)."""
    solver = SOLVER_NAMES.get(outcome.method, outcome.method)
    broken = _first_violation(problem, outcome.assignment)
    if broken is None:
        # The greedy's own placement when the search kept none better (a copy: 0.05 s where
        # building the state is 0.5 s at 200,000 VMs).
        same = list(outcome.assignment) == greedy.assignment
        state = greedy.copy() if same else PlacementState(problem, outcome.assignment)
        if state.goal_value() <= greedy.goal_value():
            return outcome, state
        why = f"{solver} plan was worse than the greedy plan"
    else:
        why = f"{solver} plan failed validation: {broken}"
    if not fallback:
        raise RebalanceError(f"internal error: the {why}")
    greedy_broken = _first_violation(problem, greedy.assignment)
    if greedy_broken is not None:
        raise RebalanceError(f"internal error: the greedy plan breaks {greedy_broken}; please report this")
    return replace(outcome, assignment=tuple(greedy.assignment), method=f"greedy (fallback: {why})",
                   goal=greedy.goal_value()), greedy.copy()


def solve_without_greedy(problem: Problem, start: PlacementState, goal_bound: int,
                         refusal: InfeasibleError, fallback: bool, started: float | None = None) -> SolveOutcome:
    """When the greedy repair gets stuck (VMs that must trade places, say), CP-SAT from the start
    placement may still find a valid one; only if it does not is the goal infeasible, explained by
    the greedy's operator-level reason."""
    # solve_placement hands a drain back untouched when the "greedy" goal is at the bound; the
    # start is no greedy plan, so its goal is reported as above the bound.
    unreached = max(start.goal_value(), goal_bound + 1)
    hint = _only_choices(start)
    outcome = solve_placement(problem, start, hint, problem.rules.policy.solver, unreached, goal_bound,
                              started=started)
    broken = _first_violation(problem, outcome.assignment)
    if broken is None and outcome.method not in SOLVER_NAMES:
        # No search ran (each unit has one allowed host): the one placement left is the answer.
        return replace(outcome, status=FORCED)
    if broken is None:
        return outcome
    if not fallback and outcome.method in SOLVER_NAMES:
        raise RebalanceError(f"internal error: the {SOLVER_NAMES[outcome.method]} plan failed validation: {broken}")
    raise refusal


def _only_choices(start: PlacementState) -> PlacementState:
    """The start, with every unit that has a single allowed host on it: the model leaves such units
    out (nothing to choose), so the hint is where they are read from."""
    problem = start.problem
    assignment = [next(iter(u.allowed)) if len(u.allowed) == 1 and not u.fixed else host
                  for u, host in zip(problem.units, start.assignment)]
    return PlacementState(problem, assignment)
