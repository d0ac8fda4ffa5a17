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

from collections import Counter, defaultdict
from dataclasses import dataclass, replace

import numpy as np
from ortools.sat.python import cp_model

from planner.solver.cpsat_rows import at_most_per_domain, domains_used_at_least
from planner.solver.cpsat_setup import CallLimits, CpSatSetup, new_solver
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.hold import hold_costs

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


class _Builder:
    """Builds the model for freed processes `freed` over machines `machines`."""

    def __init__(self, state: SearchState, machines: list[int], freed: list[int]) -> None:
        self.state = state
        self.machines = machines
        self.freed = freed
        self.model = cp_model.CpModel()
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        self.by_service: dict[int, list[int]] = defaultdict(list)
        self._allowed: dict[tuple[int, int], bool] = {}
        for p in freed:
            self.by_service[int(state.service[p])].append(p)
        self._fixed_counts()

    # --- what stays fixed -------------------------------------------------------------------------

    def _fixed_counts(self) -> None:
        """Usage, held room and per-service presence once the freed processes are taken out."""
        s = self.state
        self.position = {m: i for i, m in enumerate(self.machines)}
        self.fixed_usage = s.usage[self.machines].copy()
        self.fixed_held = s.held[self.machines].copy() if s.transient.size else None
        self.freed_on: Counter[tuple[int, int]] = Counter()
        self.freed_hood: Counter[tuple[int, int]] = Counter()
        self.freed_location: Counter[tuple[int, int]] = Counter()
        for p in self.freed:
            m, home, service = int(s.assignment[p]), int(s.original[p]), int(s.service[p])
            self.fixed_usage[self.position[m]] -= s.requirement[p]
            if s.transient.size and home != m and home in self.position:
                self.fixed_held[self.position[home]] -= s.requirement[p, s.transient]
            self.freed_on[service, m] += 1
            self.freed_hood[service, int(s.hood[m])] += 1
            self.freed_location[service, int(s.location[m])] += 1

    def hood_presence_fixed(self, service: int, hood: int) -> int:
        return int(self.state.hood_count[service, hood]) - self.freed_hood[service, hood]

    def location_presence_fixed(self, service: int, location: int) -> int:
        return int(self.state.location_count[service, location]) - self.freed_location[service, location]

    # --- variables ----------------------------------------------------------------------------------

    def add_assignment(self) -> bool:
        s = self.state
        room = s.capacity[self.machines] - self.fixed_usage
        # Which freed process fits which machine by capacity, in one numpy step: building the
        # model in Python took about as long as solving it when sub-problems are small.
        fits = (s.requirement[self.freed][:, None, :] <= room[None, :, :]).all(axis=2)
        self.options: dict[int, list[int]] = {}
        # The most each machine could receive per resource: the bounds of its load terms.
        self.max_extra = np.zeros_like(room)
        for row, p in enumerate(self.freed):
            service = int(s.service[p])
            reachable = [i for i in fits[row].nonzero()[0].tolist() if self._service_allowed(service, self.machines[i])]
            options = [self.machines[i] for i in reachable]
            if int(s.assignment[p]) not in options:
                return False  # cannot happen from a feasible state; refuse rather than guess
            self.options[p] = options
            self.max_extra[reachable] += s.requirement[p]
            for m in options:
                self.x[p, m] = self.model.new_bool_var(f"x{p}_{m}")
            self.model.add_exactly_one(self.x[p, m] for m in options)
            for m in options:
                self.model.add_hint(self.x[p, m], int(m == int(s.assignment[p])))
        return True

    def _service_allowed(self, service: int, m: int) -> bool:
        """No fixed process of the service on `m` (conflict) and its dependencies can be met
        there; the same for every freed process of the service, so asked once per pair."""
        if (service, m) not in self._allowed:
            self._allowed[service, m] = self.state.machines_of[service].get(m, 0) - self.freed_on[service, m] <= 0 and (
                self._dependencies_possible(service, m)
            )
        return self._allowed[service, m]

    def _dependencies_possible(self, service: int, m: int) -> bool:
        hood = int(self.state.hood[m])
        return all(self.hood_presence_fixed(b, hood) > 0 or b in self.by_service for b in self.state.depends_on[service])

    def options_of(self, p: int) -> list[int]:
        return self.options[p]

    # --- hard constraints ---------------------------------------------------------------------------

    def add_capacity(self) -> list[list[cp_model.LinearExpr]]:
        """Usage expressions per machine and resource; capacity and transient room enforced."""
        s = self.state
        resources = s.capacity.shape[1]
        usage: list[list[cp_model.LinearExpr]] = []
        for i, m in enumerate(self.machines):
            on_m = [(p, self.x[p, m]) for p in self.freed if (p, m) in self.x]
            row = []
            for r in range(resources):
                expr = cp_model.LinearExpr.weighted_sum([v for _, v in on_m], [int(s.requirement[p, r]) for p, _ in on_m])
                row.append(expr + int(self.fixed_usage[i, r]))
                self.model.add(expr <= int(s.capacity[m, r] - self.fixed_usage[i, r]))
            usage.append(row)
            for k, r in enumerate(s.transient.tolist()):
                # A freed process whose original machine is m holds room there wherever it goes.
                homed = sum(int(s.requirement[p, r]) for p in self.freed if int(s.original[p]) == m)
                others = [(p, v) for p, v in on_m if int(s.original[p]) != m]
                held = int(self.fixed_usage[i, r] + self.fixed_held[i, k]) + homed
                self.model.add(
                    cp_model.LinearExpr.weighted_sum([v for _, v in others], [int(s.requirement[p, r]) for p, _ in others])
                    <= int(s.capacity[m, r]) - held
                )
        return usage

    def add_conflicts(self) -> None:
        """At most one process of a service per machine (those with one of it fixed there are not
        options at all)."""
        rows = {(service, m): [(1, self.x[p, m]) for p in members if (p, m) in self.x]
                for service, members in self.by_service.items() if len(members) > 1 for m in self.machines}
        at_most_per_domain(self.model, rows, lambda key: 1)

    def add_spread(self) -> None:
        s = self.state
        for service, members in self.by_service.items():
            need = int(s.spread_min[service])
            if need <= 1:
                continue  # any placement uses at least one location
            emptied = {loc for (sv, loc) in self.freed_location if sv == service and self.location_presence_fixed(sv, loc) == 0}
            base = int(s.locations_used[service]) - len(emptied)
            if base >= need:
                continue
            there = {}
            for location in sorted({int(s.location[m]) for m in self.machines}):
                if self.location_presence_fixed(service, location) > 0:
                    continue
                landing = [self.x[p, m] for p in members for m in self.options_of(p) if int(s.location[m]) == location]
                if landing:
                    there[location] = landing
            domains_used_at_least(self.model, there, need - base, f"loc{service}")

    def add_dependencies(self) -> None:
        s = self.state
        hoods = sorted({int(s.hood[m]) for m in self.machines})
        presence: dict[tuple[int, int], cp_model.IntVar] = {}

        def present(service: int, hood: int) -> cp_model.IntVar | int:
            """1 if `service` runs in `hood` after the sub-solve (a variable when it can change)."""
            if self.hood_presence_fixed(service, hood) > 0 or service not in self.by_service:
                return int(self.hood_presence_fixed(service, hood) > 0)
            if (service, hood) not in presence:
                there = [self.x[p, m] for p in self.by_service[service] for m in self.options_of(p) if int(s.hood[m]) == hood]
                var = self.model.new_bool_var(f"in{service}_{hood}")
                self.model.add(var <= sum(there))  # an empty sum is 0: the service cannot come here
                presence[service, hood] = var
            return presence[service, hood]

        for service, members in self.by_service.items():
            for b in s.depends_on[service]:
                for p in members:
                    for m in self.options_of(p):
                        flag = present(b, int(s.hood[m]))
                        if isinstance(flag, int):
                            if not flag:
                                self.model.add(self.x[p, m] == 0)
                        else:
                            self.model.add_implication(self.x[p, m], flag)
            # Dependants that stay put need this service to keep a process in their neighbourhood.
            for hood in hoods:
                if self.hood_presence_fixed(service, hood) > 0:
                    continue
                if any(self.hood_presence_fixed(a, hood) > 0 for a in s.depended_by[service]):
                    # No fixed process of it here and it is freed: present() is a variable.
                    self.model.add(present(service, hood) == 1)

    # --- objective ----------------------------------------------------------------------------------

    def add_objective(self, usage: list[list[cp_model.LinearExpr]], hold_price: float) -> None:
        s = self.state
        held_cost = hold_costs(s, hold_price, self.freed)
        terms: list[cp_model.LinearExpr] = []
        for i, m in enumerate(self.machines):
            for r in range(s.capacity.shape[1]):
                weight = int(s.load_weight[r])
                if weight == 0:
                    continue
                highest = min(int(s.capacity[m, r]), int(self.fixed_usage[i, r]) + int(self.max_extra[i, r]))
                if highest <= int(s.safety[m, r]):
                    continue  # can never go over the safety capacity here
                over = self.model.new_int_var(0, highest - int(s.safety[m, r]), f"over{m}_{r}")
                self.model.add(over >= usage[i][r] - int(s.safety[m, r]))
                terms.append(weight * over)
            for k, b in enumerate(s.balances):
                # max(0, target * A(first) - A(second)), A = capacity - usage.
                bound = int(b.target * s.capacity[m, b.first])
                slack = self.model.new_int_var(0, max(0, bound), f"bal{m}_{k}")
                self.model.add(
                    slack >= b.target * (int(s.capacity[m, b.first]) - usage[i][b.first])
                    - (int(s.capacity[m, b.second]) - usage[i][b.second])
                )
                terms.append(b.weight * slack)
        moved_of: dict[int, list[cp_model.LinearExpr]] = defaultdict(list)
        for p, held in zip(self.freed, held_cost.tolist()):
            home, service = int(s.original[p]), int(s.service[p])
            leaving, extra = self._move_costs(p, home)
            if (p, home) in self.x:
                stays = self.x[p, home]
                terms.append((leaving + held) * (1 - stays))
                moved_of[service].append(1 - stays)
            else:
                moved_of[service].append(1)
            terms.extend(cost * self.x[p, m] for m, cost in extra if cost)
        if s.service_weight:
            terms.append(s.service_weight * self._service_move_max(moved_of))
        self.model.minimize(sum(terms))

    def _move_costs(self, p: int, home: int) -> tuple[int, list[tuple[int, int]]]:
        """p's move cost to each option, as what leaving home costs at least and each option's
        extra over that. The same sum as one coefficient per option (exactly one x is true), but
        with presolve off CP-SAT reads the objective as written: here only the options that cost
        more than the cheapest carry a term of their own (ROADEF's: where the machine move cost
        from p's home is above its least)."""
        away = [m for m in self.options_of(p) if m != home]
        if not away:
            return 0, []
        s = self.state
        costs = s.move_costs.costs_to(int(s.move_weight[p]), home, np.array(away, dtype=np.int64))
        leaving = int(costs.min())
        return leaving, list(zip(away, (costs - leaving).tolist()))

    def _service_move_max(self, moved_of: dict[int, list[cp_model.LinearExpr]]) -> cp_model.IntVar:
        """The largest count of moved processes over all services, freed ones variable."""
        s = self.state
        moved = s.moved.copy()
        freed_moved: dict[int, int] = defaultdict(int)
        for p in self.freed:
            if int(s.assignment[p]) != int(s.original[p]):
                freed_moved[int(s.service[p])] += 1
        for service in self.by_service:
            moved[service] = -1
        floor = int(moved.max()) if len(moved) else 0
        top = self.model.new_int_var(max(floor, 0), len(s.assignment), "service_moves")
        for service, parts in moved_of.items():
            fixed = int(s.moved[service]) - freed_moved[service]
            self.model.add(top >= fixed + sum(parts))
        return top


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
    builder = _Builder(state, machines, freed)
    if not builder.add_assignment():
        return None
    usage = builder.add_capacity()
    builder.add_conflicts()
    builder.add_spread()
    builder.add_dependencies()
    builder.add_objective(usage, hold_price)
    limits = CallLimits(work=seconds) if deterministic else CallLimits(seconds=seconds)
    solver = new_solver(replace(SUB_PROBLEM, seed=seed), limits)
    status = solver.solve(builder.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    moves = []
    for p in freed:
        for m in builder.options_of(p):
            if solver.boolean_value(builder.x[p, m]):
                if m != int(state.assignment[p]):
                    moves.append((p, m))
                break
    return SubResult(tuple(moves), status == cp_model.OPTIMAL, solver.wall_time)
