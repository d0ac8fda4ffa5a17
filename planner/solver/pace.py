"""The greedy's modelled work kept within the wall clock on a machine slower than the model.

In deterministic mode the greedy's passes are capped by modelled work (greedy_budget.py), priced at
what it costs on a slow reference day, so that a seed gives the same plan. This machine's speed
varies more than that margin allows for: the same 1000-host spread took 2.4-2.9 s on one day and
9-10 s on another, and beside two busy loops the wall clock then cut the aimed pass half-way, its
hottest hosts not yet reached (benchmarks.repeat, 1000x20000, fill 0.88: peaks of 565 and 732 per
mille where the uncut plan reaches 519), with nothing left for the search after it.

A `Pace` watches how many wall seconds each modelled millisecond takes. While the rest of the work
would still end by `end_by` at that pace nothing changes, so on a machine within the model's margin
the plan is exactly the modelled one. Once it would not, every millisecond charged from then on
counts `factor` times (while the pace stays that slow), so every pass, and every share of a pass,
shrinks in proportion and the greedy ends in time, as it would with a shorter limit. The plan then
says it may not repeat, if a pass's decision (a share, a progress check, a cap reached) rested on
that added work: passes that end on their own first (a consolidation often does) leave the plan the
modelled one, and nothing is said.
"""

from __future__ import annotations

from dataclasses import dataclass

# The share of the limit by which the greedy's passes must end at the pace they are going: the rest
# is for the search after them and for writing up the plan.
PACED_SHARE = 0.95
# Judge the pace only once the passes have run this long and this share of their time to `end_by`:
# the first steps' timing is noise, and the cost model fits some kinds of work better than others.
MIN_SAMPLE_S = 0.25
MIN_SAMPLE_SHARE = 0.1


@dataclass
class Pace:
    """The passes' pace against the wall clock (time.monotonic()) and what it has added to the
    modelled work: `work_ms` is all of the passes' modelled work, `end_by` when they must end on a
    machine as fast as the model (earlier on a slower one, by what `after_s` then takes longer)."""

    work_ms: float
    end_by: float
    # Modelled seconds of work after the passes that the limit reserves (writing up the plan): at
    # the pace measured it takes longer too, and comes out of the passes' time.
    after_s: float = 0.0
    began: float | None = None
    raw_at_start: float = 0.0
    last_raw_ms: float = 0.0
    factor: float = 1.0
    inflation_ms: float = 0.0
    slowed: bool = False  # the factor rose above 1 (or time ran out) at some point
    shaped: bool = False  # a decision of the passes was made on work the pace added to: may not repeat

    def charged(self, raw_ms: float) -> float:
        """The work charged for `raw_ms` of modelled work done in all: at `factor` since it rose."""
        return raw_ms + self.inflation_ms + (raw_ms - self.last_raw_ms) * (self.factor - 1.0)

    def read(self, raw_ms: float) -> float:
        """charged(raw_ms), for a decision (a share, a progress check, a cap reached): one made on
        more than the modelled work may differ from a quick machine's, and the plan must say so.
        Passes that end on their own before the pace mattered leave the plan the modelled one."""
        charged = self.charged(raw_ms)
        self.shaped = self.shaped or charged > raw_ms
        return charged

    def update(self, raw_ms: float, now: float) -> None:
        """Fold the work done since the last update into the charge, then raise `factor` when, at
        the pace so far, the work left would run past `end_by`."""
        self.inflation_ms += (raw_ms - self.last_raw_ms) * (self.factor - 1.0)
        self.last_raw_ms = raw_ms
        if self.began is None:
            self.began, self.raw_at_start = now, raw_ms
            return
        elapsed, done = now - self.began, raw_ms - self.raw_at_start
        left_ms = self.work_ms - self.charged(raw_ms)
        if elapsed < max(MIN_SAMPLE_S, MIN_SAMPLE_SHARE * (self.end_by - self.began)) or done <= 0 or left_ms <= 0:
            return
        seconds_per_ms = elapsed / done
        slower_after = self.after_s * max(0.0, seconds_per_ms * 1000 - 1.0)
        time_left = self.end_by - slower_after - now
        if time_left <= 0:
            self.inflation_ms += left_ms  # out of time: the work left is spent
            self.slowed = True
            return
        # What is left takes left_ms / factor × seconds_per_ms of the wall clock at this factor; the
        # factor follows the pace back down if the machine speeds up again.
        self.factor = max(1.0, left_ms * seconds_per_ms / time_left)
        self.slowed = self.slowed or self.factor > 1.0
