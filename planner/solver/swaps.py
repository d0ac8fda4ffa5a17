"""Swap moves for the spread greedy: when no VM on a peak host fits anywhere below the peak, a
cooler host may still take it in exchange for one of its own smaller VMs.

VMs are coarse next to the headroom left once a cluster is nearly flat (a 4-core VM is 60 ‰ of a
64-core host), so single moves stall a few per-mille above the fluid bound; swaps get further.

Every (outgoing VM, partner) pair of a target host is checked at once (compiled_swaps: allowed
hosts, capacity, utilisation caps, and that the source comes off its peak) and only the cheapest
feasible pairs go through the per-pair checks (anti-affinity, min_spread, move budget), the least
memory migrated per unit of relief first. Those rules are checked on
the current placement for each half of the swap: conservative (a swap that would only work because
the partner leaves is refused), never wrong.
"""

from __future__ import annotations

import numpy as np

from planner.domain.metrics import most_at, permilles, permilles_at_most
from planner.instance.move_cost_matrix import MoveCostMatrix
from planner.instance.problem import Unit
from planner.instance.state import PlacementState
from planner.instance.unit_arrays import UnitArrays
from planner.solver.caps import extra_caps_of
from planner.solver.compiled_swaps import NO_PAIR, cheapest_swap, fitting_swaps
from planner.solver.landing import free_under_caps

SWAP_TARGETS = 24  # hosts searched for a partner (for a CPU peak, those with the most CPU room)


def swap_relief(state: PlacementState, source: int, caps: tuple[int, int], targets: list[int],
                on_cpu_peak: bool, on_mem_peak: bool,
                on_extra_peak: np.ndarray | None = None) -> list[tuple[Unit, int]]:
    """The cheapest (unit → target, partner → source) pair that takes `source` off its peak(s)
    (`on_extra_peak`: per extra named resource, whether the source is on its peak)."""
    problem, arrays = state.problem, state.problem.unit_arrays
    out = _movable(state, [source])
    back, hosts = _partners(state, source, targets)
    if not len(out) or not len(back):
        return []
    ok = _fitting(state, source, caps, out, back, hosts, on_cpu_peak, on_mem_peak)
    leaving = [problem.units[i] for i in out.tolist()]
    partners = None
    if state.problem.resources and ok.any():
        partners = [problem.units[i] for i in back.tolist()]
        ok &= _fits_extra(state, source, hosts, leaving, partners, extra_caps_of(caps), on_extra_peak)
    if not ok.any():
        return []
    if state.single_vm_units:
        cost = _single_vm_costs(arrays, problem.move_cost_matrix, out, back, hosts, source)
    else:
        partners = partners or [problem.units[i] for i in back.tolist()]
        cost = _cost_matrix(leaving, list(zip(partners, hosts.tolist())), hosts, source, state.weighted)
    # Cheapest per unit of relief first (the cheapest swap in memory alone is mostly two small VMs
    # that relieve little: on memory-tight clusters, where most steps are swaps, the peak then came
    # down in many more, barely cheaper, swaps); among equals the coolest target (partners are
    # listed coolest host first).
    relief_column = 2 if on_cpu_peak else 0 if on_mem_peak else -1
    first = cheapest_swap(ok, cost, out, back, arrays.sizes, relief_column)
    if first[0] == NO_PAIR:
        return []
    # Mostly the cheapest pair keeps every rule; when a rule refuses it, every pair is ranked once
    # (asking for the next cheapest each time would scan the pairs once per refusal: a million
    # pairs, all refused once the move budget is spent, would never end).
    ranked = [first] if _allowed(state, source, leaving, back, hosts, first) else \
        _ranked_pairs(ok, cost, out, back, arrays.sizes, relief_column)
    for i, j in ranked:
        if _allowed(state, source, leaving, back, hosts, (i, j)):
            return [(leaving[i], int(hosts[j])), (problem.units[int(back[j])], source)]
    return []


def _allowed(state: PlacementState, source: int, leaving: list[Unit], back: np.ndarray, hosts: np.ndarray,
             pair: tuple[int, int]) -> bool:
    i, j = pair
    return _rules_allow(state, leaving[i], int(hosts[j]), state.problem.units[int(back[j])], source)


