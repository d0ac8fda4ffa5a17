"""What the reassignment solver returns, however many cores it searched on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.solver.reassign.lns import LnsCounters


@dataclass(frozen=True)
class SearchResult:
    assignment: np.ndarray
    cost: int  # the solver's own bookkeeping; callers re-check it independently
    steps: int  # local-search steps, summed over the workers
    lns: LnsCounters  # summed over the workers
    seconds: float
    # Per worker (this process's first): seconds from the start until its LNS took every slice
    # (turns.LNS_LED); None where it never did. When that happens is what b_1's runs differ in most.
    lns_led_after_s: tuple[float | None, ...] = ()
