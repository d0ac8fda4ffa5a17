"""The CP-SAT model: Booleans x[unit, host] over candidate hosts, capacity and rule rows, goal and cost.

Formulation (solver-notes §0): `exactly_one` per unit; one linear row per host and hard resource
with the fixed units' usage subtracted; `at_most_one` per anti-affinity group and domain; per
min_spread group a Boolean per domain it may use (only true if a member lands there) and a row
asking for at_least of them; the goal as linear rows on one integer per resource (spread, drain) or
a used-host Boolean per host linked through capacity (consolidate); moved memory (weighed by the
policy's move costs) read off x with no extra variables.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from planner.domain.metrics import permille
from planner.instance.problem import NO_LIMIT, Problem, Unit
from planner.instance.state import PlacementState
from planner.domain.policy import Goal


@dataclass
class PlacementModel:
    problem: Problem
    model: cp_model.CpModel
    x: dict[tuple[int, int], cp_model.IntVar]
    goal: cp_model.LinearExprT
    cost: cp_model.LinearExprT  # MiB migrated, weighed by the policy's move costs
    coarse_cost: cp_model.LinearExprT  # the same in GiB (rounded up), for the stage-1 tie-break
    max_coarse_cost: int
    goal_hosts: frozenset[int] = frozenset()
    goal_vars: dict[str, cp_model.IntVar] = field(default_factory=dict)
    used: dict[int, cp_model.IntVar] = field(default_factory=dict)
    spread_used: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)  # (group, domain)

    def hint(self, assignment: list[int], state: PlacementState | None = None) -> None:
        """A complete hint: every x, and the goal variables at their values for that assignment
        (`state`, when given, must hold that assignment: it saves rebuilding one)."""
        self.model.clear_hints()
        for (unit, host), var in self.x.items():
            self.model.add_hint(var, assignment[unit] == host)
        state = state or PlacementState(self.problem, assignment)
        peaks = {
            "cpu": max([state.cpu_permille(h) for h in self.goal_hosts] + [0]),
            "memory": max([state.memory_permille(h) for h in self.goal_hosts] + [0]),
        }
        for name, var in self.goal_vars.items():
            self.model.add_hint(var, max(peaks[name], _lower_bound(var)))
        for host, var in self.used.items():
            self.model.add_hint(var, bool(state.units_on[host]))
        for (group, domain), var in self.spread_used.items():
            self.model.add_hint(var, domain in state.spread_occupancy[group])

    def read(self, solver: cp_model.CpSolver, fallback: list[int]) -> list[int]:
        assignment = list(fallback)
        for (unit, host), var in self.x.items():
            if solver.boolean_value(var):
                assignment[unit] = host
        return assignment


def _lower_bound(var: cp_model.IntVar) -> int:
    return var.proto.domain[0]


def build_model(problem: Problem, candidates: dict[int, tuple[int, ...]], fixed_at: list[int],
                goal_hosts: frozenset[int] | None = None, state: PlacementState | None = None) -> PlacementModel:
    """`fixed_at[u]` is where a unit without a choice sits (fixed units, and units with one candidate).

    `goal_hosts` are the hosts whose utilisation (or use) the goal counts: all metric hosts for a
    whole solve, only the neighbourhood's for an LNS sub-solve.
    """
    goal_hosts = problem.metric_hosts if goal_hosts is None else goal_hosts
    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    by_host: dict[int, list[tuple[Unit, cp_model.IntVar]]] = defaultdict(list)
    # With a state holding `fixed_at`, the fixed usage is the state's minus the free units' (an LNS
    # round then costs O(neighbourhood), not O(all VMs)).
    fixed = _FixedUsage.from_state(state, candidates) if state is not None else _FixedUsage.of(problem, candidates, fixed_at)
    units = [problem.units[u] for u in candidates] if state is not None else problem.units
    for unit in units:
        hosts = candidates.get(unit.index, ())
        if len(hosts) <= 1:
            continue
        row = []
        for host in hosts:
            var = model.new_bool_var(f"x_{unit.index}_{host}")
            x[unit.index, host] = var
            by_host[host].append((unit, var))
            row.append(var)
        model.add_exactly_one(row)
    _capacity_rows(model, problem, by_host, fixed)
    _anti_affinity_rows(model, problem, by_host, fixed)
    costs = {(u, h): problem.units[u].weighted_cost(h) for (u, h) in x}
    cost = sum(c * x[key] for key, c in costs.items() if c)
    coarse_terms = {key: -(-c // 1024) for key, c in costs.items()}
    coarse = sum(c * x[key] for key, c in coarse_terms.items() if c)
    max_coarse = sum(max(coarse_terms[u, h] for h in hosts) for u, hosts in candidates.items() if len(hosts) > 1)
    placement = PlacementModel(problem, model, x, 0, cost + fixed.cost, coarse, max_coarse, goal_hosts)
    if problem.spread_domains:
        _min_spread_rows(placement, by_host, fixed)
    _limits_rows(model, problem, x, fixed)
    if problem.goal is Goal.CONSOLIDATE:
        _consolidate_goal(placement, by_host, fixed, goal_hosts)
    else:
        _spread_goal(placement, by_host, fixed, goal_hosts)
    return placement


class _FixedUsage:
    """Usage of units that have no choice, subtracted from each host's capacity."""

    def __init__(self, problem: Problem) -> None:
        hosts = len(problem.hosts)
        self.memory = [0] * hosts
        self.vcpus = [0] * hosts
        self.load = [0] * hosts
        self.members: dict[tuple[int, int], int] = defaultdict(int)  # (group, domain) → members there
        self.spread_members: dict[tuple[int, int], int] = defaultdict(int)  # the same for min_spread groups
        self.cost = 0
        self.moved_vms = 0
        self.problem = problem

    @classmethod
    def of(cls, problem: Problem, candidates: dict[int, tuple[int, ...]], fixed_at: list[int]) -> "_FixedUsage":
        fixed = cls(problem)
        for unit in problem.units:
            hosts = candidates.get(unit.index, ())
            if len(hosts) <= 1:
                fixed.add(unit, hosts[0] if hosts else fixed_at[unit.index])
        return fixed

    @classmethod
    def from_state(cls, state: PlacementState, candidates: dict[int, tuple[int, ...]]) -> "_FixedUsage":
        fixed = cls(state.problem)
        fixed.memory, fixed.vcpus, fixed.load = list(state.memory), list(state.vcpus), list(state.load)
        fixed.cost, fixed.moved_vms = state.move_cost, state.moved_vms
        for group, occupancy in enumerate(state.occupancy):
            for domain, count in occupancy.items():
                fixed.members[group, domain] = count
        for group, occupancy in enumerate(state.spread_occupancy):
            for domain, count in occupancy.items():
                fixed.spread_members[group, domain] = count
        for index, hosts in candidates.items():
            if len(hosts) > 1:
                fixed.add(state.problem.units[index], state.assignment[index], sign=-1)
        return fixed

    def add(self, unit: Unit, host: int, sign: int = 1) -> None:
        self.memory[host] += sign * unit.memory_mib
        self.vcpus[host] += sign * unit.vcpus
        self.load[host] += sign * unit.cpu_load
        self.cost += sign * unit.weighted_cost(host)
        self.moved_vms += sign * unit.moved_vms(host)
        for group, members in zip(unit.anti_affinity, unit.group_members):
            self.members[group, self.problem.domains[group][host]] += sign * members
        for group, members in zip(unit.min_spread, unit.spread_members):
            self.spread_members[group, self.problem.spread_domains[group][host]] += sign * members