def _ranked_pairs(fits: np.ndarray, cost: np.ndarray, out: np.ndarray, back: np.ndarray, sizes: np.ndarray,
                  relief_column: int) -> list[tuple[int, int]]:
    """Every (i, j) of `fits` in compiled_swaps.cheapest_swap's order: least cost per unit of
    relief, then the lower j, then the lower i."""
    rows, columns = np.nonzero(fits)
    key = cost[rows, columns]
    if relief_column >= 0:
        relief = sizes[out[rows], relief_column] - sizes[back[columns], relief_column]
        key = key / np.maximum(1, relief)
    order = np.lexsort((rows, columns, key))
    return list(zip(rows[order].tolist(), columns[order].tolist()))


def _movable(state: PlacementState, hosts: list[int]) -> np.ndarray:
    """The movable units on `hosts`, host by host, each host's in index order."""
    on = [np.array(sorted(state.units_on[h]), dtype=np.int64) for h in hosts]
    indexes = np.concatenate(on) if on else np.zeros(0, dtype=np.int64)
    return indexes[~state.problem.unit_arrays.fixed[indexes]]


def _partners(state: PlacementState, source: int, targets: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The units on `targets` (not the source) that may move to the source, and each one's host."""
    targets = [t for t in targets if t != source]
    on = [np.array(sorted(state.units_on[t]), dtype=np.int64) for t in targets]
    if not on:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    indexes = np.concatenate(on)
    hosts = np.repeat(np.array(targets, dtype=np.int64), [len(part) for part in on])
    keep = ~state.problem.unit_arrays.fixed[indexes] & state.may_go_to(indexes, source)
    return indexes[keep], hosts[keep]


def _fitting(state: PlacementState, source: int, caps: tuple[int, int], out: np.ndarray, back: np.ndarray,
             hosts: np.ndarray, on_cpu_peak: bool, on_mem_peak: bool) -> np.ndarray:
    """fits[i, j]: may out[i] (on the source) go to hosts[j] for back[j], both hosts within their
    limits and the caps, the source off its peaks (compiled_swaps.fitting_swaps)?"""
    arrays, allowed = state.problem.unit_arrays, state.allowed_rows
    allowed.cover(out)
    return fitting_swaps(out, back, hosts, arrays.sizes, arrays.allowed_set, allowed.row_of_set, allowed.matrix,
                         free_under_caps(state, caps), _source_floors(state, source, caps, on_cpu_peak, on_mem_peak))


def _source_floors(state: PlacementState, source: int, caps: tuple[int, int], on_cpu_peak: bool,
                   on_mem_peak: bool) -> np.ndarray:
    """The least memory, vCPUs and load a swap must take off the source (what it gives less what it
    takes back) so that it ends within its limits, at or under the caps (or where it is, if above
    them) and off every peak it is on: what it may end holding is a bound per resource."""
    problem = state.problem
    cpu_now, mem_now = state.cpu_permille(source), state.memory_permille(source)
    memory_cap, cpu_capacity = state.memory_capacity[source], state.cpu_capacity[source]
    most_memory = min(problem.memory_limit[source], most_at(max(caps[1], mem_now), memory_cap))
    most_load = min(problem.load_limit[source], most_at(max(caps[0], cpu_now), cpu_capacity))
    if on_mem_peak:
        most_memory = min(most_memory, most_at(mem_now - 1, memory_cap))
    if on_cpu_peak:
        most_load = min(most_load, most_at(cpu_now - 1, cpu_capacity))
    return np.array([state.memory[source] - most_memory, state.vcpus[source] - problem.vcpu_limit[source],
                     state.load[source] - most_load], dtype=np.int64)


def _cost_matrix(leaving: list[Unit], partners: list[tuple[Unit, int]], hosts: np.ndarray, source: int,
                 weighted: bool = False) -> np.ndarray:
    """MiB migrated by each swap (weighed by the policy's move costs), relative to where the VMs
    started (going home costs nothing)."""
    columns_of: dict[int, list[int]] = {}
    for j, host in enumerate(hosts.tolist()):
        columns_of.setdefault(host, []).append(j)
    cost = np.empty((len(leaving), len(hosts)), dtype=np.int64)
    for i, unit in enumerate(leaving):
        if weighted:
            # Weighed costs depend on each target's label value: one call per distinct target host.
            here = unit.weighted_cost(source)
            for host, columns in columns_of.items():
                cost[i, columns] = unit.weighted_cost(host) - here
            continue
        here = unit.move_cost(source)
        cost[i] = unit.memory_mib - here  # to any host none of its members started on
        for host in set(unit.member_hosts):
            cost[i, columns_of.get(host, [])] = unit.move_cost(host) - here
    back = np.array([w.weighted_cost(source) - w.weighted_cost(t) for w, t in partners], dtype=np.int64)
    return cost + back[None, :]


def _single_vm_costs(arrays: UnitArrays, matrix: MoveCostMatrix, out: np.ndarray, back: np.ndarray,
                     hosts: np.ndarray, source: int) -> np.ndarray:
    """_cost_matrix when every unit is one VM: each VM's move is priced from the host it started on
    by the problem's move-cost matrix (its memory × factor is the weight), so the whole matrix is a
    few array operations, weighed by the policy's move costs or not."""
    out_home, out_weight = arrays.home[out], arrays.weighted_memory[out]
    back_home, back_weight = arrays.home[back], arrays.weighted_memory[back]
    out_cost = matrix.each(out_weight[:, None], out_home[:, None], hosts[None, :]) - \
        matrix.each(out_weight, out_home, source)[:, None]
    back_cost = matrix.each(back_weight, back_home, source) - matrix.each(back_weight, back_home, hosts)
    return out_cost + back_cost[None, :]


def _fits_extra(state: PlacementState, source: int, hosts: np.ndarray, leaving: list[Unit], partners: list[Unit],
                caps: np.ndarray | None, on_peak: np.ndarray | None) -> np.ndarray:
    """ok[i, j] for the extra named resources after swapping leaving[i] with partners[j] (on
    hosts[j]): both hosts within their limits, the target under the caps, the source no higher
    than it is or the caps, and off every extra peak it is on."""
    out = np.array([u.extra for u in leaving], dtype=np.int64)
    back = np.array([w.extra for w in partners], dtype=np.int64)
    delta = out[:, None, :] - back[None, :, :]  # what each target gains, the source loses
    caps = state.extra_caps() if caps is None else caps
    target = state.sizes[hosts, 3:][None, :, :] + delta
    capacity = state.extra_capacity[hosts][None, :, :]
    ok = ((target <= state.limits[hosts, 3:][None, :, :]) & permilles_at_most(target, capacity, caps)).all(axis=2)
    remaining = state.sizes[source, 3:] - delta
    source_pm = permilles(remaining, state.extra_capacity[source])
    now = state.extra_pm[source]
    ok &= ((remaining <= state.limits[source, 3:]) & (source_pm <= np.maximum(caps, now))).all(axis=2)
    if on_peak is not None and on_peak.any():
        ok &= ~(on_peak & (source_pm >= now)).any(axis=2)
    return ok


def _rules_allow(state: PlacementState, unit: Unit, target: int, partner: Unit, source: int) -> bool:
    if (unit.anti_affinity and not state.anti_affinity_ok(unit, target)) or \
            (partner.anti_affinity and not state.anti_affinity_ok(partner, source)):
        return False
    # Checked half by half like anti-affinity: a swap only trades the two hosts' domains, so when
    # each half keeps a group's spread on its own, the pair does too.
    if (unit.min_spread and not state.min_spread_ok(unit, target)) or \
            (partner.min_spread and not state.min_spread_ok(partner, source)):
        return False
    limits = state.problem.rules.policy.limits
    if limits.max_moves is None and limits.max_moved_memory_mib is None:
        return True
    moves = state.moved_vms + unit.moved_vms(target) - unit.moved_vms(source) + \
        partner.moved_vms(source) - partner.moved_vms(target)
    memory = state.moved_mib + unit.move_cost(target) - unit.move_cost(source) + \
        partner.move_cost(source) - partner.move_cost(target)
    return (limits.max_moves is None or moves <= limits.max_moves) and \
        (limits.max_moved_memory_mib is None or memory <= limits.max_moved_memory_mib)
