"""Baselines operators use today, re-implemented from their public descriptions
(shared/reference/anchors.md): each honours the same hard limits and rules as our planner
(`PlacementState.fits`), so the comparison is about the algorithm, not about cutting corners.

first_fit_decreasing: the textbook consolidation — ignore where VMs run, sort them by memory
(largest first) and put each on the first host (largest hosts first) where it fits within the same
headroom and rules our planner honours. It usually packs well and moves almost everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.instance.problem import Problem, Unit
from planner.instance.state import PlacementState


@dataclass(frozen=True)
class BaselineResult:
    name: str
    assignment: tuple[int, ...]
    hosts_in_use: int
    moves: int
    moved_memory_mib: int


def first_fit_decreasing(problem: Problem) -> BaselineResult | None:
    """None when FFD cannot place every VM (it does not backtrack)."""
    hosts = len(problem.hosts)
    memory, vcpus, load = [0] * hosts, [0] * hosts, [0] * hosts
    occupied: set[tuple[int, int]] = set()  # (anti-affinity group, domain)
    assignment = [-1] * len(problem.units)
    order = sorted(problem.metric_hosts, key=lambda h: (-problem.memory_limit[h], h))

    def place(unit: Unit, host: int) -> None:
        memory[host] += unit.memory_mib
        vcpus[host] += unit.vcpus
        load[host] += unit.cpu_load
        occupied.update((m.group, problem.anti_affinity[m.group].domain_of_host[host]) for m in unit.anti_affinity)
        assignment[unit.index] = host

    def fits(unit: Unit, host: int) -> bool:
        return (host in unit.allowed
                and memory[host] + unit.memory_mib <= problem.memory_limit[host]
                and vcpus[host] + unit.vcpus <= problem.vcpu_limit[host]
                and load[host] + unit.cpu_load <= problem.load_limit[host]
                and not any((m.group, problem.anti_affinity[m.group].domain_of_host[host]) in occupied
                            for m in unit.anti_affinity))

    for unit in problem.units:
        if unit.fixed:
            place(unit, unit.current if unit.current is not None else unit.member_hosts[0])
    for unit in sorted((u for u in problem.units if not u.fixed), key=lambda u: (-u.memory_mib, u.index)):
        host = next((h for h in order if fits(unit, h)), None)
        if host is None:
            return None
        place(unit, host)
    moves = sum(u.moved_vms(h) for u, h in zip(problem.units, assignment))
    moved = sum(u.move_cost(h) for u, h in zip(problem.units, assignment))
    in_use = len({h for h in assignment if h in problem.metric_hosts})
    return BaselineResult("first-fit-decreasing", tuple(assignment), in_use, moves, moved)


def _result(name: str, state: PlacementState) -> BaselineResult:
    return BaselineResult(name, tuple(state.assignment), state.hosts_in_use(), state.moved_vms, state.moved_mib)


def _cpu_order(state: PlacementState, hosts: list[int], descending: bool = False) -> list[int]:
    return sorted(hosts, key=lambda h: ((-1 if descending else 1) * state.load[h] / state.problem.hosts[h].cpu_capacity_millicores, h))


def watcher_workload_balance(problem: Problem, margin: float = 1.02, max_moves: int = 100_000) -> BaselineResult:
    """OpenStack Watcher `workload_balance`: while a host's CPU utilisation is above the threshold,
    move the VM that brings it closest to the average to the least loaded host that stays under the
    threshold — one migration per audit, audits repeated until nothing is over or nothing fits.
    The threshold is the cluster's ideal (fluid) utilisation × `margin`, the most favourable setting."""
    state = PlacementState(problem)
    hosts = sorted(problem.metric_hosts)
    capacity = {h: problem.hosts[h].cpu_capacity_millicores for h in hosts}
    threshold = margin * sum(state.load[h] for h in hosts) / sum(capacity.values())
    average = sum(state.load[h] for h in hosts) / sum(capacity.values())
    for _ in range(max_moves):
        over = [h for h in hosts if state.load[h] / capacity[h] > threshold]
        if not over:
            break
        source = max(over, key=lambda h: (state.load[h] / capacity[h], -h))
        move = _closest_to_average(state, source, hosts, capacity, threshold, average)
        if move is None:
            break
        state.move(*move)
    return _result("watcher workload_balance", state)


def _closest_to_average(state: PlacementState, source: int, hosts: list[int], capacity: dict[int, int],
                        threshold: float, average: float) -> tuple[Unit, int] | None:
    problem = state.problem
    units = sorted((problem.units[i] for i in state.units_on[source] if not problem.units[i].fixed),
                   key=lambda u: abs((state.load[source] - u.cpu_load) / capacity[source] - average))
    for unit in units:
        for target in _cpu_order(state, hosts):
            if target != source and state.fits(unit, target) and \
                    (state.load[target] + unit.cpu_load) / capacity[target] <= threshold:
                return unit, target
    return None


