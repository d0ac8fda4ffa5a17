"""The flat arrays the compiled local search works on (compiled_moves.py names each), laid out
from a SearchState: the instance's once, the state's each time the search takes it up again."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.solver.reassign.compiled_moves import (
    BEST,
    BEST_IS_CURRENT,
    HOLD,
    HOLD_PRICE,
    LOAD,
    MAX_MOVED,
    MOVE,
    RNG,
    SCALARS,
)
from planner.solver.reassign.delta import SearchState
from planner.solver.reassign.hold import hold_costs

PROC = 6  # where static_arrays puts the per-process table (service, original, move cost, hold price)


def _csr(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    pointers = np.zeros(len(lists) + 1, dtype=np.int64)
    pointers[1:] = np.cumsum([len(items) for items in lists])
    indices = np.array([item for items in lists for item in items], dtype=np.int64)
    return pointers, indices


def _owned(values: np.ndarray) -> np.ndarray:
    """A writable C-ordered int64 copy: numba compiles the steps once per combination of array
    types (read-only or not among them), so every search hands it the same kinds."""
    return np.array(values, dtype=np.int64, order="C")


def static_arrays(state: SearchState, hold_price: float) -> tuple:
    """What never changes during a search: the instance, with the move and hold prices folded in.
    The machine move costs stay the instance's own (M x M, 100 MB at 5,000 machines), always as a
    read-only view."""
    instance = state.instance
    proc = np.stack([state.service, state.original, state.move_weight, hold_costs(state, hold_price)], axis=1)
    mach = np.stack([state.hood, state.location], axis=1)
    balances = np.array([[b.first, b.second, b.target, b.weight] for b in state.balances], dtype=np.int64)
    weights = np.array([instance.weights.machine, state.service_weight], dtype=np.int64)
    move_costs = np.ascontiguousarray(instance.machines.move_cost, dtype=np.int32).view()
    move_costs.setflags(write=False)
    return (
        _owned(state.capacity), _owned(state.safety), _owned(state.requirement), _owned(state.load_weight),
        _owned(state.transient), _owned(balances.reshape(-1, 4)), _owned(proc), _owned(mach), move_costs,
        weights, _owned(state.spread_min), *_csr(state.depends_on), *_csr(state.depended_by),
    )


def dynamic_arrays(state: SearchState) -> tuple:
    """The state's assignment and every count and cost the moves keep, as the kernel's arrays."""
    machines, services = len(state.capacity), len(state.spread_min)
    svc_on = np.zeros((services, machines), dtype=np.int16)
    np.add.at(svc_on, (state.service, state.assignment), 1)
    serv = np.stack([state.locations_used, state.moved], axis=1).astype(np.int64)
    links, heads = _machine_lists(state.assignment, machines)
    return (
        state.assignment.copy(), state.usage.copy(), state.held.copy(), state.machine_cost.astype(np.int64),
        svc_on, state.location_count.astype(np.int64), state.hood_count.astype(np.int64), serv,
        state.moved_histogram.copy(), links, heads,
    )


def _machine_lists(assignment: np.ndarray, machines: int) -> tuple[np.ndarray, np.ndarray]:
    """Each machine's processes as a doubly linked list (next, previous; first, count)."""
    links = np.full((len(assignment), 2), -1, dtype=np.int64)
    heads = np.zeros((machines, 2), dtype=np.int64)
    heads[:, 0] = -1
    for p, m in enumerate(assignment.tolist()):
        first = heads[m, 0]
        links[p, 0] = first
        if first >= 0:
            links[first, 1] = p
        heads[m, 0] = p
        heads[m, 1] += 1
    return links, heads


@dataclass
class Scalars:
    """The kernel's running sums (compiled_moves' slots of `sc`) and how they start."""

    values: np.ndarray

    @staticmethod
    def of(state: SearchState, static: tuple, seed: int) -> Scalars:
        values = np.zeros(SCALARS, dtype=np.int64)
        values[RNG] = np.int64(np.uint64(seed * 0x2545F4914F6CDD1D % (1 << 64)).view(np.int64))
        scalars = Scalars(values)
        scalars.take_up(state, static)
        return scalars

    def take_up(self, state: SearchState, static: tuple) -> None:
        """Start from `state`'s sums, with it as the best (the steps and the random stream go on)."""
        hold = static[PROC][:, HOLD_PRICE]
        self.values[LOAD] = state.load_balance
        self.values[MOVE] = state.move_sum
        self.values[MAX_MOVED] = state.max_moved
        self.values[HOLD] = int(hold[state.assignment != state.original].sum())
        self.values[BEST] = state.total()
        self.values[BEST_IS_CURRENT] = 1

    def priced(self, service_weight: int) -> int:
        """The cost late acceptance compares: the true cost plus every hold price."""
        v = self.values
        return int(v[LOAD] + v[MOVE] + service_weight * v[MAX_MOVED] + v[HOLD])
