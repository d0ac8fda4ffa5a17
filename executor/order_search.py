"""A complete search for a safe order of moves, for when the greedy replay deadlocks itself.

Started eagerly, a small move can take the room that a move a step later needed, and the replay
stalls although another order is safe. Before the plan is refused, this module searches the orders
themselves: a state is where every moving VM is (its source, a parking host, or its destination);
an action moves one VM to its destination, or sends a VM that has not yet taken its one detour to a
parking host. An action may start only when its destination has room for the VM while the source
still holds it. Visited states are remembered (the state alone decides what can still happen), so
no state is expanded twice.

Orders without detours are searched first, to the end; detours are searched only when none exists.
Two things keep the search small without losing any safe order:
- A move into a host that has room for all its remaining incoming VMs at once (and, when parking is
  searched, for every VM that could still be parked there) is made at once, without branching:
  nothing that could happen on that host later can be hurt by it, and its source only gains room.
- Hosts that no chain of moves links are searched apart (see `find_safe_order`).
- The search stops after `budget` states. It then says it gave up, which is not a proof.

When it proves that no order exists, it reports the furthest dead end it met: how many moves ran,
and the hosts whose room the waiting moves cannot get.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from executor.steps import StepKind

SEARCH_BUDGET = 200_000  # states; at worst a few seconds, on stalls the greedy replay could not break

_AT_SOURCE, _PARKED, _DONE = 0, 1, 2
_LISTED = 5  # VMs and hosts named in a message before "…"


@dataclass(frozen=True)
class Leg:
    """One migration: a plan's move, or one leg of a parking detour."""

    vm: str
    source: str
    destination: str
    memory_mib: int
    vcpus: int
    kind: StepKind

    def describe(self) -> str:
        size = f"{self.memory_mib} MiB, {self.vcpus} vCPUs"
        if self.kind is StepKind.UNPARK:
            return f"{self.vm} (parked on {self.source}, bound for {self.destination}, {size})"
        return f"{self.vm} ({self.source}→{self.destination}, {size})"


@dataclass(frozen=True)
class SafeOrder:
    """Legs in an order that keeps every host within capacity, one at a time."""

    legs: tuple[Leg, ...]


@dataclass(frozen=True)
class Blocked:
    """A host whose room the waiting moves cannot get, at a dead end of the search."""

    host: str
    memory_used: int
    memory_usable: int
    vcpus_used: int
    vcpus_usable: int
    waiting: tuple[Leg, ...]

    def describe(self) -> str:
        names = ", ".join(leg.describe() for leg in self.waiting[:_LISTED]) + (" …" if len(self.waiting) > _LISTED else "")
        return (f"{self.host} blocks: {self.memory_used} of {self.memory_usable} MiB and {self.vcpus_used} of "
                f"{self.vcpus_usable} vCPUs in use, so {names} cannot move in")


@dataclass(frozen=True)
class DeadEnd:
    """The furthest state the search reached: how many of the plan's moves ran, and what blocks."""

    moves_done: int
    moves: int
    blocked: tuple[Blocked, ...]

    def describe(self) -> str:
        hosts = "; ".join(b.describe() for b in self.blocked[:_LISTED]) + ("; …" if len(self.blocked) > _LISTED else "")
        return f"after {self.moves_done} of {self.moves} moves: {hosts}"


@dataclass(frozen=True)
class NoOrder:
    """Proved: every order of the moves (with at most one detour per VM) gets stuck."""

    furthest: DeadEnd
    parking: bool  # whether some VM had a parking host to try at all

    def explain(self) -> str:
        detours = (", even with one parking detour per VM" if self.parking
                   else " (no host could take a parked VM)")
        return (f"this plan cannot be executed safely: every order of its moves gets stuck{detours}; "
                f"the furthest one stops {self.furthest.describe()}")


@dataclass(frozen=True)
class GaveUp:
    """The search ran out of budget: no safe order found, none proved impossible."""

    budget: int
    furthest: DeadEnd

    def explain(self) -> str:
        return (f"this plan was refused: the moves stall when started greedily, and the search of orders stopped "
                f"after {self.budget} states without finding a safe order or proving that none exists; "
                f"the furthest it got stops {self.furthest.describe()}")


Outcome = SafeOrder | NoOrder | GaveUp


