"""The late-acceptance local search's steps, compiled: the loop local_search.py describes, over
the arrays of compiled_moves.py.

A step picks a process (from one of the most expensive tenth of the machines half of the time),
prices its move to every machine and takes the cheapest if late acceptance allows it; otherwise it
prices swaps with SWAP_SAMPLE random partners and tries the best SWAP_TRIES exactly. Deterministic
for a seed and a number of steps.

numba's cache (cache=True) checks each function against its own file's stamp only: the steps
compiled here keep the moves of compiled_moves.py they were compiled with. After changing that
file, touch this one (or delete __pycache__/*.nbi and *.nbc), or the steps run the old moves.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from planner.solver.reassign.compiled_moves import (
    ACCEPTED,
    BEST,
    BEST_IS_CURRENT,
    HOLD,
    HOLD_PRICE,
    LOAD,
    MAX_MOVED,
    MOVE,
    NONE,
    ORIGINAL,
    SERVICE,
    STEPS,
    apply_move,
    feasible_after_swap,
    fits,
    machine_cost,
    may_leave_for,
    move_cost,
    random_below,
    service_move_change,
)

HOT_SHARE = 0.1  # the most expensive tenth of the machines is "hot"
HOT_REFRESH = 256  # steps between re-ranking the machines
SWAP_SAMPLE = 1000  # swap partners priced per attempt
SWAP_TRIES = 3  # best-priced swaps checked exactly
NEXT, PREVIOUS = 0, 1  # links columns: each machine's processes as a doubly linked list
FIRST, COUNT = 0, 1  # heads columns


@njit(cache=True)
def total(sc, service_weight) -> int:
    return sc[LOAD] + sc[MOVE] + service_weight * sc[MAX_MOVED]


@njit(cache=True)
def _unlink(p, m, links, heads) -> None:
    after, before = links[p, NEXT], links[p, PREVIOUS]
    if before >= 0:
        links[before, NEXT] = after
    else:
        heads[m, FIRST] = after
    if after >= 0:
        links[after, PREVIOUS] = before
    heads[m, COUNT] -= 1


@njit(cache=True)
def _link(p, m, links, heads) -> None:
    first = heads[m, FIRST]
    links[p, NEXT], links[p, PREVIOUS] = first, -1
    if first >= 0:
        links[first, PREVIOUS] = p
    heads[m, FIRST] = p
    heads[m, COUNT] += 1


@njit(cache=True)
def _pick(sc, hot, assign, links, heads) -> int:
    """A random process: half of the time one on a random hot machine (if it has any)."""
    if random_below(sc, 2) == 0:
        m = hot[random_below(sc, hot.shape[0])]
        if heads[m, COUNT] > 0:
            p = heads[m, FIRST]
            for _ in range(random_below(sc, heads[m, COUNT])):
                p = links[p, NEXT]
            return p
    return random_below(sc, assign.shape[0])


@njit(cache=True)
def _settle(sc, best, assign, service_weight, p, a, q, b) -> None:
    """After an accepted change (p came from a, q from b, q < 0 for a single move): a new best, or
    the walk leaving the best, which is then kept as it was."""
    cost = total(sc, service_weight)
    if cost < sc[BEST]:
        sc[BEST] = cost
        sc[BEST_IS_CURRENT] = 1
    elif cost > sc[BEST] and sc[BEST_IS_CURRENT] == 1:
        best[:] = assign
        best[p] = a
        if q >= 0:
            best[q] = b
        sc[BEST_IS_CURRENT] = 0
    sc[ACCEPTED] += 1


# Inlined into the loop over partners: a call per partner took a fifth of a step (a2_2).
@njit(cache=True, inline="always")
def _swap_fits(p, q, a, b, cap, req, trans, proc, usage, held, svc_on, ua, ub) -> bool:
    """Capacity, transient room and conflict after p (on a) and q (on b) change places; leaves
    the two machines' usage in `ua` and `ub`. Most sampled partners fail here."""
    if b == a or proc[q, SERVICE] == proc[p, SERVICE] or svc_on[proc[p, SERVICE], b] > 0 \
            or svc_on[proc[q, SERVICE], a] > 0:
        return False
    for r in range(usage.shape[1]):
        ua[r] = usage[a, r] - req[p, r] + req[q, r]
        ub[r] = usage[b, r] - req[q, r] + req[p, r]
        if ua[r] > cap[a, r] or ub[r] > cap[b, r]:
            return False
    hp, hq = proc[p, ORIGINAL], proc[q, ORIGINAL]
    for k in range(trans.shape[0]):
        t = trans[k]
        on_a = held[a, k] + (req[p, t] if a == hp else 0) - (req[q, t] if a == hq else 0)
        on_b = held[b, k] + (req[q, t] if b == hq else 0) - (req[p, t] if b == hp else 0)
        if ua[t] + on_a > cap[a, t] or ub[t] + on_b > cap[b, t]:
            return False
    return True


