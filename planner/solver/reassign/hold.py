"""What a process away from its original machine costs the rest of the search, by a price.

A moved process keeps its transient requirement held on its original machine until it goes
home, so that room is spent for every later move. The true cost never charges for it; the search
halves that choose where processes go (the local search's acceptance, a CP-SAT sub-problem's
objective) charge `hold_price` times the load cost that requirement would add over the safety
capacity, so they leave processes home unless a move pays for the room it keeps. What is kept as
the best answer is always judged by the true cost.
"""

from __future__ import annotations

import numpy as np

from planner.solver.reassign.delta import SearchState


def hold_costs(state: SearchState, hold_price: float, processes: np.ndarray | list[int] | None = None) -> np.ndarray:
    """The price of keeping each of `processes` (all when None) away from home, int64."""
    chosen = np.arange(len(state.assignment)) if processes is None else np.asarray(processes, dtype=np.int64)
    if hold_price <= 0 or not state.transient.size:
        return np.zeros(len(chosen), dtype=np.int64)
    weighted = state.requirement[np.ix_(chosen, state.transient)] @ state.load_weight[state.transient]
    return np.rint(hold_price * weighted).astype(np.int64)