def find_safe_order(legs: Sequence[Leg], capacity: Mapping[str, tuple[int, int]], usage: Mapping[str, tuple[int, int]],
                    parking_hosts: Sequence[str], budget: int = SEARCH_BUDGET) -> Outcome:
    """A safe order of `legs` (plan moves, sources still holding their VMs), fewest detours first.

    `capacity` and `usage` are (memory MiB, vCPUs) per host; `parking_hosts` may take a detour.
    Without detours, hosts linked by no chain of moves never share room, so each such group is
    searched alone (a dead end in one is not re-explored for every order of the others). Detours
    link every group through the parking hosts; before searching all groups together, each stuck
    group is searched alone with the others' VMs already gone from their sources: if it is stuck
    even then, it is stuck in every order, which proves the refusal cheaply.
    """
    spend = _Budget(budget)
    groups = _host_groups(legs)
    solved: list[Leg] = []
    stuck: list[tuple[list[Leg], NoOrder | GaveUp]] = []
    for group in groups:
        outcome = spend.search(group, capacity, usage, (), until=budget // 2)
        if isinstance(outcome, SafeOrder):
            solved.extend(outcome.legs)
        else:
            stuck.append((group, outcome))
    if not stuck:
        return SafeOrder(tuple(solved))
    if not any(set(parking_hosts) - {leg.source, leg.destination} for leg in legs):
        return _in_plan(stuck[0][1], len(solved), len(legs), budget)
    if solved:
        # Stuck groups first: every detour ends before the other groups start, so they start from the snapshot.
        stuck_legs = [leg for group, _ in stuck for leg in group]
        joint = spend.search(stuck_legs, capacity, usage, parking_hosts, until=budget * 5 // 8)
        if isinstance(joint, SafeOrder):
            return SafeOrder(joint.legs + tuple(solved))
    if len(groups) > 1:
        for group, _ in stuck:
            alone = spend.search(group, capacity, _others_gone(usage, legs, group), parking_hosts, until=budget * 3 // 4)
            if isinstance(alone, NoOrder):
                return _in_plan(alone, len(solved), len(legs), budget)
    # Orders with detours include those without: this search alone decides, and its proof is complete.
    return _in_plan(spend.search(legs, capacity, usage, parking_hosts, until=budget), 0, len(legs), budget)


def _in_plan(outcome: Outcome, done_elsewhere: int, moves: int, budget: int) -> Outcome:
    """A group's outcome restated for the whole plan: moves counted over all of it, the whole budget."""
    if isinstance(outcome, SafeOrder):
        return outcome
    furthest = replace(outcome.furthest, moves_done=outcome.furthest.moves_done + done_elsewhere, moves=moves)
    if isinstance(outcome, GaveUp):
        return GaveUp(budget, furthest)
    return replace(outcome, furthest=furthest)


def _others_gone(usage: Mapping[str, tuple[int, int]], legs: Sequence[Leg], group: list[Leg]) -> dict[str, tuple[int, int]]:
    """Usage with every VM outside `group` gone from its source and arriving nowhere: the most room the
    group could ever find outside its own hosts (more room never makes a safe order unsafe)."""
    inside = {id(leg) for leg in group}
    relaxed = dict(usage)
    for leg in legs:
        if id(leg) not in inside:
            memory, vcpus = relaxed[leg.source]
            relaxed[leg.source] = (memory - leg.memory_mib, vcpus - leg.vcpus)
    return relaxed


class _Budget:
    """States searched so far across the searches of one plan, each capped at a share of the whole."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.spent = 0

    def search(self, legs: Sequence[Leg], capacity: Mapping[str, tuple[int, int]], usage: Mapping[str, tuple[int, int]],
               parking_hosts: Sequence[str], until: int) -> Outcome:
        search = _Search(legs, capacity, usage, parking_hosts, max(1, min(until, self.total) - self.spent))
        outcome = search.run()
        self.spent += search.expanded
        return outcome


def _host_groups(legs: Sequence[Leg]) -> list[list[Leg]]:
    """The legs split by connected groups of hosts (a move links its source and its destination)."""
    parent: dict[str, str] = {}

    def root(host: str) -> str:
        parent.setdefault(host, host)
        while parent[host] != host:
            parent[host] = parent[parent[host]]
            host = parent[host]
        return host

    for leg in legs:
        parent[root(leg.source)] = root(leg.destination)
    groups: dict[str, list[Leg]] = defaultdict(list)
    for leg in legs:
        groups[root(leg.source)].append(leg)
    return list(groups.values())


class _Search:
    """Depth-first over states with an undo log, so a state costs what its actions change."""

    def __init__(self, legs: Sequence[Leg], capacity: Mapping[str, tuple[int, int]],
                 usage: Mapping[str, tuple[int, int]], parking_hosts: Sequence[str], budget: int) -> None:
        self.legs = list(legs)
        self.capacity = dict(capacity)
        self.memory = {h: usage.get(h, (0, 0))[0] for h in self.capacity}
        self.vcpus = {h: usage.get(h, (0, 0))[1] for h in self.capacity}
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
        # Still to arrive per host, and the VMs that could still take a detour (by source and destination).
        self.inbound = {h: [0, 0, 0] for h in self.capacity}
        self.parkable = [0, 0]
        self.parkable_from = {h: [0, 0] for h in self.capacity}
        self.parkable_to = {h: [0, 0] for h in self.capacity}
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
        cap_memory, cap_vcpus = self.capacity[host]
        return self.memory[host] + leg.memory_mib <= cap_memory and self.vcpus[host] + leg.vcpus <= cap_vcpus

    def _actions(self) -> Iterator[tuple[int, str, StepKind]]:
        """Moves to destinations first (those that free room someone waits for, larger first), then detours."""
        def frees_waited_room(i: int) -> bool:
            return self.inbound[self.where[i]][2] > 0

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
                           key=lambda h: (self.inbound[h][2] > 0, self.memory[h] - self.capacity[h][0], h))
            for host in hosts:
                if self._fits(host, leg):
                    yield i, host, StepKind.PARK

    def _arrival_kind(self, i: int) -> StepKind:
        return StepKind.UNPARK if self.state[i] == _PARKED else StepKind.MOVE

    def _takes_all_inbound(self, host: str) -> bool:
        """Room for every VM still bound here at once (and for every possible detour, if it may take one)."""
        memory, vcpus, count = self.inbound[host]
        if not count:
            return False
        if host in self.parking_set:
            memory += self.parkable[0] - self.parkable_from[host][0] - self.parkable_to[host][0]
            vcpus += self.parkable[1] - self.parkable_from[host][1] - self.parkable_to[host][1]
        cap_memory, cap_vcpus = self.capacity[host]
        return self.memory[host] + memory <= cap_memory and self.vcpus[host] + vcpus <= cap_vcpus

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
            totals[0] += inbound * leg.memory_mib
            totals[1] += inbound * leg.vcpus
            totals[2] += inbound
        if parkable:
            for totals in (self.parkable, self.parkable_from[leg.source], self.parkable_to[leg.destination]):
                totals[0] += parkable * leg.memory_mib
                totals[1] += parkable * leg.vcpus

    def _relocate(self, i: int, host: str, kind: StepKind) -> None:
        leg = self.legs[i]
        source, before = self.where[i], self.state[i]
        self.undo.append((i, source, before))
        self.sequence.append(Leg(leg.vm, source, host, leg.memory_mib, leg.vcpus, kind))
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
        self.memory[destination] += leg.memory_mib
        self.vcpus[destination] += leg.vcpus
        self.memory[source] -= leg.memory_mib
        self.vcpus[source] -= leg.vcpus

    def _note_dead_end(self) -> None:
        done = len(self.legs) - len(self.pending)
        if self.furthest is None or done > self.furthest.moves_done:
            self.furthest = self._dead_end()

    def _dead_end(self) -> DeadEnd:
        waiting: dict[str, list[Leg]] = defaultdict(list)
        for i in sorted(self.pending, key=lambda i: self.legs[i].vm):
            leg = self.legs[i]
            if not self._fits(leg.destination, leg):
                waiting[leg.destination].append(
                    Leg(leg.vm, self.where[i], leg.destination, leg.memory_mib, leg.vcpus, self._arrival_kind(i)))
        blocked = tuple(
            Blocked(host, self.memory[host], self.capacity[host][0], self.vcpus[host], self.capacity[host][1], tuple(legs))
            for host, legs in sorted(waiting.items()))
        return DeadEnd(len(self.legs) - len(self.pending), len(self.legs), blocked)