@njit(cache=True)
def best_swaps(p, partners, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, spread_min, dep_ptr,
               dep_idx, rdep_ptr, rdep_idx, assign, usage, held, mcost, svc_on, loc_count, hood_count, serv,
               ua, ub, top_delta, top_partner) -> None:
    """The cheapest swaps of p with any of `partners` into `top_delta` / `top_partner` (as many as
    they hold, cheapest first; NONE / -1 where fewer are allowed), by priced change: capacity,
    transient room, conflict and spread exactly, dependencies as for two single moves (re-checked
    after), the service move cost left to the exact check."""
    top_delta[:] = NONE
    top_partner[:] = -1
    tries = top_delta.shape[0]
    a, hp = assign[p], proc[p, ORIGINAL]
    for q in partners:
        b, hq = assign[q], proc[q, ORIGINAL]
        # One function over the whole sample, the first checks inline: a call per partner,
        # with two dozen arrays as arguments, cost ten times the checks themselves.
        if not _swap_fits(p, q, a, b, cap, req, trans, proc, usage, held, svc_on, ua, ub):
            continue
        if not (may_leave_for(p, b, proc, mach, spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx, assign, loc_count,
                              hood_count, serv)
                and may_leave_for(q, a, proc, mach, spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx, assign,
                                  loc_count, hood_count, serv)):
            continue
        delta = (machine_cost(a, ua, safety, cap, load_w, bal) + machine_cost(b, ub, safety, cap, load_w, bal)
                 - mcost[a] - mcost[b])
        delta += move_cost(p, b, proc, mmc, weights) - move_cost(p, a, proc, mmc, weights)
        delta += move_cost(q, a, proc, mmc, weights) - move_cost(q, b, proc, mmc, weights)
        delta += proc[p, HOLD_PRICE] * (int(b != hp) - int(a != hp))
        delta += proc[q, HOLD_PRICE] * (int(a != hq) - int(b != hq))
        k = tries
        while k > 0 and top_delta[k - 1] > delta:
            k -= 1
        if k < tries:
            for j in range(tries - 1, k, -1):
                top_delta[j], top_partner[j] = top_delta[j - 1], top_partner[j - 1]
            top_delta[k], top_partner[k] = delta, q


@njit(cache=True)
def best_move(p, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, spread_min, dep_ptr, dep_idx,
               rdep_ptr, rdep_idx, assign, usage, held, mcost, svc_on, loc_count, hood_count, serv, moved_hist, sc,
               use) -> tuple[int, int]:
    """p's cheapest destination and its priced change (hold price included), or (NONE, -1)."""
    a, s = assign[p], proc[p, SERVICE]
    home, hold = proc[p, ORIGINAL], proc[p, HOLD_PRICE]
    for r in range(usage.shape[1]):
        use[r] = usage[a, r] - req[p, r]
    leave = machine_cost(a, use, safety, cap, load_w, bal) - mcost[a] - move_cost(p, a, proc, mmc, weights)
    best, best_m = NONE, -1
    for m in range(usage.shape[0]):
        if m == a or svc_on[s, m] > 0 or not fits(p, m, cap, req, trans, proc, usage, held):
            continue
        if not may_leave_for(p, m, proc, mach, spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx, assign, loc_count,
                             hood_count, serv):
            continue
        for r in range(usage.shape[1]):
            use[r] = usage[m, r] + req[p, r]
        delta = leave + machine_cost(m, use, safety, cap, load_w, bal) - mcost[m] + move_cost(p, m, proc, mmc, weights)
        delta += service_move_change(p, m, proc, assign, serv, moved_hist, sc, weights[1])
        if a == home:
            delta += hold
        elif m == home:
            delta -= hold
        if delta < best:
            best, best_m = delta, m
    return best, best_m


@njit(cache=True)
def _move(p, m, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, assign, usage, held, mcost, svc_on,
          loc_count, hood_count, serv, moved_hist, links, heads, sc) -> None:
    _unlink(p, assign[p], links, heads)
    apply_move(p, m, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, assign, usage, held, mcost,
               svc_on, loc_count, hood_count, serv, moved_hist, sc)
    _link(p, m, links, heads)


