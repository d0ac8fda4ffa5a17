"""How long and how the reassignment solver searches."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchSettings:
    time_limit_s: float = 30.0
    seed: int = 0
    # A step budget makes runs reproducible regardless of machine speed: the local search then
    # runs `max_steps` steps and the LNS `max_rounds` rounds, and the clock is ignored.
    max_steps: int | None = None
    max_rounds: int = 0
    # Late-acceptance list length; None = by instance (local_search.history_length): long where the
    # LNS may take over (machines hold few processes), short where the local search leads to the end.
    history: int | None = None
    # Share of the time for CP-SAT sub-problems: None = following which half gains more per second
    # (10-95 %), and turns.LNS_LED (the LNS alone) from when the LNS gains as fast, where a
    # sub-problem frees a whole machine's worth of processes; 0 = local search only.
    lns_share: float | None = None
    # With lns_share None, whether the LNS may take every slice (turns.LNS_LED) where it may lead;
    # False: the share keeps following the rates there to the end (b_1 at 300 s: no gain,
    # docs/experiments.md, roadef-300s).
    lns_takes_over: bool = True
    sub_seconds: float = 0.5  # time limit of one CP-SAT sub-problem
    # What the local search's acceptance and a sub-problem charge for each process away from its
    # original machine, as a share of the load cost its transient requirement would cost over the
    # safety capacity: that room stays held there, spent for the rest of the search (hold.py).
    # Only the true cost decides what is kept as the best. 0 = the plain objective.
    hold_price: float = 0.1
    # Searches run at once, one core each, sharing their best assignment every `exchange_s`
    # seconds (0 = never: the best of independent searches); 1 = one search in the calling process.
    workers: int = 1
    exchange_s: float = 20.0

    @property
    def shares_best(self) -> bool:
        """Whether several workers exchange their best assignment (else they search independently)."""
        return self.exchange_s > 0
