"""Which hosts each movable unit may be assigned to in the CP-SAT model.

Small problems get every allowed host. Large ones are pruned, because the model grows with every
(unit, host) pair and presolve stalls on two cores long before the search starts: the current
host, the greedy's host (so the greedy hint stays feasible), and about K others chosen for the
goal — the coolest hosts for spread and drain, the roomiest kept hosts for consolidation — plus
a few random ones for diversity; a min_spread member also keeps one host in every domain of its
group, so the rule never prunes itself into a corner. For spread at scale, only units on hot hosts or moved by the
greedy stay movable: a VM on a cold host has no reason to move.
"""

from __future__ import annotations

import random

from planner.instance.problem import Problem, Unit
from planner.instance.state import PlacementState
from planner.domain.policy import Goal

# Below this many (unit, host) pairs the model is small enough to keep whole.
FULL_MODEL_PAIRS = 40_000


def choose_candidates(problem: Problem, start: PlacementState, greedy: PlacementState,
                      per_unit: int, seed: int) -> dict[int, tuple[int, ...]]:
    """unit index → candidate hosts (sorted); units with one candidate are effectively fixed."""
    movable = problem.movable
    pairs = sum(len(u.allowed) for u in movable)
    if pairs <= FULL_MODEL_PAIRS:
        return {u.index: tuple(sorted(u.allowed)) for u in movable}
    rng = random.Random(seed)
    active = _active_units(problem, start, greedy)
    ranking = _host_ranking(problem, greedy)
    pool = ranking[: max(per_unit * 3, len(ranking) // 4)]
    candidates: dict[int, tuple[int, ...]] = {}
    for unit in movable:
        keep = {greedy.assignment[unit.index]}
        if unit.current is not None and unit.current in unit.allowed:
            keep.add(unit.current)
        if unit.index in active:
            keep |= _pick(unit, ranking, pool, per_unit, rng)
        if unit.min_spread:
            keep |= _one_per_domain(problem, unit, ranking)
        candidates[unit.index] = tuple(sorted(keep))
    return candidates


def _one_per_domain(problem: Problem, unit: Unit, ranking: list[int]) -> set[int]:
    """For a min_spread member, the best-ranked allowed host in every domain of its groups, so the
    model can still move it to another rack (groups are a service's few VMs: this stays small)."""
    order = ranking + sorted(set(unit.allowed) - set(ranking))
    chosen: set[int] = set()
    for membership in unit.min_spread:
        domains = problem.min_spread[membership.group].domain_of_host
        seen: set[int] = set()
        for host in order:
            if host in unit.allowed and domains[host] not in seen:
                seen.add(domains[host])
                chosen.add(host)
    return chosen


def _active_units(problem: Problem, start: PlacementState, greedy: PlacementState) -> set[int]:
    if problem.goal is not Goal.SPREAD:
        return {u.index for u in problem.movable}
    moved = {u.index for u in problem.movable if greedy.assignment[u.index] != start.assignment[u.index]}
    hosts = sorted(problem.metric_hosts)
    score = {h: start.cpu_permille(h) + start.memory_permille(h) for h in hosts}
    mean = sum(score.values()) / max(1, len(score))
    hot = {h for h in hosts if score[h] >= mean}
    return moved | {u.index for u in problem.movable if start.assignment[u.index] in hot}


def _host_ranking(problem: Problem, greedy: PlacementState) -> list[int]:
    hosts = sorted(problem.metric_hosts)
    if problem.goal.minimises_hosts:
        # Hosts the greedy keeps on, roomiest first: that is where evicted VMs can go.
        kept = [h for h in hosts if greedy.units_on[h]]
        return sorted(kept, key=lambda h: (greedy.memory[h] - problem.memory_limit[h], h))
    return sorted(hosts, key=lambda h: (greedy.cpu_permille(h) + greedy.memory_permille(h), h))


def _pick(unit: Unit, ranking: list[int], pool: list[int], count: int, rng: random.Random) -> set[int]:
    best = [h for h in ranking if h in unit.allowed][: count // 2]
    spare = [h for h in pool if h in unit.allowed and h not in best]
    extra = rng.sample(spare, min(len(spare), count - len(best)))
    return set(best) | set(extra)