def proxlb_balance(problem: Problem, balanciness_percent: float = 5.0, max_moves: int = 100_000) -> BaselineResult:
    """ProxLB's balancing: while the spread between the most and least loaded node exceeds the
    balanciness, move the largest guest (by CPU load) of the most loaded node to the least loaded
    node; stop when that would not narrow the spread."""
    state = PlacementState(problem)
    hosts = sorted(problem.metric_hosts)
    for _ in range(max_moves):
        order = _cpu_order(state, hosts)
        coolest, hottest = order[0], order[-1]
        if state.cpu_permille(hottest) - state.cpu_permille(coolest) <= balanciness_percent * 10:
            break
        guests = sorted((problem.units[i] for i in state.units_on[hottest] if not problem.units[i].fixed),
                        key=lambda u: (-u.cpu_load, u.index))
        move = next(((u, t) for u in guests for t in order[:8] if t != hottest and state.fits(u, t)
                     and state.load[t] + u.cpu_load < state.load[hottest] * problem.hosts[t].cpu_capacity_millicores
                     / problem.hosts[hottest].cpu_capacity_millicores), None)
        if move is None:
            break
        state.move(*move)
    return _result("proxlb balance", state)


def watcher_vm_workload_consolidation(problem: Problem) -> BaselineResult:
    """OpenStack Watcher `vm_workload_consolidation`: offload overloaded hosts to the least loaded
    ones, then, from the least loaded host up, move all of a host's VMs into the most loaded hosts
    that take them (first fit) and release the host when it empties."""
    state = PlacementState(problem)
    hosts = sorted(problem.metric_hosts)
    for source in hosts:  # offload phase: hosts over their limits shed to the least loaded fitting host
        for index in sorted(state.units_on[source]):
            unit = problem.units[index]
            if state.over_hard_limit(source) and not unit.fixed:
                target = next((t for t in _cpu_order(state, hosts) if t != source and state.fits(unit, t)), None)
                if target is not None:
                    state.move(unit, target)
    released: set[int] = set()
    for source in _cpu_order(state, [h for h in hosts if state.units_on[h]]):
        units = [problem.units[i] for i in sorted(state.units_on[source])]
        if any(u.fixed for u in units):
            continue
        mark = len(state.moves)
        for unit in units:
            targets = [t for t in _cpu_order(state, hosts, descending=True)
                       if t != source and t not in released and state.units_on[t] and state.fits(unit, t)]
            if not targets:
                state.undo_to(mark)
                break
            state.move(unit, targets[0])
        else:
            released.add(source)
    return _result("watcher vm_workload_consolidation", state)


def least_loaded_evacuation(problem: Problem) -> BaselineResult:
    """Nova's `host-evacuate-live` with the default weighers: each VM on a drained host, in turn,
    to the least loaded host that takes it."""
    state = PlacementState(problem)
    hosts = sorted(problem.metric_hosts)
    for unit in problem.movable:
        if state.assignment[unit.index] in unit.allowed:
            continue
        target = next((t for t in _cpu_order(state, hosts) if state.fits(unit, t)), None)
        if target is not None:
            state.move(unit, target)
    return _result("least-loaded evacuation", state)


# -- spread on memory-tight clusters (benchmarks/tight.py) ---------------------------------------
# Vectorised over hosts (numpy), since they run at 1000 hosts x 20,000 VMs beside the planner.
# Min_spread rules are not modelled here: validate_placement judges every plan anyway.

class _Usage:
    """Per-host memory, vCPUs and load as arrays, anti-affinity occupancy as a set."""

    def __init__(self, problem: Problem, assignment: list[int]) -> None:
        self.problem = problem
        hosts = len(problem.hosts)
        self.memory, self.vcpus, self.load = (np.zeros(hosts, dtype=np.int64) for _ in range(3))
        self.memory_limit = np.array(problem.memory_limit, dtype=np.int64)
        self.vcpu_limit = np.array(problem.vcpu_limit, dtype=np.int64)
        self.capacity = np.array([h.cpu_capacity_millicores for h in problem.hosts], dtype=np.int64)
        self.metric = np.zeros(hosts, dtype=bool)
        self.metric[sorted(problem.metric_hosts)] = True
        self.occupied: set[tuple[int, int]] = set()
        self.assignment = assignment
        self._masks: dict[frozenset[int], np.ndarray] = {}
        for unit, host in zip(problem.units, assignment):
            if host >= 0:
                self.add(unit, host)

    def allowed(self, unit: Unit) -> np.ndarray:
        mask = self._masks.get(unit.allowed)
        if mask is None:
            mask = np.zeros(len(self.problem.hosts), dtype=bool)
            mask[sorted(unit.allowed)] = True
            self._masks[unit.allowed] = mask
        return mask

    def fitting(self, unit: Unit) -> np.ndarray:
        """Boolean mask of the hosts with room for `unit` (not counting anti-affinity)."""
        return self.allowed(unit) & (self.memory + unit.memory_mib <= self.memory_limit) \
            & (self.vcpus + unit.vcpus <= self.vcpu_limit)

    def _domains(self, unit: Unit, host: int) -> list[tuple[int, int]]:
        return [(m.group, self.problem.anti_affinity[m.group].domain_of_host[host]) for m in unit.anti_affinity]

    def anti_affinity_ok(self, unit: Unit, host: int) -> bool:
        """No other member of the unit's groups in the host's domain (its own place does not count)."""
        current = self.assignment[unit.index]
        own = set(self._domains(unit, current)) if current >= 0 else set()
        return not any(d in self.occupied and d not in own for d in self._domains(unit, host))

    def add(self, unit: Unit, host: int, sign: int = 1) -> None:
        self.memory[host] += sign * unit.memory_mib
        self.vcpus[host] += sign * unit.vcpus
        self.load[host] += sign * unit.cpu_load
        (self.occupied.update if sign > 0 else self.occupied.difference_update)(self._domains(unit, host))
        self.assignment[unit.index] = host if sign > 0 else -1

    def result(self, name: str) -> BaselineResult:
        problem = self.problem
        moves = sum(u.moved_vms(h) for u, h in zip(problem.units, self.assignment))
        moved = sum(u.move_cost(h) for u, h in zip(problem.units, self.assignment))
        in_use = len({h for h in self.assignment if h in problem.metric_hosts})
        return BaselineResult(name, tuple(self.assignment), in_use, moves, moved)


