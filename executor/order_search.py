"""A complete search for a safe order of moves, for when the greedy replay deadlocks itself.

Started eagerly, a small move can take the room that a move a step later needed, and the replay
stalls although another order is safe. Before the plan is refused, this module searches the orders
themselves: a state is where every moving VM is (its source, a parking host, or its destination);
an action moves one VM to its destination, or sends a VM that has not yet taken its one detour to a
parking host. An action may start only when its destination has room for the VM while the source
still holds it. Visited states are remembered (the state alone decides what can still happen), so
no state is expanded twice (executor/order_state_search.py).

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
from collections.abc import Mapping, Sequence
from dataclasses import replace

from executor.order_outcomes import GaveUp, Leg, NoOrder, Outcome, SafeOrder
from executor.order_state_search import StateSearch
from executor.sizes import Size, shift

SEARCH_BUDGET = 200_000  # states; at worst a few seconds, on stalls the greedy replay could not break


def find_safe_order(legs: Sequence[Leg], capacity: Mapping[str, Size], usage: Mapping[str, Size],
                    parking_hosts: Sequence[str], budget: int = SEARCH_BUDGET,
                    resources: Sequence[str] = ()) -> Outcome:
    """A safe order of `legs` (plan moves, sources still holding their VMs), fewest detours first.

    `capacity` and `usage` are sizes per host (memory MiB, vCPUs, then the extra resources named in
    `resources`: executor/sizes.py); `parking_hosts` may take a detour.
    Without detours, hosts linked by no chain of moves never share room, so each such group is
    searched alone (a dead end in one is not re-explored for every order of the others). Detours
    link every group through the parking hosts; before searching all groups together, each stuck
    group is searched alone with the others' VMs already gone from their sources: if it is stuck
    even then, it is stuck in every order, which proves the refusal cheaply.
    """
    spend = _Budget(budget, tuple(resources))
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


def _others_gone(usage: Mapping[str, Size], legs: Sequence[Leg], group: list[Leg]) -> dict[str, Size]:
    """Usage with every VM outside `group` gone from its source and arriving nowhere: the most room the
    group could ever find outside its own hosts (more room never makes a safe order unsafe)."""
    inside = {id(leg) for leg in group}
    relaxed = {host: list(used) for host, used in usage.items()}
    for leg in legs:
        if id(leg) not in inside:
            shift(relaxed[leg.source], leg.size, -1)
    return {host: tuple(used) for host, used in relaxed.items()}


class _Budget:
    """States searched so far across the searches of one plan, each capped at a share of the whole."""

    def __init__(self, total: int, resources: tuple[str, ...]) -> None:
        self.total = total
        self.spent = 0
        self.resources = resources

    def search(self, legs: Sequence[Leg], capacity: Mapping[str, Size], usage: Mapping[str, Size],
               parking_hosts: Sequence[str], until: int) -> Outcome:
        search = StateSearch(legs, capacity, usage, parking_hosts, max(1, min(until, self.total) - self.spent),
                             self.resources)
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
