"""How long the spread heuristic may keep improving, within `--time-limit`.

The repair that makes a placement valid always runs to the end; only the improving passes after it
are capped. In deterministic mode the cap counts work, not time, so a seed gives the same plan on a
busy machine: each step, each landing search and each placement a chain tries is charged what it
costs on this machine (a linear model of the three, fitted below). The wall-clock deadline at the
limit itself stays the backstop and, when it is what stopped the passes, the plan says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from planner.domain.policy import SolverSettings

# Share of the time limit the improving passes may work for; the search after them gets the rest
# (and the whole limit when the passes end early, as they mostly do on small clusters).
GREEDY_SHARE = 0.9
# What the work costs, in milliseconds of this machine (2 cores, quiet). Fitted to greedy runs on
# eight clusters from benchmarks.solve (20x200 to 1000x20000) and benchmarks.tight (100x2000 to
# 1000x20000, fill 0.85), counting each kind of work: predicted times were within -10 % and +39 %
# of the measured 0.2-2.7 s.
STEP_MS_PER_1000_HOSTS = 0.44  # finding the peak host and ranking targets: arrays over every host
LANDING_MS = 0.14  # one coolest_fit: a VM's room on every host at once
CHAIN_PLACEMENT_MS = 0.42  # one placement a chain search tries (a landing, maybe a room scan)
MS_PER_SECOND = 1000.0


@dataclass
class GreedyBudget:
    """Deadline (time.monotonic()) and, in deterministic mode, the modelled milliseconds of work
    left for the improving passes."""

    deadline: float | None = None
    work_ms: float | None = None
    wall_clock_cut: bool = False
    used_ms: float = 0.0

    @staticmethod
    def of(settings: SolverSettings, started: float) -> GreedyBudget:
        work = settings.time_limit_s * GREEDY_SHARE * MS_PER_SECOND if settings.deterministic else None
        return GreedyBudget(started + settings.time_limit_s, work)

    def charge(self, milliseconds: float) -> None:
        self.used_ms += milliseconds

    def step(self, hosts: int) -> bool:
        """Charge one step over `hosts` hosts; False once the budget is spent (stop improving)."""
        self.used_ms += STEP_MS_PER_1000_HOSTS * hosts / 1000
        if self.work_ms is not None and self.used_ms > self.work_ms:
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.wall_clock_cut = True
            return False
        return True