def worst_fit_decreasing(problem: Problem) -> BaselineResult | None:
    """From scratch, ignoring where VMs run (it may move every one): pinned VMs stay, the others in
    decreasing order go each to the host that ends least loaded (CPU ‰) among those with room and
    rules allowing. VMs a host group confines go first (fewest allowed hosts first), then two
    orders are tried, by CPU load (the textbook one) and by memory (packs better when memory is
    tight); the lower peak wins. None if neither places every VM."""
    best: tuple[int, BaselineResult] | None = None
    for key in (lambda u: (len(u.allowed), -u.cpu_load, -u.memory_mib, u.index),
                lambda u: (len(u.allowed), -u.memory_mib, -u.cpu_load, u.index)):
        usage = _worst_fit(problem, sorted(problem.movable, key=key))
        if usage is not None:
            peak = int(((-(-1000 * usage.load // usage.capacity)) * usage.metric).max())
            if best is None or peak < best[0]:
                best = (peak, usage.result("worst-fit-decreasing"))
    return best[1] if best else None


def _worst_fit(problem: Problem, order: list[Unit]) -> _Usage | None:
    fixed = [(u.current if u.current is not None else u.member_hosts[0]) if u.fixed else -1 for u in problem.units]
    usage = _Usage(problem, fixed)
    for unit in order:
        fitting = usage.fitting(unit)
        after = np.where(fitting, (usage.load + unit.cpu_load) / usage.capacity, np.inf)
        host = -1
        for candidate in (np.argsort(after, kind="stable") if unit.anti_affinity else [int(np.argmin(after))]):
            if not np.isfinite(after[candidate]):
                break
            if usage.anti_affinity_ok(unit, int(candidate)):
                host = int(candidate)
                break
        if host < 0:
            return None
        usage.add(unit, host)
    return usage


def hot_to_cold_greedy(problem: Problem, max_moves: int = 100_000) -> BaselineResult:
    """The naive rebalancer: take the hottest host (CPU ‰); move its busiest VM that can go to the
    coldest host with room, if that host then stays below the hottest's current ‰; repeat until the
    hottest host has no such VM."""
    usage = _Usage(problem, [u.current if u.current is not None else u.member_hosts[0] for u in problem.units])
    units_on: dict[int, set[int]] = {}
    for unit, host in zip(problem.units, usage.assignment):
        units_on.setdefault(host, set()).add(unit.index)
    for _ in range(max_moves):
        permille = np.where(usage.metric, -(-1000 * usage.load // usage.capacity), -1)
        hottest = int(np.argmax(permille))
        move = _coldest_move(problem, usage, units_on.get(hottest, set()), hottest, permille)
        if move is None:
            break
        unit, target = move
        usage.add(unit, hottest, -1)
        usage.add(unit, target)
        units_on[hottest].discard(unit.index)
        units_on.setdefault(target, set()).add(unit.index)
    return usage.result("hot-to-cold greedy")


def _coldest_move(problem: Problem, usage: _Usage, on_host: set[int], hottest: int, permille: np.ndarray) -> tuple[Unit, int] | None:
    candidates = sorted((problem.units[i] for i in on_host if not problem.units[i].fixed), key=lambda u: (-u.cpu_load, u.index))
    for unit in candidates:
        fitting = usage.fitting(unit) & usage.metric
        fitting[hottest] = False
        colder = np.where(fitting, permille, np.iinfo(np.int64).max)
        for target in np.argsort(colder, kind="stable"):
            target = int(target)
            if not fitting[target]:
                break
            if not usage.anti_affinity_ok(unit, target):
                continue
            if -(-1000 * (usage.load[target] + unit.cpu_load) // usage.capacity[target]) < permille[hottest]:
                return unit, target
            break  # the coldest host with room would end as hot: this VM cannot help
    return None
