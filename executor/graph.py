"""Ordering: which move waits for which, so that no host is ever over capacity.

The plan says where VMs end; this module says in what order they may get there. It replays the
moves one at a time against host capacities (a move runs as soon as its destination has room),
which gives a safe sequence S. From S it derives the dependency graph the dispatcher follows:
a move into host d waits for the first k moves out of d in S, where k is the fewest outs that make
room for it on top of every move into d that S ran before it. Those "first k outs of d" are chained
marker nodes (`Freed(d, k)`), so the graph has O(moves) edges however busy a host is.

When the replay stalls (a swap, a rotation, full hosts), one VM of the stall takes a detour via a
parking host with room: a PARK step now, an UNPARK step to its real destination later. Started
eagerly, the replay can also deadlock itself where another order is safe; when no host can take a
stalled VM, a complete search over step order (executor/order_search.py) decides instead, and only
when it proves that no order exists is the plan refused as unsafe, before anything runs, naming the
hosts that block.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from executor.capacity import capacities
from executor.errors import UnsafePlanError
from executor.order_search import Leg, SafeOrder, find_safe_order
from executor.sizes import fits, shift, vm_extra, zero
from executor.steps import Step, StepKind
from planner.domain.model import Cluster
from planner.domain.plan import Plan


@dataclass(frozen=True)
class Freed:
    """Marker node: the first `count` moves out of `host` (in the safe sequence) are done."""

    host: str
    count: int


@dataclass(frozen=True)
class Ordering:
    """Steps in a safe sequential order, and the graph (prerequisite → dependent) between them.

    Graph nodes are step indexes (ints) and `Freed` markers.
    """

    steps: tuple[Step, ...]
    graph: nx.DiGraph

    @property
    def parked(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.kind is StepKind.PARK)

    def chain_mib(self) -> list[int]:
        """Per step: the memory to migrate along the longest chain of steps from it, itself included.

        Dispatching the longest chains first keeps the end of a run from waiting on a long tail of
        dependent moves; with nothing waiting behind them, that is simply the larger VMs first.
        Computed in reverse sequence order (S is a topological order; each Freed marker sits right
        after the out-move that completes it), so it is linear in the graph's size.
        """
        marker_after: dict[int, Freed] = {}
        for node in self.graph.nodes:
            if isinstance(node, Freed):
                marker_after.update((p, node) for p in self.graph.predecessors(node) if isinstance(p, int))
        level: dict[object, int] = {}
        for step in reversed(self.steps):
            marker = marker_after.get(step.index)
            if marker is not None:
                level[marker] = max((level[s] for s in self.graph.successors(marker)), default=0)
            level[step.index] = step.memory_mib + max((level[s] for s in self.graph.successors(step.index)), default=0)
        return [level[step.index] for step in self.steps]

    def waits_for(self, index: int) -> tuple[int, ...]:
        """The steps that `index` waits for, markers expanded (for display and checks)."""
        found: set[int] = set()
        stack = list(self.graph.predecessors(index))
        seen: set[object] = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if isinstance(node, int):
                found.add(node)
            else:
                stack.extend(self.graph.predecessors(node))
        return tuple(sorted(found))


def order_plan(plan: Plan) -> Ordering:
    """The plan's moves ordered from the snapshot the plan was made from."""
    return order_moves(plan.cluster, plan.cluster.placement, {m.vm: m.destination for m in plan.moves})


def order_moves(cluster: Cluster, start: Mapping[str, str | None], targets: Mapping[str, str]) -> Ordering:
    """Order the moves that take each VM from `start` (None: gone) to `targets`.

    Raises UnsafePlanError, naming the hosts that block, when no safe order exists even with parking.
    """
    legs = []
    for name, destination in targets.items():
        vm = cluster.vm_by_name[name]
        source = start.get(name, vm.host)
        if source is not None and source != destination:
            legs.append(Leg(name, source, destination, vm.memory_mib, vm.vcpus, StepKind.MOVE,
                            vm_extra(vm, cluster.resource_names)))
    replay = _Replay(cluster, start)
    _check_targets_fit(replay, legs)
    try:
        sequence = replay.run(legs)
    except _Stalled:
        sequence = _searched_order(replay, legs)
    steps = tuple(
        Step(i, leg.vm, cluster.vm_by_name[leg.vm].uuid, leg.source, leg.destination, leg.memory_mib, leg.vcpus,
             leg.kind, leg.extra)
        for i, leg in enumerate(sequence)
    )
    return Ordering(steps, _dependency_graph(replay.capacity, replay.start_usage, steps))


