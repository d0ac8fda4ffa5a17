"""How long the spread heuristic may keep improving, within `--time-limit`.

The repair that makes a placement valid always runs to the end; only the improving passes after it
are capped. In deterministic mode the cap counts steps, not time, so a seed gives the same plan on
a busy machine; the wall-clock deadline stays the backstop and, when it is what stopped the passes,
the plan says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from planner.domain.policy import SolverSettings

# Share of the time limit the improving passes may take; the rest is left to the search after them.
GREEDY_SHARE = 0.7
# Work is counted in units: a step (one relief found by a move) is one, a swap search SWAP_UNITS,
# and each placement a chain search tries CHAIN_UNITS (see planner/solver/chains.py).
SWAP_UNITS = 6
CHAIN_UNITS = 0.05
# Units per second of that share in deterministic mode. Measured here (2 cores, quiet machine,
# greedy_placement alone on benchmarks.tight clusters at fill 0.80 and 0.88): 1,280–1,400 units a
# second at 200 hosts × 4,000 VMs, 910–1,180 at 1,000 × 20,000. Well under the slowest, so on a
# loaded machine the unit cap, not the clock, still ends the passes and a seed repeats.
UNITS_PER_SECOND = 600


@dataclass
class GreedyBudget:
    """Deadline (time.monotonic()) and, in deterministic mode, work units left for the improving passes."""

    deadline: float | None = None
    units_left: float | None = None
    wall_clock_cut: bool = False
    units_used: float = 0.0

    @staticmethod
    def of(settings: SolverSettings, started: float) -> GreedyBudget:
        seconds = settings.time_limit_s * GREEDY_SHARE
        units = seconds * UNITS_PER_SECOND if settings.deterministic else None
        return GreedyBudget(started + seconds, units)

    def charge(self, units: float) -> None:
        self.units_used += units

    def step(self) -> bool:
        """Charge one step; False once the budget is spent (stop improving)."""
        self.units_used += 1
        if self.units_left is not None and self.units_used > self.units_left:
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.wall_clock_cut = True
            return False
        return True