def _capacity_rows(model: cp_model.CpModel, problem: Problem, by_host: dict, fixed: _FixedUsage) -> None:
    for host, entries in by_host.items():
        model.add(sum(u.memory_mib * v for u, v in entries) <= problem.memory_limit[host] - fixed.memory[host])
        model.add(sum(u.vcpus * v for u, v in entries) <= problem.vcpu_limit[host] - fixed.vcpus[host])
        if problem.load_limit[host] < NO_LIMIT:
            model.add(sum(u.cpu_load * v for u, v in entries) <= problem.load_limit[host] - fixed.load[host])


def _anti_affinity_rows(model: cp_model.CpModel, problem: Problem, by_host: dict, fixed: _FixedUsage) -> None:
    rows: dict[tuple[int, int], list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
    for host, entries in by_host.items():
        for unit, var in entries:
            for group, count in zip(unit.anti_affinity, unit.group_members):
                rows[group, problem.domains[group][host]].append((count, var))
    for (group, domain), terms in rows.items():
        room = 1 - fixed.members[group, domain]
        if all(count == 1 for count, _ in terms) and room == 1:
            model.add_at_most_one(var for _, var in terms)
        else:
            model.add(sum(count * var for count, var in terms) <= max(room, 0))


def _min_spread_rows(placement: PlacementModel, by_host: dict, fixed: _FixedUsage) -> None:
    """used[g, d] ≤ Σ x over the group's free units on hosts of domain d; a domain holding a fixed
    member is used anyway. At least at_least domains used per group."""
    problem, model = placement.problem, placement.model
    terms: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
    for host, entries in by_host.items():
        for unit, var in entries:
            for group in unit.min_spread:
                terms[group, problem.spread_domains[group][host]].append(var)
    for group, at_least in enumerate(problem.spread_at_least):
        settled = sum(1 for (g, _), count in fixed.spread_members.items() if g == group and count > 0)
        open_domains = [d for (g, d) in terms if g == group and fixed.spread_members.get((g, d), 0) <= 0]
        if settled >= at_least or not open_domains:
            continue  # the fixed members already cover it (or nothing here can change it)
        used = []
        for domain in sorted(open_domains):
            var = model.new_bool_var(f"spread_{group}_{domain}")
            model.add(var <= sum(terms[group, domain]))
            placement.spread_used[group, domain] = var
            used.append(var)
        model.add(sum(used) >= at_least - settled)


def _limits_rows(model: cp_model.CpModel, problem: Problem, x: dict, fixed: _FixedUsage) -> None:
    limits = problem.rules.policy.limits
    if limits.max_moves is not None:
        moved = sum(n * var for (u, h), var in x.items() if (n := problem.units[u].moved_vms(h)))
        model.add(moved + fixed.moved_vms <= limits.max_moves)
    if limits.max_moved_memory_mib is not None:
        moved_mib = sum(c * var for (u, h), var in x.items() if (c := problem.units[u].move_cost(h)))
        model.add(moved_mib + fixed.cost <= limits.max_moved_memory_mib)


def _spread_goal(placement: PlacementModel, by_host: dict, fixed: _FixedUsage, hosts: frozenset[int]) -> None:
    """U_cpu, U_mem ≥ every metric host's utilisation (per-mille); goal = weighted sum."""
    problem, model = placement.problem, placement.model
    weight = dict(zip(("cpu", "memory"), problem.spread_weights))
    floor = dict(zip(("cpu", "memory"), problem.spread_floors))
    capacity = {
        "cpu": [h.cpu_capacity_millicores for h in problem.hosts],
        "memory": [h.usable_memory_mib for h in problem.hosts],
    }
    used = {"cpu": fixed.load, "memory": fixed.memory}
    size = {"cpu": lambda u: u.cpu_load, "memory": lambda u: u.memory_mib}
    goal = 0
    for name in ("cpu", "memory"):
        if weight[name] == 0:
            continue
        lowest = max([floor[name]] + [permille(used[name][h], capacity[name][h]) for h in hosts])
        highest = max(lowest, max(permille(used[name][h] + sum(size[name](u) for u, _ in by_host.get(h, ())),
                                           capacity[name][h]) for h in hosts) if hosts else lowest)
        peak = model.new_int_var(lowest, highest, f"peak_{name}")
        for host in hosts:
            entries = by_host.get(host)
            if entries:
                model.add(1000 * (sum(size[name](u) * v for u, v in entries) + used[name][host])
                          <= peak * capacity[name][host])
        placement.goal_vars[name] = peak
        goal += weight[name] * peak
    placement.goal = goal


def _consolidate_goal(placement: PlacementModel, by_host: dict, fixed: _FixedUsage, hosts: frozenset[int]) -> None:
    """One Boolean per host that may end empty; capacity only opens on a used host."""
    problem, model = placement.problem, placement.model
    always_on = 0
    goal = 0
    for host in hosts:
        entries = by_host.get(host, [])
        if fixed.memory[host] or fixed.vcpus[host]:
            always_on += 1
            continue
        if not entries:
            continue
        used = model.new_bool_var(f"used_{host}")
        placement.used[host] = used
        model.add(sum(u.memory_mib * v for u, v in entries) <= problem.memory_limit[host] * used)
        for _, var in entries:
            model.add_implication(var, used)
        goal += used
    placement.goal = goal + always_on
