"""A mutable placement with incremental usage bookkeeping, for the greedy heuristics.

Moving a unit updates per-host memory, vCPUs, load, anti-affinity and min_spread occupancy in
O(groups), so a heuristic can try thousands of moves per second and undo them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from planner.domain.metrics import most_at_permille, permilles_at_most
from planner.instance.problem import Problem, Unit
from planner.instance.state_copy import bound_to, copy_of
from planner.instance.state_counting import count_placement, home_placement
from planner.instance.state_rows import refresh_rows

# Caps whose most_under() arrays a state keeps (a step-by-step pass asks for new caps each step).
MOST_UNDER_CACHED = 64


class PlacementState:
    def __init__(self, problem: Problem, assignment: Iterable[int] | None = None) -> None:
        # What the state reads off its problem and never writes (problem, cpu_capacity and
        # memory_capacity as lists and arrays, limits, score_divisors, extra_capacity,
        # extra_limit_rows, metric_mask, weighted, single_vm_units, allowed_rows): state_copy.bound_to.
        vars(self).update(bound_to(problem))
        hosts = len(problem.hosts)
        self.memory = [0] * hosts
        self.vcpus = [0] * hosts
        self.load = [0] * hosts
        self.units_on: list[set[int]] = [set() for _ in range(hosts)]
        # Utilisation per host, kept current on every move, so peaks and "coolest hosts" are one
        # vectorised call each instead of a Python loop over 1,000 hosts per greedy step.
        self._cpu_pm = np.zeros(hosts, dtype=np.int64)
        self._mem_pm = np.zeros(hosts, dtype=np.int64)
        # Hosts whose numpy rows lag their lists: rows are brought up to date when one of the
        # arrays is next read, so a run of moves (keep-k evicts tens of thousands of VMs per try,
        # then undoes them) writes each host's rows once, not once per move.
        self._dirty: set[int] = set()
        # peaks() until the next move: a greedy step asks for them twice (its view, its path entry).
        self._peaks: tuple[int, int] | None = None
        # (memory MiB, vCPUs, load, extra resources…) per host, in the shape of `limits`, so "which
        # hosts can take this VM" is one vectorised comparison; column-major like `limits`, as the
        # scans read a resource over every host (twice as fast as strided columns at 10,000 hosts).
        extras = len(problem.resources)
        self._sizes = np.zeros((hosts, 3 + extras), dtype=np.int64, order="F")
        self._extra_pm = np.zeros((hosts, extras), dtype=np.int64)
        # The same per host as plain lists: fits() runs hundreds of thousands of times in a
        # consolidation, and numpy costs microseconds per call on rows this short.
        self.extra_used = [[0] * extras for _ in range(hosts)]
        self._allowed_masks: dict[int, np.ndarray] = {}  # by id(unit.allowed); the sets outlive the state
        self._sets_allowing: dict[int, np.ndarray] = {}  # by host: UnitArrays.allowing(host)
        self._most_at: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # by caps: most_under()
        # occupancy[group][domain] = members of the group placed in that domain
        self.occupancy = [dict[int, int]() for _ in problem.anti_affinity]
        # spread_occupancy[group][domain] = members there (only domains holding some), and how many
        # domains that is, so the min_spread check of a move is O(1).
        self.spread_occupancy = [dict[int, int]() for _ in problem.min_spread]
        self.spread_distinct = [0 for _ in problem.min_spread]
        self.assignment: list[int] = []
        self.moves: list[tuple[int, int, int]] = []  # (unit, from, to) for undo
        # After each whole heuristic step: (len(moves), goal, moved MiB, moved VMs, move cost). The
        # placement after any of these prefixes keeps every rule (inside a swap or a chain it may
        # not), so planner/solver/trade.py can stop there.
        self.path: list[tuple[int, int, int, int, int]] = []
        self.moved_vms = 0  # relative to where the VMs run now
        self.moved_mib = 0
        self.weighted_mib = 0  # under the policy's move costs; kept only when those weigh anything
        count_placement(self, list(assignment) if assignment is not None else home_placement(problem))
        refresh_rows(self, list(range(hosts)))

    def copy(self) -> PlacementState:
        """A state holding the same placement with no history (no moves, no path): what
        PlacementState(problem, self.assignment) builds, without counting every unit again
        (0.3-0.4 s at 200,000 VMs)."""
        self._flush()
        return copy_of(self)

    def under(self, problem: Problem) -> PlacementState:
        """This placement as a state of `problem`, a problem over the same hosts and units with
        other freedom or limits (problem.with_units, with_drain_lifted): what
        PlacementState(problem, self.assignment) builds, at the cost of a copy."""
        self._flush()
        return copy_of(self, problem)

    @property
    def move_cost(self) -> int:
        """What the tie-breaks minimise: moved memory, weighed by the policy's move costs if any."""
        return self.weighted_mib if self.weighted else self.moved_mib

    def _add(self, unit: Unit, host: int, sign: int = 1) -> None:
        self._count(unit, host, sign)
        self._dirty.add(host)
        self._peaks = None

    @property
    def sizes(self) -> np.ndarray:
        """(memory MiB, vCPUs, load, extras…) per host."""
        self._flush()
        return self._sizes

    @property
    def cpu_pm(self) -> np.ndarray:
        self._flush()
        return self._cpu_pm

    @property
    def mem_pm(self) -> np.ndarray:
        self._flush()
        return self._mem_pm

    @property
    def extra_pm(self) -> np.ndarray:
        self._flush()
        return self._extra_pm

    def _flush(self) -> None:
        if self._dirty:
            refresh_rows(self, list(self._dirty))
            self._dirty.clear()

    def _count(self, unit: Unit, host: int, sign: int = 1) -> None:
        """The plain-Python bookkeeping of a unit arriving on (sign 1) or leaving (-1) `host`."""
        self.memory[host] += sign * unit.memory_mib
        self.vcpus[host] += sign * unit.vcpus
        self.load[host] += sign * unit.cpu_load
        if unit.extra:
            used = self.extra_used[host]
            for k, amount in enumerate(unit.extra):
                used[k] += sign * amount
        (self.units_on[host].add if sign > 0 else self.units_on[host].discard)(unit.index)
        if unit.anti_affinity or unit.min_spread:
            self._count_groups(unit, host, sign)

    def _count_groups(self, unit: Unit, host: int, sign: int) -> None:
        """The anti-affinity and min_spread occupancy part of _count."""
        for membership in unit.anti_affinity:
            occupancy = self.occupancy[membership.group]
            domain = self.problem.anti_affinity[membership.group].domain_of_host[host]
            occupancy[domain] = occupancy.get(domain, 0) + sign * membership.members
        if unit.min_spread:
            self._count_spread(unit, host, sign)

    def _count_spread(self, unit: Unit, host: int, sign: int) -> None:
        for membership in unit.min_spread:
            group = membership.group
            occupancy = self.spread_occupancy[group]
            domain = self.problem.min_spread[group].domain_of_host[host]
            before = occupancy.get(domain, 0)
            after = before + sign * membership.members
            if after:
                occupancy[domain] = after
            else:
                del occupancy[domain]
            self.spread_distinct[group] += (after > 0) - (before > 0)

    def fits(self, unit: Unit, host: int) -> bool:
        """Could `unit` move to `host` now without breaking a limit or rule?"""
        if host not in unit.allowed:
            return False
        here = self.assignment[unit.index] == host
        extra = 0 if here else 1
        p = self.problem
        if self.memory[host] + extra * unit.memory_mib > p.memory_limit[host]:
            return False
        if self.vcpus[host] + extra * unit.vcpus > p.vcpu_limit[host]:
            return False
        if self.load[host] + extra * unit.cpu_load > p.load_limit[host]:
            return False
        if unit.extra and not self._extra_fits(unit, host, extra):
            return False
        return self.anti_affinity_ok(unit, host) and (not unit.min_spread or self.min_spread_ok(unit, host))

    def _extra_fits(self, unit: Unit, host: int, times: int) -> bool:
        return all(used + times * need <= limit
                   for used, need, limit in zip(self.extra_used[host], unit.extra, self.extra_limit_rows[host]))

    def within_budget(self, unit: Unit, host: int) -> bool:
        """Would moving `unit` to `host` keep the plan within max_moves / max_moved_memory?"""
        limits = self.problem.rules.policy.limits
        current = self.assignment[unit.index]
        if limits.max_moves is not None:
            if self.moved_vms + unit.moved_vms(host) - unit.moved_vms(current) > limits.max_moves:
                return False
        if limits.max_moved_memory_mib is not None:
            if self.moved_mib + unit.move_cost(host) - unit.move_cost(current) > limits.max_moved_memory_mib:
                return False
        return True

    def anti_affinity_ok(self, unit: Unit, host: int) -> bool:
        current = self.assignment[unit.index]
        for membership in unit.anti_affinity:
            domains = self.problem.anti_affinity[membership.group].domain_of_host
            domain = domains[host]
            others = self.occupancy[membership.group].get(domain, 0)
            if domains[current] == domain:
                others -= membership.members
            if others > 0:
                return False
        return True

    def min_spread_ok(self, unit: Unit, host: int) -> bool:
        return self.min_spread_refusal(unit, host) is None

    def min_spread_refusal(self, unit: Unit, host: int) -> int | None:
        """The min_spread group refusing the move, if any: a move that takes a group's last member
        out of a domain without bringing the group to a new one, when the group has no domain to
        spare (at or below at_least)."""
        p = self.problem
        current = self.assignment[unit.index]
        for membership in unit.min_spread:
            group = membership.group
            layout = p.min_spread[group]
            source, target = layout.domain_of_host[current], layout.domain_of_host[host]
            if source == target or self.spread_distinct[group] > layout.at_least:
                continue
            occupancy = self.spread_occupancy[group]
            if occupancy.get(source, 0) == membership.members and target in occupancy:
                return group
        return None

    def spread_short(self, group: int) -> int:
        """How many more domains min_spread group `group` needs (0 when it holds)."""
        return max(0, self.problem.min_spread[group].at_least - self.spread_distinct[group])

    def move(self, unit: Unit, host: int) -> None:
        source = self.assignment[unit.index]
        if source == host:
            return
        self._relocate(unit, source, host)
        self.moves.append((unit.index, source, host))

    def _relocate(self, unit: Unit, source: int, host: int) -> None:
        self._add(unit, source, -1)
        self._add(unit, host)
        self.assignment[unit.index] = host
        self.moved_vms += unit.moved_vms(host) - unit.moved_vms(source)
        self.moved_mib += unit.move_cost(host) - unit.move_cost(source)
        if self.weighted:
            self.weighted_mib += unit.weighted_cost(host) - unit.weighted_cost(source)

    def undo_to(self, mark: int) -> None:
        """Roll back every move made since len(self.moves) was `mark`."""
        while self.path and self.path[-1][0] > mark:
            self.path.pop()
        while len(self.moves) > mark:
            index, source, _ = self.moves.pop()
            unit = self.problem.units[index]
            self._relocate(unit, self.assignment[index], source)

    # Utilisation, in the same per-mille as planner.domain.metrics, so greedy and reports agree.
    def cpu_permille(self, host: int) -> int:
        return int(self.cpu_pm[host])

    def memory_permille(self, host: int) -> int:
        return int(self.mem_pm[host])

    def peaks(self) -> tuple[int, int]:
        """(peak CPU ‰, peak memory ‰) over the hosts the goal metric looks at."""
        if self._peaks is None:
            if not self.metric_mask.any():
                self._peaks = (0, 0)
            else:
                # where= instead of a masked copy: most clusters look at every host.
                self._peaks = (int(np.max(self.cpu_pm, where=self.metric_mask, initial=0)),
                               int(np.max(self.mem_pm, where=self.metric_mask, initial=0)))
        return self._peaks

    def over_hard_limit(self, host: int) -> bool:
        p = self.problem
        return self.memory[host] > p.memory_limit[host] or self.vcpus[host] > p.vcpu_limit[host] \
            or self.load[host] > p.load_limit[host] \
            or any(used > limit for used, limit in zip(self.extra_used[host], self.extra_limit_rows[host]))

    def spread_metric(self) -> int:
        wc, wm = self.problem.spread_weights
        fc, fm = self.problem.spread_floors
        peak_cpu, peak_mem = self.peaks()
        return wc * max(peak_cpu, fc) + wm * max(peak_mem, fm) + self.extra_metric()

    def extra_peaks(self) -> np.ndarray:
        """Peak utilisation ‰ of each extra resource over the hosts the goal metric looks at."""
        if not self.metric_mask.any() or not self.extra_pm.shape[1]:
            return np.zeros(self.extra_pm.shape[1], dtype=np.int64)
        return self.extra_pm[self.metric_mask].max(axis=0)

    def extra_caps(self) -> np.ndarray:
        """Per extra resource, the ‰ a host may reach without raising the spread goal: the current
        peak (or the threshold, if higher) for a weighed resource, no cap for an unweighed one."""
        weights = np.asarray(self.problem.extra_weights, dtype=np.int64)
        floors = np.asarray(self.problem.extra_floors, dtype=np.int64)
        return np.where(weights > 0, np.maximum(self.extra_peaks(), floors), np.iinfo(np.int64).max // 2000)

    def under_extra_caps(self, after: np.ndarray, hosts: list[int] | None = None,
                         caps: np.ndarray | None = None) -> np.ndarray:
        """Which rows of `after` (sizes of every host as sizes_with gives, or of `hosts`) keep every
        extra resource at or under `caps` (default extra_caps()): a move that relieves one peak
        must not pay for it with a higher peak of another resource."""
        if not self.problem.resources:
            return np.ones(len(after), dtype=bool)
        capacity = self.extra_capacity if hosts is None else self.extra_capacity[hosts]
        limit = self.extra_caps() if caps is None else caps
        return permilles_at_most(after[:, 3:], capacity, limit).all(axis=1)

    def extra_metric(self) -> int:
        """The extra resources' part of the spread goal: Σ weight × max(peak, floor)."""
        if not self.problem.resources:
            return 0
        floors = np.asarray(self.problem.extra_floors, dtype=np.int64)
        return int(np.asarray(self.problem.extra_weights) @ np.maximum(self.extra_peaks(), floors))

    def allowed_mask(self, unit: Unit) -> np.ndarray:
        """unit.allowed as a boolean array over hosts (units share a handful of allowed sets)."""
        mask = self._allowed_masks.get(id(unit.allowed))
        if mask is None:
            mask = np.zeros(len(self.problem.hosts), dtype=bool)
            mask[list(unit.allowed)] = True
            self._allowed_masks[id(unit.allowed)] = mask
        return mask

    def most_under(self, caps: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Per host, the most memory (MiB) and load (millicores) it may hold within its limits with
        its memory ‰ and CPU ‰ at or under `caps` (CPU ‰, memory ‰). Cached: an aimed greedy pass
        asks for the same caps at every step."""
        key = (int(caps[0]), int(caps[1]))
        most = self._most_at.get(key)
        if most is None:
            if len(self._most_at) >= MOST_UNDER_CACHED:
                self._most_at.clear()
            most = self._most_at[key] = (
                np.minimum(self.limits[:, 0], most_at_permille(key[1], self.memory_capacity_array)),
                np.minimum(self.limits[:, 2], most_at_permille(key[0], self.cpu_capacity_array)))
        return most

    def may_go_to(self, indexes: np.ndarray, host: int) -> np.ndarray:
        """Per unit of `indexes` (Unit.index), whether `host` is one of its allowed hosts."""
        arrays = self.problem.unit_arrays
        allowing = self._sets_allowing.get(host)
        if allowing is None:
            allowing = self._sets_allowing[host] = arrays.allowing(host)
        return allowing[arrays.allowed_set[indexes]]

    def sizes_with(self, unit: Unit, hosts: list[int] | None = None) -> np.ndarray:
        """What every host (or each of `hosts`) would hold with `unit` added: rows of (memory MiB,
        vCPUs, load, extras…)."""
        held = self.sizes if hosts is None else self.sizes[hosts]
        return held + (unit.memory_mib, unit.vcpus, unit.cpu_load, *unit.extra)

    def room_for(self, unit: Unit, memory: bool = True) -> np.ndarray:
        """Which hosts have the memory, vCPUs and load room for `unit` on top of what they hold
        (the size part of fits(); a host the unit is on counts it twice, so check fits() too).
        `memory=False` leaves memory out: the hosts where freeing memory would be enough."""
        # Column by column: numpy's all(axis=1) over rows this short cost 0.13 ms a call at 5,000
        # hosts, most of a large consolidation's scans.
        sizes, limits = self.sizes, self.limits
        demand = (unit.memory_mib, unit.vcpus, unit.cpu_load, *unit.extra)
        room = sizes[:, 0] + demand[0] <= limits[:, 0] if memory else np.ones(len(sizes), dtype=bool)
        for column in range(1, len(demand)):
            room &= sizes[:, column] + demand[column] <= limits[:, column]
        return room

    def mark_step(self) -> None:
        """Record the end of a whole heuristic step (see `path`)."""
        self.path.append((len(self.moves), self.goal_value(), self.moved_mib, self.moved_vms, self.move_cost))

    def goal_value(self) -> int:
        """The number the problem's goal minimises: hosts in use, or the weighted peak."""
        if self.problem.goal.minimises_hosts:
            return self.hosts_in_use()
        return self.spread_metric()

    def hosts_in_use(self) -> int:
        return sum(1 for h in self.problem.metric_hosts if self.units_on[h])
