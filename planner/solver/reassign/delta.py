"""Incremental (delta) evaluation of moves for the local search: the one mutable object here.

`SearchState` keeps the current assignment with everything the hard constraints and the objective
need, updated in O(R + deg) per move instead of recomputed:

* usage U(m, r), and per transient resource what moved processes still hold on their original
  machine, so transient usage = U + held;
* per service the machines it runs on (conflict), its process count per location (spread) and per
  neighbourhood (dependency);
* per machine its weighted load + balance cost; the sum of the process and machine move costs
  (one `MoveCostMatrix`, the form the product's move costs take too); moved processes per service
  with a histogram of those counts, so the service move cost (a max) updates in O(1).

Two ways to use it. `move_deltas(p)` prices moving p to every machine at once with numpy and
marks infeasible machines (a filter: it assumes the current state is feasible). `try_moves(...)`
applies any compound move (a swap, a chain) unchecked, checks the hard constraints only where it
changed something, and keeps it or reverts it: that check, not the filter, is the truth.
"""

from __future__ import annotations

import numpy as np

from planner.instance.move_cost_matrix import MoveCostMatrix
from planner.solver.reassign.instance import Instance

INFEASIBLE = np.iinfo(np.int64).max // 4  # sentinel delta of a forbidden move


class SearchState:
    def __init__(self, instance: Instance, original: np.ndarray, start: np.ndarray | None = None) -> None:
        self.instance = instance
        self._static(instance)
        self.original = np.asarray(original, dtype=np.int64).copy()
        self.assignment = self.original.copy()
        self.usage = np.zeros_like(self.capacity)
        np.add.at(self.usage, self.assignment, self.requirement)
        self.held = np.zeros((len(self.capacity), len(self.transient)), dtype=np.int64)
        services, hoods, locations = instance.services.count, instance.neighborhood_count, instance.location_count
        self.machines_of: list[dict[int, int]] = [{} for _ in range(services)]  # machine -> process count
        self.location_count = np.zeros((services, locations), dtype=np.int32)
        self.hood_count = np.zeros((services, hoods), dtype=np.int32)
        self.locations_used = np.zeros(services, dtype=np.int64)
        for p, m in enumerate(self.assignment.tolist()):
            self._place(p, m, +1)
        self.moved = np.zeros(services, dtype=np.int64)
        self.moved_histogram = np.zeros(len(self.assignment) + 2, dtype=np.int64)
        self.moved_histogram[0] = services
        self.max_moved = 0
        self.machine_cost = self.machine_costs(self.usage, np.arange(len(self.capacity)))
        self.load_balance = int(self.machine_cost.sum())
        self.move_sum = 0  # process and machine move costs, weighted
        self.processes_on: list[list[int]] = [[] for _ in range(len(self.capacity))]
        self.slot = np.zeros(len(self.assignment), dtype=np.int64)
        for p, m in enumerate(self.assignment.tolist()):
            self.slot[p] = len(self.processes_on[m])
            self.processes_on[m].append(p)
        if start is not None:
            for p in np.flatnonzero(np.asarray(start) != self.assignment).tolist():
                self.apply_move(p, int(start[p]))

    def _static(self, instance: Instance) -> None:
        machines, processes = instance.machines, instance.processes
        self.capacity, self.safety = machines.capacity, machines.safety
        self.hood, self.location = machines.neighborhood.astype(np.int64), machines.location.astype(np.int64)
        self.requirement, self.service = processes.requirement, processes.service.astype(np.int64)
        # A process's weight is its move cost; the machine move costs are what each move adds.
        self.move_weight = instance.weights.process * processes.move_cost.astype(np.int64)
        self.move_costs = MoveCostMatrix.per_host(instance.weights.machine * machines.move_cost.astype(np.int64))
        self.transient = np.flatnonzero(instance.resources.transient)
        self.load_weight = instance.resources.load_weight
        self.balances = instance.balances
        self.service_weight = instance.weights.service
        self.spread_min = instance.services.spread_min
        self.depends_on = [list(targets) for targets in instance.services.dependencies]
        self.depended_by: list[list[int]] = [[] for _ in range(instance.services.count)]
        for source, targets in enumerate(instance.services.dependencies):
            for target in targets:
                self.depended_by[target].append(source)

    # --- cost -----------------------------------------------------------------------------------

    def machine_costs(self, usage: np.ndarray, machines: np.ndarray | int) -> np.ndarray:
        """Weighted load + balance cost of `machines` (K,) if their usage were `usage` (K, R); one
        machine (an int) for all K rows."""
        load = np.maximum(usage - self.safety[machines], 0) @ self.load_weight
        if self.balances:
            available = self.capacity[machines] - usage
            for b in self.balances:
                load = load + b.weight * np.maximum(b.target * available[:, b.first] - available[:, b.second], 0)
        return load

    def total(self) -> int:
        return self.load_balance + self.move_sum + self.service_weight * self.max_moved

    # --- single moves, priced for every destination at once ---------------------------------------

    def move_deltas(self, p: int) -> np.ndarray:
        """Cost change of moving p to each machine; INFEASIBLE where a hard constraint forbids it."""
        here, home, s = int(self.assignment[p]), int(self.original[p]), int(self.service[p])
        need = self.requirement[p]
        after = self.usage + need
        ok = (after <= self.capacity).all(axis=1)
        if self.transient.size:
            fits = (after[:, self.transient] + self.held <= self.capacity[:, self.transient]).all(axis=1)
            fits[home] = True  # going home releases exactly what it held there
            ok &= fits
        ok[here] = False
        ok[list(self.machines_of[s])] = False
        ok &= self._dependency_allows(s, here)
        ok &= self._spread_allows(s, here)
        deltas = np.full(len(ok), INFEASIBLE, dtype=np.int64)
        targets = np.flatnonzero(ok)
        if targets.size == 0:
            return deltas
        leave = int(self.machine_costs((self.usage[here] - need)[None, :], np.array([here]))[0]) - int(self.machine_cost[here])
        arrive = self.machine_costs(after[targets], targets) - self.machine_cost[targets]
        weight = int(self.move_weight[p])
        moves = self.move_costs.costs_to(weight, home, targets) - self.move_costs.cost(weight, home, here)
        if here == home:
            moves += self.service_weight * (max(self.max_moved, int(self.moved[s]) + 1) - self.max_moved)
        else:
            moves[targets == home] -= self.service_weight * self._max_drop_if_decremented(s)
        deltas[targets] = leave + arrive + moves
        return deltas

    def swap_deltas(self, p: int, others: np.ndarray) -> np.ndarray:
        """Cost change of swapping p with each of `others` (processes on other machines), from
        capacity, transient usage, load, balance and move costs; INFEASIBLE where those forbid it.
        Conflict, spread, dependency and the service move cost are left to `try_moves`.

        Feasibility is checked first against each machine's room, and only the swaps that fit are
        priced: most sampled partners do not fit a tight machine, and pricing them was most of
        the local search's time."""
        a, home_p = int(self.assignment[p]), int(self.original[p])
        need_p, room = self.requirement[p], self.capacity - self.usage
        # Each check keeps the partners that pass it (positions into `others`), so the later ones
        # look at fewer rows: on tight instances most partners fail the first.
        fit = np.flatnonzero((self.requirement[others] <= room[a] + need_p).all(axis=1))
        b = self.assignment[others[fit]]
        fit = fit[(b != a) & (need_p - self.requirement[others[fit]] <= room[b]).all(axis=1)]
        t = self.transient
        if t.size and fit.size:
            # Transient room: p leaving a keeps its requirement held there if a is its home (else
            # frees it); q arriving home releases its hold. The same on b the other way round.
            held_room = room[:, t] - self.held
            q = others[fit]
            b, home_q, need_q = self.assignment[q], self.original[q], self.requirement[q][:, t]
            freed_on_a = need_p[t] if a != home_p else 0
            fit = fit[(need_q * (home_q != a)[:, None] <= held_room[a] + freed_on_a).all(axis=1)
                      & (need_p[t] * (b != home_p)[:, None] - need_q * (home_q != b)[:, None] <= held_room[b]).all(axis=1)]
        deltas = np.full(len(others), INFEASIBLE, dtype=np.int64)
        if fit.size:
            deltas[fit] = self._swap_costs(p, a, home_p, others[fit])
        return deltas

    def _swap_costs(self, p: int, a: int, home_p: int, others: np.ndarray) -> np.ndarray:
        """Load, balance and move cost change of swapping p (on a) with each of `others`."""
        b, home_q = self.assignment[others], self.original[others]
        need_p, need_q = self.requirement[p], self.requirement[others]
        cost = (
            self.machine_costs(self.usage[a] - need_p + need_q, a)
            + self.machine_costs(self.usage[b] - need_q + need_p, b)
            - int(self.machine_cost[a])
            - self.machine_cost[b]
        )
        costs, weight_p, weight_q = self.move_costs, int(self.move_weight[p]), self.move_weight[others]
        cost += costs.costs_to(weight_p, home_p, b) - costs.cost(weight_p, home_p, a)
        cost += costs.each(weight_q, home_q, a) - costs.each(weight_q, home_q, b)
        return cost

    def _dependency_allows(self, s: int, here: int) -> np.ndarray | bool:
        allowed: np.ndarray | bool = True
        if self.depends_on[s]:
            allowed = (self.hood_count[self.depends_on[s]] > 0).all(axis=0)[self.hood]
        hood = self.hood[here]
        if self.hood_count[s, hood] == 1 and any(self.hood_count[a, hood] > 0 for a in self.depended_by[s]):
            allowed = allowed & (self.hood == hood)  # p is the last of s its dependants rely on here
        return allowed

    def _spread_allows(self, s: int, here: int) -> np.ndarray | bool:
        if self.location_count[s, self.location[here]] > 1 or self.locations_used[s] > self.spread_min[s]:
            return True
        # Leaving its location empties it: only a location s does not use yet keeps the count.
        return (self.location_count[s][self.location] == 0) | (self.location == self.location[here])

    def _max_drop_if_decremented(self, s: int) -> int:
        count = int(self.moved[s])
        return 1 if count == self.max_moved and self.moved_histogram[count] == 1 else 0

    # --- applying, checking and reverting any compound move ---------------------------------------

    def apply_move(self, p: int, m: int) -> None:
        """Move p to m with no checks; every counter and cost follows."""
        here, home, s = int(self.assignment[p]), int(self.original[p]), int(self.service[p])
        if m == here:
            return
        need = self.requirement[p]
        self._place(p, here, -1)
        self.usage[here] -= need
        self.usage[m] += need
        if self.transient.size:
            if here == home:
                self.held[here] += need[self.transient]
            if m == home:
                self.held[m] -= need[self.transient]
        self.assignment[p] = m
        self._place(p, m, +1)
        self._refresh_machine_cost(here)
        self._refresh_machine_cost(m)
        weight = int(self.move_weight[p])
        self.move_sum += self.move_costs.cost(weight, home, m) - self.move_costs.cost(weight, home, here)
        if here == home:
            self._count_moved(s, +1)
        elif m == home:
            self._count_moved(s, -1)
        self._relist(p, here, m)

    def try_moves(self, moves: list[tuple[int, int]], max_delta: int = -1) -> int | None:
        """Apply `moves` in order; keep them if the result is feasible and the cost changes by at
        most `max_delta` (improving by default), else revert. Returns the delta kept, or None."""
        before = self.total()
        previous = [(p, int(self.assignment[p])) for p, _ in moves]
        for p, m in moves:
            self.apply_move(p, m)
        delta = self.total() - before
        if delta <= max_delta and self.feasible_around(previous):
            return delta
        for p, m in reversed(previous):
            self.apply_move(p, m)
        return None

    def feasible_around(self, previous: list[tuple[int, int]]) -> bool:
        """Every hard constraint where processes left (`previous`) or arrived (now)."""
        machines = {m for _, m in previous} | {int(self.assignment[p]) for p, _ in previous}
        services = {int(self.service[p]) for p, _ in previous}
        hoods = {int(self.hood[m]) for m in machines}
        return (
            self._machines_fit(machines)
            and all(max(self.machines_of[s].values()) <= 1 for s in services)
            and all(self.locations_used[s] >= self.spread_min[s] for s in services)
            and all(self._dependencies_hold(s, n) for s in services for n in hoods)
        )

    def _machines_fit(self, machines: set[int]) -> bool:
        rows = np.fromiter(machines, dtype=np.int64)
        if not (self.usage[rows] <= self.capacity[rows]).all():
            return False
        t = self.transient
        return not t.size or bool((self.usage[np.ix_(rows, t)] + self.held[rows] <= self.capacity[np.ix_(rows, t)]).all())

    def _dependencies_hold(self, s: int, n: int) -> bool:
        if self.hood_count[s, n] > 0 and any(self.hood_count[b, n] == 0 for b in self.depends_on[s]):
            return False
        return self.hood_count[s, n] > 0 or all(self.hood_count[a, n] == 0 for a in self.depended_by[s])

    # --- bookkeeping ------------------------------------------------------------------------------

    def _place(self, p: int, m: int, sign: int) -> None:
        s = int(self.service[p])
        on = self.machines_of[s]
        on[m] = on.get(m, 0) + sign
        if on[m] == 0:
            del on[m]
        self.hood_count[s, self.hood[m]] += sign
        location = self.location[m]
        self.location_count[s, location] += sign
        count = self.location_count[s, location]
        if sign > 0 and count == 1:
            self.locations_used[s] += 1
        elif sign < 0 and count == 0:
            self.locations_used[s] -= 1

    def _refresh_machine_cost(self, m: int) -> None:
        cost = int(self.machine_costs(self.usage[m][None, :], np.array([m]))[0])
        self.load_balance += cost - int(self.machine_cost[m])
        self.machine_cost[m] = cost

    def _count_moved(self, s: int, step: int) -> None:
        count = int(self.moved[s])
        self.moved_histogram[count] -= 1
        self.moved_histogram[count + step] += 1
        self.moved[s] = count + step
        if count + step > self.max_moved:
            self.max_moved = count + step
        elif count == self.max_moved and self.moved_histogram[count] == 0:
            self.max_moved = count - 1

    def _relist(self, p: int, here: int, m: int) -> None:
        """O(1) removal from the old machine's list (swap with the last), for sampling by machine."""
        old = self.processes_on[here]
        slot, last = int(self.slot[p]), old[-1]
        old[slot], self.slot[last] = last, slot
        old.pop()
        self.slot[p] = len(self.processes_on[m])
        self.processes_on[m].append(p)
