"""Incremental (delta) evaluation of moves for the LNS and the local search: the one mutable object here.

`SearchState` keeps the current assignment with everything the hard constraints and the objective
need, updated in O(R + deg) per move instead of recomputed:

* usage U(m, r), and per transient resource what moved processes still hold on their original
  machine, so transient usage = U + held;
* per service the machines it runs on (conflict), its process count per location (spread) and per
  neighbourhood (dependency);
* per machine its weighted load + balance cost; the sum of the process and machine move costs
  (one `MoveCostMatrix`, the form the product's move costs take too); moved processes per service
  with a histogram of those counts, so the service move cost (a max) updates in O(1).

The LNS proposes moves and `try_moves(...)` applies them unchecked, checks the hard constraints
only where something changed, and keeps them or reverts them: that check is the truth. The local
search prices and applies its moves on compiled arrays of the same state (compiled_arrays.py) and
walks this state to where it ended.
"""

from __future__ import annotations

import numpy as np

from planner.instance.move_cost_matrix import MoveCostMatrix
from planner.solver.reassign.instance import Instance


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