@njit(cache=True)
def _try_swaps(p, a, threshold, top_delta, top_partner, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights,
               spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx, assign, usage, held, mcost, svc_on, loc_count,
               hood_count, serv, moved_hist, links, heads, sc, best) -> None:
    """Try p's ranked swaps (p on a) in order: the first whose exact change, service move cost
    included, is within `threshold` and that breaks no rule is kept; the others are undone."""
    service_weight = weights[1]
    for k in range(top_partner.shape[0]):
        q = top_partner[k]
        if q < 0 or top_delta[k] > threshold:
            return
        b = assign[q]
        before = total(sc, service_weight) + sc[HOLD]
        _move(p, b, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, assign, usage, held, mcost, svc_on,
              loc_count, hood_count, serv, moved_hist, links, heads, sc)
        _move(q, a, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, assign, usage, held, mcost, svc_on,
              loc_count, hood_count, serv, moved_hist, links, heads, sc)
        change = total(sc, service_weight) + sc[HOLD] - before
        if change <= threshold and feasible_after_swap(p, q, a, b, cap, trans, proc, mach, spread_min, dep_ptr,
                                                       dep_idx, rdep_ptr, rdep_idx, usage, held, svc_on, hood_count,
                                                       serv):
            _settle(sc, best, assign, service_weight, p, a, q, b)
            return
        _move(q, b, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, assign, usage, held, mcost, svc_on,
              loc_count, hood_count, serv, moved_hist, links, heads, sc)
        _move(p, a, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, assign, usage, held, mcost, svc_on,
              loc_count, hood_count, serv, moved_hist, links, heads, sc)


@njit(cache=True)
def run_steps(steps, static, dynamic, sc, history, best) -> None:
    """`steps` late-acceptance steps on `dynamic`; `best` holds the best assignment whenever the
    walk has left it (sc[BEST_IS_CURRENT] == 0). An empty `history` accepts improvements only."""
    (cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, spread_min, dep_ptr, dep_idx, rdep_ptr,
     rdep_idx) = static
    assign, usage, held, mcost, svc_on, loc_count, hood_count, serv, moved_hist, links, heads = dynamic
    service_weight = weights[1]
    machines = usage.shape[0]
    use = np.empty(usage.shape[1], dtype=np.int64)
    ub = np.empty(usage.shape[1], dtype=np.int64)
    hot = np.argsort(-mcost, kind="mergesort")[: max(1, int(machines * HOT_SHARE))]
    top_delta = np.empty(SWAP_TRIES, dtype=np.int64)
    top_partner = np.empty(SWAP_TRIES, dtype=np.int64)
    partners = np.empty(SWAP_SAMPLE, dtype=np.int64)
    for _ in range(steps):
        step = sc[STEPS]
        if step % HOT_REFRESH == 0:
            hot = np.argsort(-mcost, kind="mergesort")[: max(1, int(machines * HOT_SHARE))]
        cost = total(sc, service_weight) + sc[HOLD]
        threshold = -1
        if history.shape[0] > 0 and history[step % history.shape[0]] > cost:
            threshold = history[step % history.shape[0]] - cost
        p = _pick(sc, hot, assign, links, heads)
        a = assign[p]
        delta, m = best_move(p, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, spread_min, dep_ptr,
                              dep_idx, rdep_ptr, rdep_idx, assign, usage, held, mcost, svc_on, loc_count, hood_count,
                              serv, moved_hist, sc, use)
        if m >= 0 and delta <= threshold:
            _move(p, m, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, assign, usage, held, mcost,
                  svc_on, loc_count, hood_count, serv, moved_hist, links, heads, sc)
            _settle(sc, best, assign, service_weight, p, a, -1, -1)
        else:
            # The best few swaps with sampled partners, cheapest first, each checked exactly.
            for k in range(partners.shape[0]):
                partners[k] = random_below(sc, assign.shape[0])
            best_swaps(p, partners, cap, safety, req, load_w, trans, bal, proc, mach, mmc, weights, spread_min, dep_ptr,
                       dep_idx, rdep_ptr, rdep_idx, assign, usage, held, mcost, svc_on, loc_count, hood_count, serv,
                       use, ub, top_delta, top_partner)
            _try_swaps(p, a, threshold, top_delta, top_partner, cap, safety, req, load_w, trans, bal, proc, mach, mmc,
                       weights, spread_min, dep_ptr, dep_idx, rdep_ptr, rdep_idx, assign, usage, held, mcost, svc_on,
                       loc_count, hood_count, serv, moved_hist, links, heads, sc, best)
        if history.shape[0] > 0:
            history[step % history.shape[0]] = total(sc, service_weight) + sc[HOLD]
        sc[STEPS] = step + 1