class _Stalled(Exception):
    """The greedy replay is stuck and no stalled VM has a parking host with room."""


def _searched_order(replay: "_Replay", legs: list[Leg]) -> list[Leg]:
    """The greedy replay's stall may be of its own making: search every order from the start before refusing."""
    outcome = find_safe_order(legs, replay.capacity, replay.start_usage, replay.parking_hosts,
                              resources=replay.resources)
    if isinstance(outcome, SafeOrder):
        return list(outcome.legs)
    raise UnsafePlanError(outcome.explain())


class _Replay:
    """Runs the moves one at a time against capacities, parking a VM whenever everything stalls.

    Sizes are vectors (executor/sizes.py): memory first, so "the emptiest host" means most free memory.
    """

    def __init__(self, cluster: Cluster, start: Mapping[str, str | None]) -> None:
        self.resources = cluster.resource_names
        self.capacity = capacities(cluster)
        self.parking_hosts = [h.name for h in cluster.hosts if h.takes_new_vms]
        dimensions = 2 + len(self.resources)
        self.used = {host: zero(dimensions) for host in self.capacity}
        for vm in cluster.vms:
            host = start.get(vm.name, vm.host)
            if host is not None:
                shift(self.used[host], (vm.memory_mib, vm.vcpus, *vm_extra(vm, self.resources)))
        self.start_usage = {h: tuple(used) for h, used in self.used.items()}
        self.pending: dict[str, list[Leg]] = defaultdict(list)
        self.waiting = 0
        self.dirty: list[str] = []
        self.sequence: list[Leg] = []
        self.parked: set[str] = set()

    def run(self, legs: list[Leg]) -> list[Leg]:
        # Larger VMs first, as the dispatcher prefers them: S and the real order then agree more often.
        for leg in sorted(legs, key=lambda g: (-g.memory_mib, -g.vcpus, g.vm)):
            self._offer(leg)
        self._drain()
        while self.waiting:
            self._park_one()
            self._drain()
        return self.sequence

    def _fits(self, host: str, leg: Leg) -> bool:
        return fits(self.used[host], leg.size, self.capacity[host])

    def _free_memory(self, host: str) -> int:
        return self.capacity[host][0] - self.used[host][0]

    def _offer(self, leg: Leg) -> None:
        if self._fits(leg.destination, leg):
            self._execute(leg)
        else:
            self.pending[leg.destination].append(leg)
            self.waiting += 1

    def _execute(self, leg: Leg) -> None:
        shift(self.used[leg.destination], leg.size)
        shift(self.used[leg.source], leg.size, -1)
        self.sequence.append(leg)
        if self.pending.get(leg.source):
            self.dirty.append(leg.source)

    def _drain(self) -> None:
        """Admit every waiting move that room freed since the last look allows, cascading."""
        while self.dirty:
            host = self.dirty.pop()
            still = []
            for leg in self.pending.get(host, ()):
                if self._fits(host, leg):
                    self.waiting -= 1
                    self._execute(leg)
                else:
                    still.append(leg)
            self.pending[host] = still

    def _park_one(self) -> None:
        """Break a stall: send one stalled VM to a host with room, so its source takes a waiting VM.

        Preferred: the smallest VM whose departure lets some waiting VM into its source (cheap and
        useful); then any other stalled VM, smallest first. Each VM takes at most one detour.
        """
        room_needed = self._room_needed()
        stalled = [leg for legs in self.pending.values() for leg in legs if leg.vm not in self.parked]

        def helps(leg: Leg) -> bool:
            need = room_needed.get(leg.source)
            return need is not None and all(size >= wanted for size, wanted in zip(leg.size, need))

        largest_free = max((self._free_memory(h) for h in self.parking_hosts), default=0)
        for wanted in (True, False):
            candidates = [(leg.memory_mib, leg.vcpus, leg.vm, leg) for leg in stalled if helps(leg) is wanted]
            heapq.heapify(candidates)
            while candidates:
                leg = heapq.heappop(candidates)[-1]
                if leg.memory_mib > largest_free:
                    continue
                parking = self._parking_host(leg)
                if parking is not None:
                    self._detour(leg, parking)
                    return
        raise _Stalled()

    def _room_needed(self) -> dict[str, tuple[int, ...]]:
        """Per host with waiting VMs: the least of each resource that must leave for one of them to fit.

        (Each minimum may come from a different waiting VM: this only ranks candidates.)
        """
        needed = {}
        for host, legs in self.pending.items():
            if legs:
                used, capacity = self.used[host], self.capacity[host]
                needed[host] = tuple(used[d] - capacity[d] + min(leg.size[d] for leg in legs) for d in range(len(used)))
        return needed

    def _parking_host(self, leg: Leg) -> str | None:
        # Prefer hosts nobody waits for (parking must not steal room a planned move needs), then the emptiest.
        best: tuple[bool, int, str] | None = None
        for host in self.parking_hosts:
            if host in (leg.source, leg.destination) or not self._fits(host, leg):
                continue
            key = (bool(self.pending.get(host)), -self._free_memory(host), host)
            if best is None or key < best:
                best = key
        return best[2] if best else None

    def _detour(self, leg: Leg, parking: str) -> None:
        self.pending[leg.destination].remove(leg)
        self.waiting -= 1
        self.parked.add(leg.vm)
        self._execute(leg.moved(leg.source, parking, StepKind.PARK))
        self._offer(leg.moved(parking, leg.destination, StepKind.UNPARK))


