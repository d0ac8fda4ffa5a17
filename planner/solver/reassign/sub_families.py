"""The families of a reassignment sub-problem's model: each hard rule stated for the freed
processes against what stays fixed, and each term of the objective restricted to what can change
(so it differs from the full objective only by a constant).

Hard rules, in the order the builder adds them:
- capacity: per machine and resource, the freed processes landing there fit what is left.
- transient: per machine and transient resource, room stays held for every freed process whose
  original machine it is, wherever that process goes.
- conflict: at most one process of a service per machine (a machine with a fixed one of the service
  is no option at all).
- spread: each service still on at least spreadMin locations.
- dependencies: a process lands only where each service it depends on keeps a process in the
  neighbourhood, and a service keeps one wherever a fixed dependant needs it.

Objective terms:
- load_cost: per machine and resource, the usage over the safety capacity, weighed.
- balance_cost: per machine and balance, max(0, target · available(first) - available(second)).
- move_cost: process and machine move costs of each freed process away from its original machine.
- hold_cost: with a hold price, each freed process away from home charged the price of the
  transient room it holds there (reassign/hold.py).
- service_move_cost: the largest count of moved processes over the services, weighed.

tests/solver/test_reassign_mutations.py switches each family off and expects a case to fail.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from ortools.sat.python import cp_model

from planner.solver.cpsat_rows import at_most_per_domain, domains_used_at_least, weighted_sum
from planner.solver.model_families import Family
from planner.solver.reassign.hold import hold_costs
from planner.solver.reassign.sub_model import SubModel


def _capacity(sub: SubModel) -> None:
    for loads, capacity, fixed in zip(sub.loads, sub.capacity_rows, sub.fixed_rows):
        for load, limit, used in zip(loads, capacity, fixed):
            if not isinstance(load, int):
                sub.model.add(load <= limit - used)


def _transient(sub: SubModel) -> None:
    """A freed process whose original machine is m holds room there wherever it goes: only the
    others landing on m count against what that leaves."""
    s = sub.state
    transient = s.transient.tolist()
    if not transient:
        return
    held_rows = sub.fixed_held.tolist()
    for i, m in enumerate(sub.machines):
        others = [(p, v) for p, v in sub.landing[i] if int(s.original[p]) != m]
        if not others:
            continue
        homed = [p for p in sub.freed if int(s.original[p]) == m]
        homed_sums = s.requirement[homed][:, transient].sum(axis=0).tolist() if homed else [0] * len(transient)
        columns = s.requirement[[p for p, _ in others]][:, transient].T.tolist()
        for k, r in enumerate(transient):
            load = weighted_sum(zip(columns[k], (v for _, v in others)))
            if isinstance(load, int):
                continue
            held = sub.fixed_rows[i][r] + held_rows[i][k] + homed_sums[k]
            sub.model.add(load <= sub.capacity_rows[i][r] - held)


def _conflict(sub: SubModel) -> None:
    rows = {(service, m): [(1, sub.x[p, m]) for p in members if (p, m) in sub.x]
            for service, members in sub.by_service.items() if len(members) > 1 for m in sub.machines}
    at_most_per_domain(sub.model, rows, lambda key: 1)


def _spread(sub: SubModel) -> None:
    s = sub.state
    for service, members in sub.by_service.items():
        need = int(s.spread_min[service])
        if need <= 1:
            continue  # any placement uses at least one location
        emptied = {loc for (sv, loc) in sub.freed_location if sv == service and sub.location_presence_fixed(sv, loc) == 0}
        base = int(s.locations_used[service]) - len(emptied)
        if base >= need:
            continue
        there = {}
        for location in sorted({int(s.location[m]) for m in sub.machines}):
            if sub.location_presence_fixed(service, location) > 0:
                continue
            landing = [sub.x[p, m] for p in members for m in sub.options_of(p) if int(s.location[m]) == location]
            if landing:
                there[location] = landing
        domains_used_at_least(sub.model, there, need - base, f"loc{service}")


def _dependencies(sub: SubModel) -> None:
    s = sub.state
    hoods = sorted({int(s.hood[m]) for m in sub.machines})
    hood_of = dict(zip(sub.machines, s.hood[sub.machines].tolist()))
    presence: dict[tuple[int, int], cp_model.IntVar | int] = {}

    def present(service: int, hood: int) -> cp_model.IntVar | int:
        """1 if `service` runs in `hood` after the sub-solve (a variable when it can change)."""
        key = (service, hood)
        if key not in presence:
            if sub.hood_presence_fixed(service, hood) > 0 or service not in sub.by_service:
                presence[key] = int(sub.hood_presence_fixed(service, hood) > 0)
            else:
                there = [sub.x[p, m] for p in sub.by_service[service] for m in sub.options_of(p) if hood_of[m] == hood]
                var = sub.model.new_bool_var(f"in{service}_{hood}")
                sub.model.add(var <= sum(there))  # an empty sum is 0: the service cannot come here
                presence[key] = var
        return presence[key]

    for service, members in sub.by_service.items():
        for b in s.depends_on[service]:
            for p in members:
                for m in sub.options_of(p):
                    flag = present(b, hood_of[m])
                    if isinstance(flag, int):
                        if not flag:
                            sub.model.add(sub.x[p, m] == 0)
                    else:
                        sub.model.add_implication(sub.x[p, m], flag)
        # Dependants that stay put need this service to keep a process in their neighbourhood.
        for hood in hoods:
            if sub.hood_presence_fixed(service, hood) > 0:
                continue
            if any(sub.hood_presence_fixed(a, hood) > 0 for a in s.depended_by[service]):
                # No fixed process of it here and it is freed: present() is a variable.
                sub.model.add(present(service, hood) == 1)


def _load_cost(sub: SubModel) -> None:
    s = sub.state
    weights = s.load_weight.tolist()
    extra_rows = sub.max_extra.tolist()
    for i, m in enumerate(sub.machines):
        capacity, safety, fixed, extra = sub.capacity_rows[i], sub.safety_rows[i], sub.fixed_rows[i], extra_rows[i]
        for r, weight in enumerate(weights):
            if weight == 0:
                continue
            highest = min(capacity[r], fixed[r] + extra[r])
            if highest <= safety[r]:
                continue  # can never go over the safety capacity here
            over = sub.model.new_int_var(0, highest - safety[r], f"over{m}_{r}")
            sub.model.add(over >= sub.usage(i, r) - safety[r])
            sub.terms.append(weight * over)


def _balance_cost(sub: SubModel) -> None:
    """max(0, target · A(first) - A(second)) per machine and balance, A = capacity - usage."""
    for i, m in enumerate(sub.machines):
        capacity = sub.capacity_rows[i]
        for k, b in enumerate(sub.state.balances):
            bound = int(b.target * capacity[b.first])
            slack = sub.model.new_int_var(0, max(0, bound), f"bal{m}_{k}")
            sub.model.add(
                slack >= b.target * (capacity[b.first] - sub.usage(i, b.first))
                - (capacity[b.second] - sub.usage(i, b.second))
            )
            sub.terms.append(b.weight * slack)


def _move_cost(sub: SubModel) -> None:
    """p's move cost to each option, as what leaving home costs at least (charged when p is away)
    and each option's extra over that. The same sum as one coefficient per option (exactly one x is
    true), but with presolve off CP-SAT reads the objective as written: here only the options that
    cost more than the cheapest carry a term of their own (ROADEF's: where the machine move cost
    from p's home is above its least)."""
    s = sub.state
    for p in sub.freed:
        home = int(s.original[p])
        away = [m for m in sub.options_of(p) if m != home]
        if not away:
            continue
        costs = s.move_costs.costs_to(int(s.move_weight[p]), home, np.array(away, dtype=np.int64))
        leaving = int(costs.min())
        if leaving and (p, home) in sub.x:
            sub.terms.append(leaving * (1 - sub.x[p, home]))
        sub.terms.extend(int(cost) * sub.x[p, m] for m, cost in zip(away, (costs - leaving).tolist()) if cost)


def _hold_cost(sub: SubModel) -> None:
    for p, held in zip(sub.freed, hold_costs(sub.state, sub.hold_price, sub.freed).tolist()):
        home = int(sub.state.original[p])
        if held and (p, home) in sub.x:
            sub.terms.append(held * (1 - sub.x[p, home]))


def _service_move_cost(sub: SubModel) -> None:
    """The largest count of moved processes over all services, freed ones variable."""
    s = sub.state
    if not s.service_weight:
        return
    moved_of: dict[int, list[cp_model.LinearExprT]] = defaultdict(list)
    freed_moved: dict[int, int] = defaultdict(int)
    for p in sub.freed:
        home, service = int(s.original[p]), int(s.service[p])
        moved_of[service].append(1 - sub.x[p, home] if (p, home) in sub.x else 1)
        if int(s.assignment[p]) != home:
            freed_moved[service] += 1
    moved = s.moved.copy()
    for service in sub.by_service:
        moved[service] = -1
    floor = int(moved.max()) if len(moved) else 0
    top = sub.model.new_int_var(max(floor, 0), len(s.assignment), "service_moves")
    for service, parts in moved_of.items():
        sub.model.add(top >= int(s.moved[service]) - freed_moved[service] + sum(parts))
    sub.terms.append(s.service_weight * top)


FAMILIES: tuple[Family[SubModel], ...] = (
    Family("capacity", _capacity),
    Family("transient", _transient),
    Family("conflict", _conflict),
    Family("spread", _spread),
    Family("dependencies", _dependencies),
    Family("load_cost", _load_cost),
    Family("balance_cost", _balance_cost),
    Family("move_cost", _move_cost),
    Family("hold_cost", _hold_cost),
    Family("service_move_cost", _service_move_cost),
)
