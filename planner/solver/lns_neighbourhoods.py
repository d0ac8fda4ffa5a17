"""The product LNS's neighbourhoods: which hosts a round frees, by kind.

Neighbourhoods follow the goal, because a random set of hosts rarely holds a move that helps: the
hottest hosts with the coolest ones (load goes from one to the other); hosts to empty with the
roomiest kept ones; the hosts of VMs already moved (so a VM can go back and cost nothing).
"""

from __future__ import annotations

import random

import numpy as np

from planner.instance.problem import Problem
from planner.instance.state import PlacementState

NEIGHBOURHOOD_HOSTS = 16
# Consolidation's neighbourhoods are smaller: on memory-tight clusters a 16-host re-pack (~8,000
# Booleans) mostly ends at its limit still holding the hint and keeps nothing; 6 hosts solve in a
# fraction and often empty one. Measured on the tight 1000x20000 clusters from the greedy's
# placement (0.4-unit sub-solves; fill 0.85, seed 1, 60 s, no stall rule): 942 hosts in use at 4,
# 943 at 6, 948 at 8, 950 at 10 (bound 837). At 30 s with the 12-round stall, 6 beat 16 at fills
# 0.80 and 0.85 on seeds 1-3 (846-853 vs 864-868, 951-966 vs 986-993).
EMPTYING_NEIGHBOURHOOD_HOSTS = 6
# The kinds, drawn in turn: for spread the hottest hosts exactly, then a sample of hot ones (both
# with cool ones), then the hosts of moved VMs; for the goals that empty hosts the first two are
# both hosts to empty with roomy ones.
HOTTEST, HOT_SAMPLE, MOVED = range(3)
KINDS = 3


def neighbourhood(problem: Problem, state: PlacementState, hosts: list[int], rng: random.Random,
                   kind: int, wanted: int) -> frozenset[int]:
    """`wanted` hosts (fewer if there are not as many) of the given kind."""
    size = min(wanted, len(hosts))
    if kind == MOVED:
        return _moved_hosts(problem, state, hosts, rng, size)
    if problem.goal.minimises_hosts:
        return _empty_and_roomy(state, hosts, rng, size)
    return _hot_and_cold(problem, state, hosts, rng, size, exact=kind == HOTTEST)


def _hot_and_cold(problem: Problem, state: PlacementState, hosts: list[int], rng: random.Random,
                  size: int, exact: bool) -> frozenset[int]:
    wc, wm = problem.spread_weights
    extra = state.extra_pm @ np.asarray(problem.extra_weights, dtype=np.int64)
    heat = (wc * state.cpu_pm + wm * state.mem_pm + extra)[hosts]
    order = [hosts[i] for i in np.argsort(-heat, kind="stable")]
    hot_count = size // 2
    if exact:
        hot = order[:hot_count]
    else:  # a random few among the hottest quarter, so repeated rounds do not redo one sub-problem
        hot = rng.sample(order[: max(hot_count, len(order) // 4)], hot_count)
    cold_pool = order[-max(size, len(order) // 4):]
    cold = rng.sample(cold_pool, min(len(cold_pool), size - hot_count))
    return frozenset(hot) | frozenset(cold)


def _empty_and_roomy(state: PlacementState, hosts: list[int], rng: random.Random, size: int) -> frozenset[int]:
    used = [h for h in hosts if state.units_on[h]]
    if len(used) < 2:
        return frozenset(rng.sample(hosts, size))
    light = sorted(used, key=lambda h: (state.memory[h], h))
    to_empty = rng.sample(light[: max(4, len(light) // 5)], min(2, len(light)))
    roomy = sorted(used, key=lambda h: (state.memory[h] - state.problem.memory_limit[h], h))
    pool = [h for h in roomy[: max(size * 2, len(roomy) // 3)] if h not in to_empty]
    return frozenset(to_empty) | frozenset(rng.sample(pool, min(len(pool), size - len(to_empty))))


def _moved_hosts(problem: Problem, state: PlacementState, hosts: list[int], rng: random.Random,
                 size: int) -> frozenset[int]:
    """Where moved VMs came from and went: lets a VM go home, or a cheaper one go instead."""
    moved = [u for u in problem.movable if state.assignment[u.index] != u.member_hosts[0]]
    if not moved:
        return frozenset(rng.sample(hosts, size))
    chosen: set[int] = set()
    for unit in rng.sample(moved, min(len(moved), size)):
        chosen.update({unit.member_hosts[0], state.assignment[unit.index]})
        if len(chosen) >= size:
            break
    return frozenset(h for h in chosen if h in problem.metric_hosts)
