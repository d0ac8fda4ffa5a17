"""What every family of a reassignment sub-problem reads (reassign/sub_families.py): the freed
processes, the machines they may use, what stays fixed there once they are taken out, a Boolean
x[process, machine] per option and each machine's load from the freed processes.

A freed process's options are the machines of the sub-problem it fits by capacity and where its
service may run (no fixed process of the service there, the service's dependencies met or able to
be met): the conflict and dependency rows then only speak about what can still change.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
from ortools.sat.python import cp_model

from planner.solver.cpsat_rows import weighted_sum
from planner.solver.reassign.delta import SearchState


class SubModel:
    """The model for freed processes `freed` over machines `machines`, and the objective's terms
    as the families add them (`terms`; charged `hold_price` per process away from home)."""

    def __init__(self, state: SearchState, machines: list[int], freed: list[int], hold_price: float = 0.0) -> None:
        self.state = state
        self.machines = machines
        self.freed = freed
        self.hold_price = hold_price
        self.model = cp_model.CpModel()
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        self.by_service: dict[int, list[int]] = defaultdict(list)
        self.options: dict[int, list[int]] = {}
        self.terms: list[cp_model.LinearExprT] = []
        self._hood_fixed: dict[tuple[int, int], int] = {}
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
        """Processes of `service` in `hood` that stay put (asked hundreds of thousands of times per
        sub-problem by the dependency rows, hence remembered)."""
        key = (service, hood)
        if key not in self._hood_fixed:
            self._hood_fixed[key] = int(self.state.hood_count[service, hood]) - self.freed_hood[key]
        return self._hood_fixed[key]

    def location_presence_fixed(self, service: int, location: int) -> int:
        return int(self.state.location_count[service, location]) - self.freed_location[service, location]

    # --- variables ----------------------------------------------------------------------------------

    def add_assignment(self) -> bool:
        """x per freed process and option, exactly one per process, hinted at where it is; False
        when a process's own machine is not among its options (not from a feasible state)."""
        s = self.state
        room = s.capacity[self.machines] - self.fixed_usage
        # Which freed process fits which machine by capacity, in one numpy step: building the
        # model in Python took about as long as solving it when sub-problems are small.
        fits = (s.requirement[self.freed][:, None, :] <= room[None, :, :]).all(axis=2)
        # The most each machine could receive per resource: the bounds of its load terms.
        self.max_extra = np.zeros_like(room)
        self.landing: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in self.machines]
        allowed = {service: np.array([self._service_allowed(service, m) for m in self.machines], dtype=bool)
                   for service in self.by_service}
        hinted: list[int] = []
        values: list[int] = []
        for row, p in enumerate(self.freed):
            here = int(s.assignment[p])
            reachable = np.flatnonzero(fits[row] & allowed[int(s.service[p])]).tolist()
            options = [self.machines[i] for i in reachable]
            if here not in options:
                return False  # cannot happen from a feasible state; refuse rather than guess
            self.options[p] = options
            self.max_extra[reachable] += s.requirement[p]
            row_vars = [self.model.new_bool_var(f"x{p}_{m}") for m in options]
            for i, m, var in zip(reachable, options, row_vars):
                self.x[p, m] = var
                self.landing[i].append((p, var))
            self.model.add_exactly_one(row_vars)
            hinted.extend(var.index for var in row_vars)
            values.extend(int(m == here) for m in options)
        # All hints at once, in the order add_hint would write them: a call per variable cost
        # more than solving the smallest sub-problems.
        self.model.proto.solution_hint.vars.extend(hinted)
        self.model.proto.solution_hint.values.extend(values)
        self._loads()
        return True

    def _service_allowed(self, service: int, m: int) -> bool:
        """No fixed process of the service on `m` (conflict) and its dependencies can be met
        there; the same for every freed process of the service, so asked once per pair."""
        conflict = self.state.machines_of[service].get(m, 0) - self.freed_on[service, m] > 0
        return not conflict and self._dependencies_possible(service, m)

    def _dependencies_possible(self, service: int, m: int) -> bool:
        hood = int(self.state.hood[m])
        return all(self.hood_presence_fixed(b, hood) > 0 or b in self.by_service for b in self.state.depends_on[service])

    def _loads(self) -> None:
        """What the freed processes that may land on each machine add to each resource (`loads`,
        0 where nothing can), and the fixed sums the families compare them with, as plain ints."""
        s = self.state
        resources = s.capacity.shape[1]
        self.loads: list[list[cp_model.LinearExprT]] = []
        for on_m in self.landing:
            if not on_m:
                self.loads.append([0] * resources)
                continue
            variables = [v for _, v in on_m]
            columns = s.requirement[[p for p, _ in on_m]].T.tolist()
            self.loads.append([weighted_sum(zip(column, variables)) for column in columns])
        self.fixed_rows = self.fixed_usage.tolist()
        self.capacity_rows = s.capacity[self.machines].tolist()
        self.safety_rows = s.safety[self.machines].tolist()

    def usage(self, position: int, resource: int) -> cp_model.LinearExprT:
        """The machine at `position`'s usage of `resource` after the sub-solve."""
        return self.loads[position][resource] + self.fixed_rows[position][resource]

    def options_of(self, p: int) -> list[int]:
        return self.options[p]
