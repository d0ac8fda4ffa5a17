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
    # (turns.LNS_LED); None where it never did. On b_1 it follows the score the local search has
    # reached by then rather than setting it (docs/experiments.md, roadef-300s).
    lns_led_after_s: tuple[float | None, ...] = ()


def seconds_after(at: float | None, started: float) -> float | None:
    """A time.monotonic() moment as seconds from `started` (None stays None: it never happened)."""
    return None if at is None else at - started
