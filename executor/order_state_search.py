"""Depth-first search over the states of one group of moves (see executor/order_search.py).

A state is where every moving VM is: its source, a parking host, or its destination. An action
moves one VM to its destination, or sends a VM that has not yet taken its one detour to a parking
host; it may start only when its destination has room for the VM while the source still holds it.
Visited states are remembered (the state alone decides what can still happen), so no state is
expanded twice, and an undo log makes a state cost only what its actions change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

from executor.order_outcomes import Blocked, DeadEnd, GaveUp, Leg, NoOrder, SafeOrder
from executor.sizes import Size, fits, shift, zero
from executor.steps import StepKind

_AT_SOURCE, _PARKED, _DONE = 0, 1, 2


class StateSearch:
    """Depth-first over states with an undo log, so a state costs what its actions change."""

    def __init__(self, legs: Sequence[Leg], capacity: Mapping[str, Size], usage: Mapping[str, Size],
                 parking_hosts: Sequence[str], budget: int, resources: tuple[str, ...] = ()) -> None:
        self.legs = list(legs)
        self.capacity = dict(capacity)
        self.resources = resources
        dimensions = 2 + len(resources)
        # Held per host, one entry per resource (executor/sizes.py): memory first.
        self.used = {h: list(usage.get(h, zero(dimensions))) for h in self.capacity}
        self.parking_hosts = list(parking_hosts)
        self.parking_set = set(parking_hosts)
        self.budget = budget
        self.where = [leg.source for leg in self.legs]
        self.state = [_AT_SOURCE] * len(self.legs)
        self.pending = set(range(len(self.legs)))
        self.done_mask = 0
        self.parked: dict[int, str] = {}
        self.into: dict[str, list[int]] = defaultdict(list)
        for i, leg in enumerate(self.legs):
            self.into[leg.destination].append(i)
        # Still to arrive per host (sizes, then their count), and the VMs that could still take a
        # detour (by source and destination).
        self.inbound = {h: zero(dimensions + 1) for h in self.capacity}
        self.parkable = zero(dimensions)
        self.parkable_from = {h: zero(dimensions) for h in self.capacity}
        self.parkable_to = {h: zero(dimensions) for h in self.capacity}
        for leg in self.legs:
            self._count(leg, inbound=1, parkable=1)
        self.undo: list[tuple[int, str, int]] = []
        self.sequence: list[Leg] = []
        self.visited: set[object] = set()
        self.expanded = 0
        self.furthest: DeadEnd | None = None

    def run(self) -> SafeOrder | NoOrder | GaveUp:
        self._commit_safe(list(self.capacity))
        if not self.pending:
            return SafeOrder(tuple(self.sequence))
        self.visited.add(self._key())
        self.expanded = 1
        stack: list[tuple[Iterator[tuple[int, str, StepKind]], int, list[bool]]] = [(self._actions(), 0, [False])]
        while stack:
            actions, mark, acted = stack[-1]
            action = next(actions, None)
            if action is None:
                if not acted[0]:
                    self._note_dead_end()
                stack.pop()
                self._undo_to(mark)
                continue
            acted[0] = True
            child_mark = len(self.undo)
            i, host, kind = action
            source = self.where[i]
            self._relocate(i, host, kind)
            self._commit_safe([source])
            if not self.pending:
                return SafeOrder(tuple(self.sequence))
            key = self._key()
            if key in self.visited:
                self._undo_to(child_mark)
                continue
            if self.expanded >= self.budget:
                return GaveUp(self.budget, self.furthest or self._dead_end())
            self.visited.add(key)
            self.expanded += 1
            stack.append((self._actions(), child_mark, [False]))
        assert self.furthest is not None  # a finite search without success ends in dead ends
        return NoOrder(self.furthest, bool(self.parking_hosts))

    def _key(self) -> object:
        if not self.parked:
            return self.done_mask
        return (self.done_mask, frozenset(self.parked.items()))

    def _fits(self, host: str, leg: Leg) -> bool:
        return fits(self.used[host], leg.size, self.capacity[host])

    def _actions(self) -> Iterator[tuple[int, str, StepKind]]:
        """Moves to destinations first (those that free room someone waits for, larger first), then detours."""
        def frees_waited_room(i: int) -> bool:
            return self.inbound[self.where[i]][-1] > 0

        moves = [i for i in self.pending if self._fits(self.legs[i].destination, self.legs[i])]
        moves.sort(key=lambda i: (not frees_waited_room(i), -self.legs[i].memory_mib, -self.legs[i].vcpus, i))
        for i in moves:
            yield i, self.legs[i].destination, self._arrival_kind(i)
        if not self.parking_hosts:
            return
        detours = [i for i in self.pending if self.state[i] == _AT_SOURCE]
        detours.sort(key=lambda i: (not frees_waited_room(i), self.legs[i].memory_mib, self.legs[i].vcpus, i))
        for i in detours:
            leg = self.legs[i]
            # Hosts nobody waits for first (a detour must not take room a planned move needs), then the emptiest.
            hosts = sorted((h for h in self.parking_hosts if h not in (leg.source, leg.destination)),
                           key=lambda h: (self.inbound[h][-1] > 0, self.used[h][0] - self.capacity[h][0], h))
            for host in hosts:
                if self._fits(host, leg):
                    yield i, host, StepKind.PARK

    def _arrival_kind(self, i: int) -> StepKind:
        return StepKind.UNPARK if self.state[i] == _PARKED else StepKind.MOVE

    def _takes_all_inbound(self, host: str) -> bool:
        """Room for every VM still bound here at once (and for every possible detour, if it may take one)."""
        *arriving, count = self.inbound[host]
        if not count:
            return False
        if host in self.parking_set:
            arriving = [amount + self.parkable[d] - self.parkable_from[host][d] - self.parkable_to[host][d]
                        for d, amount in enumerate(arriving)]
        return fits(self.used[host], arriving, self.capacity[host])

    def _commit_safe(self, hosts: list[str]) -> None:
        """Make every move that cannot hurt any order (see the module's docstring), cascading to freed sources."""
        while hosts:
            host = hosts.pop()
            if host not in self.capacity or not self._takes_all_inbound(host):
                continue
            for i in self.into[host]:
                if self.state[i] != _DONE:
                    hosts.append(self.where[i])
                    self._relocate(i, host, self._arrival_kind(i))

    def _count(self, leg: Leg, inbound: int = 0, parkable: int = 0) -> None:
        if inbound:
            totals = self.inbound[leg.destination]
            shift(totals, leg.size, inbound)
            totals[-1] += inbound
        if parkable:
            for totals in (self.parkable, self.parkable_from[leg.source], self.parkable_to[leg.destination]):
                shift(totals, leg.size, parkable)

    def _relocate(self, i: int, host: str, kind: StepKind) -> None:
        leg = self.legs[i]
        source, before = self.where[i], self.state[i]
        self.undo.append((i, source, before))
        self.sequence.append(leg.moved(source, host, kind))
        self._shift_usage(leg, source, host)
        self.where[i] = host
        if before == _AT_SOURCE:
            self._count(leg, parkable=-1)
        else:
            del self.parked[i]
        if kind is StepKind.PARK:
            self.state[i] = _PARKED
            self.parked[i] = host
        else:
            self.state[i] = _DONE
            self.pending.discard(i)
            self.done_mask |= 1 << i
            self._count(leg, inbound=-1)

    def _undo_to(self, mark: int) -> None:
        while len(self.undo) > mark:
            i, source, before = self.undo.pop()
            self.sequence.pop()
            leg = self.legs[i]
            host = self.where[i]
            self._shift_usage(leg, host, source)
            if self.state[i] == _DONE:
                self.pending.add(i)
                self.done_mask &= ~(1 << i)
                self._count(leg, inbound=1)
            else:
                del self.parked[i]
            if before == _AT_SOURCE:
                self._count(leg, parkable=1)
            else:
                self.parked[i] = source
            self.where[i], self.state[i] = source, before

    def _shift_usage(self, leg: Leg, source: str, destination: str) -> None:
        shift(self.used[destination], leg.size)
        shift(self.used[source], leg.size, -1)

    def _blocked(self, host: str, waiting: tuple[Leg, ...]) -> Blocked:
        (memory, vcpus, *extra), (memory_cap, vcpus_cap, *extra_cap) = self.used[host], self.capacity[host]
        return Blocked(host, memory, memory_cap, vcpus, vcpus_cap, waiting,
                       tuple(zip(self.resources, extra, extra_cap)))

    def _note_dead_end(self) -> None:
        done = len(self.legs) - len(self.pending)
        if self.furthest is None or done > self.furthest.moves_done:
            self.furthest = self._dead_end()

    def _dead_end(self) -> DeadEnd:
        waiting: dict[str, list[Leg]] = defaultdict(list)
        for i in sorted(self.pending, key=lambda i: self.legs[i].vm):
            leg = self.legs[i]
            if not self._fits(leg.destination, leg):
                waiting[leg.destination].append(leg.moved(self.where[i], leg.destination, self._arrival_kind(i)))
        blocked = tuple(self._blocked(host, tuple(legs)) for host, legs in sorted(waiting.items()))
        return DeadEnd(len(self.legs) - len(self.pending), len(self.legs), blocked)