def _check_targets_fit(replay: "_Replay", legs: list[Leg]) -> None:
    """A host that cannot hold its final VMs can never take its incoming moves: say so before parking anything."""
    final = {host: list(used) for host, used in replay.used.items()}
    arriving: dict[str, list[Leg]] = defaultdict(list)
    for leg in legs:
        shift(final[leg.source], leg.size, -1)
        shift(final[leg.destination], leg.size)
        arriving[leg.destination].append(leg)
    names = ("MiB", "vCPUs", *replay.resources)
    for host, incoming in sorted(arriving.items()):
        capacity = replay.capacity[host]
        if not fits(final[host], zero(len(capacity)), capacity):
            vms = ", ".join(sorted(leg.vm for leg in incoming))
            held = " and ".join(f"{used} {name}" for used, name in zip(final[host], names))
            usable = " and ".join(f"{limit} {name}" for limit, name in zip(capacity, names))
            raise UnsafePlanError(
                f"this plan cannot be executed safely: {host} would end with {held} of {usable} usable, "
                f"so {vms} can never move in (the live cluster differs from the plan's snapshot?)")


def _dependency_graph(capacity: Mapping[str, Sequence[int]], start_usage: Mapping[str, Sequence[int]],
                      steps: tuple[Step, ...]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(steps)))
    outs: dict[str, list[Step]] = defaultdict(list)
    ins: dict[str, list[Step]] = defaultdict(list)
    parked_at: dict[str, int] = {}
    for step in steps:
        outs[step.source].append(step)
        ins[step.destination].append(step)
        if step.kind is StepKind.PARK:
            parked_at[step.vm] = step.index
        elif step.kind is StepKind.UNPARK:
            graph.add_edge(parked_at[step.vm], step.index)  # the detour's legs run in order
    for name, arriving in ins.items():
        needs = _outs_needed(arriving, outs.get(name, []), start_usage[name], capacity[name])
        _link_room(graph, name, outs.get(name, []), arriving, needs)
    return graph


def _outs_needed(arriving: list[Step], leaving: list[Step], start: Sequence[int], cap: Sequence[int]) -> list[int]:
    """For each move into a host (in sequence order): how many of the first moves out it needs done."""
    freed: list[list[int]] = [[] for _ in cap]  # per resource, what the first k outs free
    running = zero(len(cap))
    for step in leaving:
        shift(running, step.size)
        for d, amount in enumerate(running):
            freed[d].append(amount)
    needs = []
    held = list(start)
    for step in arriving:
        shift(held, step.size)
        need = 0
        for d, limit in enumerate(cap):
            if held[d] > limit:
                need = max(need, bisect_left(freed[d], held[d] - limit) + 1)
        needs.append(need)
    return needs


def _link_room(graph: nx.DiGraph, host: str, leaving: list[Step], arriving: list[Step], needs: list[int]) -> None:
    deepest = max(needs, default=0)
    for count in range(1, deepest + 1):
        graph.add_edge(leaving[count - 1].index, Freed(host, count))
        if count > 1:
            graph.add_edge(Freed(host, count - 1), Freed(host, count))
    for step, need in zip(arriving, needs):
        if need:
            graph.add_edge(Freed(host, need), step.index)
