"""The local search's moves compiled with numba: pricing, checking and applying one move or swap
on flat arrays (compiled_arrays.py lays them out), the same rules and costs as delta.py.

Why compiled: the numpy steps spent most of their time in numpy's per-call overhead on arrays of
a hundred machines. From the original assignment, 30,000 steps on a2_2 take 2.7 s here against 3.8 s
and 20,000 on b_3 1.2 s against 2.8 s, to the same kind of local optimum; and a swap is priced only
after conflict and spread allow it, so the few swaps tried exactly are ones that can be kept (the
numpy steps ranked swaps a conflict then refused).

Every function takes its arrays as arguments one by one. Measured on a2_2, per swap priced: 510 ns
when each call took two dozen arrays out of a tuple, 250 ns with the arrays passed one by one, and
100 ns with one call over the whole partner sample (compiled_steps.best_swaps).

Arrays (shapes; M machines, P processes, R resources, T transient ones, S services):
  static: cap, safety (M, R); req (P, R); load_w (R,); trans (T,) resource indices; bal (B, 4) =
          first, second, target, weight; proc (P, 4) = service, original machine, move cost, hold
          price; mach (M, 2) = neighbourhood, location; spread_min (S,); deps and rdeps as CSR
          (pointers (S + 1,), indices): the services each depends on / is depended on by;
          mmc (M, M) machine move costs; weights (2,) = machine move weight, service move weight.
  dynamic: assign (P,); usage (M, R); held (M, T) what moved processes hold on their original
          machine; mcost (M,) load + balance cost; svc_on (S, M), loc_count (S, L), hood_count
          (S, N) process counts; serv (S, 2) = locations used, processes moved; moved_hist
          (P + 2,) services by moved count; sc (SCALARS,) the running sums below.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Slots of `sc`, the kernel's scalars.
LOAD, MOVE, MAX_MOVED, HOLD, BEST, BEST_IS_CURRENT, STEPS, ACCEPTED, RNG = range(9)
SCALARS = 9
# Proc and serv columns.
SERVICE, ORIGINAL, MOVE_COST, HOLD_PRICE = range(4)
LOCATIONS_USED, MOVED = range(2)
HOOD, LOCATION = range(2)
NONE = np.int64(1) << 60  # the delta of a move that is not allowed


@njit(cache=True)
def random_below(sc: np.ndarray, n: int) -> int:
    """splitmix64 over a counter kept in sc[RNG]: uniform in [0, n), deterministic for a seed."""
    counter = np.uint64(sc[RNG]) + np.uint64(0x9E3779B97F4A7C15)
    sc[RNG] = np.int64(counter)
    z = (counter ^ (counter >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64((z >> np.uint64(11)) % np.uint64(n))


@njit(cache=True)
def machine_cost(m, use, safety, cap, load_w, bal) -> int:
    """Weighted load + balance cost of machine m if its usage were `use` (R,)."""
    cost = 0
    for r in range(use.shape[0]):
        over = use[r] - safety[m, r]
        if over > 0:
            cost += over * load_w[r]
    for k in range(bal.shape[0]):
        first, second, target, weight = bal[k, 0], bal[k, 1], bal[k, 2], bal[k, 3]
        short = target * (cap[m, first] - use[first]) - (cap[m, second] - use[second])
        if short > 0:
            cost += weight * short
    return cost


@njit(cache=True)
def move_cost(p, m, proc, mmc, weights) -> int:
    """Process + machine move cost of p sitting on m (nothing at home)."""
    home = proc[p, ORIGINAL]
    if m == home:
        return 0
    return proc[p, MOVE_COST] + weights[0] * mmc[home, m]


@njit(cache=True)
def _count_moved(s, step, serv, moved_hist, sc) -> None:
    count = serv[s, MOVED]
    moved_hist[count] -= 1
    moved_hist[count + step] += 1
    serv[s, MOVED] = count + step
    if count + step > sc[MAX_MOVED]:
        sc[MAX_MOVED] = count + step
    elif count == sc[MAX_MOVED] and moved_hist[count] == 0:
        sc[MAX_MOVED] = count - 1


@njit(cache=True)
def _relocate_counts(s, here, m, mach, svc_on, loc_count, hood_count, serv) -> None:
    svc_on[s, here] -= 1
    svc_on[s, m] += 1
    hood_count[s, mach[here, HOOD]] -= 1
    hood_count[s, mach[m, HOOD]] += 1
    left = loc_count[s, mach[here, LOCATION]] - 1
    loc_count[s, mach[here, LOCATION]] = left
    if left == 0:
        serv[s, LOCATIONS_USED] -= 1
    arrived = loc_count[s, mach[m, LOCATION]] + 1
    loc_count[s, mach[m, LOCATION]] = arrived
    if arrived == 1:
        serv[s, LOCATIONS_USED] += 1


@njit(cache=True)
def apply_move(p, m, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights,
               assign, usage, held, mcost, svc_on, loc_count, hood_count, serv, moved_hist, sc) -> None:
    """Move p to m with no checks; every count and cost follows (delta.SearchState.apply_move)."""
    here = assign[p]
    if m == here:
        return
    home = proc[p, ORIGINAL]
    for r in range(usage.shape[1]):
        usage[here, r] -= req[p, r]
        usage[m, r] += req[p, r]
    for k in range(trans.shape[0]):
        if here == home:
            held[here, k] += req[p, trans[k]]
        if m == home:
            held[m, k] -= req[p, trans[k]]
    assign[p] = m
    _relocate_counts(proc[p, SERVICE], here, m, mach, svc_on, loc_count, hood_count, serv)
    for machine in (here, m):
        cost = machine_cost(machine, usage[machine], safety, cap, load_w, bal)
        sc[LOAD] += cost - mcost[machine]
        mcost[machine] = cost
    sc[MOVE] += move_cost(p, m, proc, mmc, weights) - move_cost(p, here, proc, mmc, weights)
    if here == home:
        sc[HOLD] += proc[p, HOLD_PRICE]
        _count_moved(proc[p, SERVICE], 1, serv, moved_hist, sc)
    elif m == home:
        sc[HOLD] -= proc[p, HOLD_PRICE]
        _count_moved(proc[p, SERVICE], -1, serv, moved_hist, sc)


@njit(cache=True)
def fits(p, m, cap, req, trans, proc, usage, held) -> bool:
    """p's requirement fits m's capacity, transient room included (going home needs none more:
    it releases exactly what it holds there)."""
    for r in range(usage.shape[1]):
        if usage[m, r] + req[p, r] > cap[m, r]:
            return False
    if m != proc[p, ORIGINAL]:
        for k in range(trans.shape[0]):
            t = trans[k]
            if usage[m, t] + held[m, k] + req[p, t] > cap[m, t]:
                return False
    return True


@njit(cache=True)
def may_leave_for(p, m, proc, mach, spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx, assign,
                  loc_count, hood_count, serv) -> bool:
    """Spread and dependency rules for p moving alone from where it is to m."""
    a, s = assign[p], proc[p, SERVICE]
    location, there = mach[a, LOCATION], mach[m, LOCATION]
    if (there != location and loc_count[s, location] == 1 and serv[s, LOCATIONS_USED] <= spread_min[s]
            and loc_count[s, there] > 0):
        return False  # it would empty a location and take none new, below the spread
    hood, target = mach[a, HOOD], mach[m, HOOD]
    if target == hood:
        return True
    if hood_count[s, hood] == 1:
        for i in range(rdep_ptr[s], rdep_ptr[s + 1]):
            if hood_count[rdep_idx[i], hood] > 0:
                return False  # the last of s in its neighbourhood, where a dependant needs it
    for i in range(dep_ptr[s], dep_ptr[s + 1]):
        if dep_idx[i] != s and hood_count[dep_idx[i], target] == 0:
            return False
    return True


@njit(cache=True)
def service_move_change(p, m, proc, assign, serv, moved_hist, sc, service_weight) -> int:
    """How the service move cost (the most moved processes of any service, weighed) changes when
    p moves to m."""
    here, home, s = assign[p], proc[p, ORIGINAL], proc[p, SERVICE]
    count = serv[s, MOVED]
    if here == home and m != home:
        return service_weight if count == sc[MAX_MOVED] else 0
    if m == home and count == sc[MAX_MOVED] and moved_hist[count] == 1:
        return -service_weight
    return 0


@njit(cache=True)
def _service_ok(s, hood, spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx, hood_count, serv) -> bool:
    if serv[s, LOCATIONS_USED] < spread_min[s]:
        return False
    if hood_count[s, hood] > 0:
        for i in range(dep_ptr[s], dep_ptr[s + 1]):
            if hood_count[dep_idx[i], hood] == 0:
                return False
        return True
    for i in range(rdep_ptr[s], rdep_ptr[s + 1]):
        if hood_count[rdep_idx[i], hood] > 0:
            return False
    return True


@njit(cache=True)
def _machine_ok(m, cap, trans, usage, held) -> bool:
    for r in range(usage.shape[1]):
        if usage[m, r] > cap[m, r]:
            return False
    for k in range(trans.shape[0]):
        if usage[m, trans[k]] + held[m, k] > cap[m, trans[k]]:
            return False
    return True


@njit(cache=True)
def feasible_after_swap(p, q, a, b, cap, trans, proc, mach, spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx,
                        usage, held, svc_on, hood_count, serv) -> bool:
    """Every hard rule where p (from a) and q (from b) changed places (delta.feasible_around)."""
    if not (_machine_ok(a, cap, trans, usage, held) and _machine_ok(b, cap, trans, usage, held)):
        return False
    for s in (proc[p, SERVICE], proc[q, SERVICE]):
        if svc_on[s, a] > 1 or svc_on[s, b] > 1:
            return False
        for hood in (mach[a, HOOD], mach[b, HOOD]):
            if not _service_ok(s, hood, spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx, hood_count, serv):
                return False
    return True
