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
counts `factor` times, so every pass, and every share of a pass, shrinks in proportion and the
greedy ends in time, as it would with a shorter limit. The plan then says it may not repeat, if a
pass's decision (a share, a progress check, a cap reached) rested on that added work: passes that
end on their own first (a consolidation often does) leave the plan the modelled one, and nothing is
said.

So that two slow runs shorten their passes alike, the pace is judged only at fixed points of the
modelled work (each tenth of it, reached at the same step in every run; none before a minimum
sample, and a tenth reached sooner is not judged later), the factor takes one of a few fixed
rungs (the lowest that ends the work in time) and never comes back down. Two runs on machines
alike in slowness then take the same rung at the same step and give the same plan, where a factor
following the measured pace step by step changes at other steps, by other amounts, in every run.
Only a machine that falls out of time altogether between two judgements has the work left spent at
once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The share of the limit by which the greedy's passes must end at the pace they are going: the rest
# is for the search after them and for writing up the plan.
PACED_SHARE = 0.95
# The pace is judged each time this share of the passes' modelled work is done: a sample long enough
# that its timing is not noise, and often enough to react to a machine slowing down.
JUDGED_EVERY = 0.1
# Nor is anything judged (not even running out of time) before the passes have run this long and
# this share of their time to `end_by`: the cost model fits some kinds of work better than others,
# and the first steps of a pass (consolidation's host emptying at 10,000 hosts) can take many times
# their modelled share of the wall clock.
MIN_SAMPLE_S = 0.25
MIN_SAMPLE_SHARE = 0.1
# The factor's rungs: 2 ** (k / RUNGS_PER_DOUBLING). Fewer rungs, more runs on the same one (the same
# plan) but passes shortened more than needed (by up to 2 ** (1 / RUNGS_PER_DOUBLING)).
RUNGS_PER_DOUBLING = 3


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
    next_judged_ms: float = 0.0  # the raw work at which the pace is next judged
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
        """Fold the work done since the last update into the charge; spend the work left if, at the
        pace so far, no time is left; and at each tenth of the work raise `factor` to the lowest
        rung that, at that pace, ends the work left by `end_by`."""
        self.inflation_ms += (raw_ms - self.last_raw_ms) * (self.factor - 1.0)
        self.last_raw_ms = raw_ms
        if self.began is None:
            self.began, self.raw_at_start = now, raw_ms
            self._skip_judgements_up_to(raw_ms)
            return
        elapsed, done = now - self.began, raw_ms - self.raw_at_start
        left_ms = self.work_ms - self.charged(raw_ms)
        if elapsed < max(MIN_SAMPLE_S, MIN_SAMPLE_SHARE * (self.end_by - self.began)) or done <= 0 or left_ms <= 0:
            self._skip_judgements_up_to(raw_ms)
            return
        seconds_per_ms = elapsed / done
        slower_after = self.after_s * max(0.0, seconds_per_ms * 1000 - 1.0)
        time_left = self.end_by - slower_after - now
        if time_left <= 0:
            self.inflation_ms += left_ms  # out of time: the work left is spent
            self.slowed = True
            return
        if raw_ms < self.next_judged_ms:
            return
        self._skip_judgements_up_to(raw_ms)
        # What is left takes left_ms / factor × seconds_per_ms of the wall clock at this factor.
        self.factor = max(self.factor, rung_at_least(left_ms * seconds_per_ms / time_left))
        self.slowed = self.slowed or self.factor > 1.0

    def _skip_judgements_up_to(self, raw_ms: float) -> None:
        """The next judgement at the first tenth of the work past `raw_ms`: a tenth reached too
        early to judge is not judged later, at a step that would depend on the machine's speed."""
        tenth = JUDGED_EVERY * self.work_ms
        if tenth <= 0:
            self.next_judged_ms = math.inf  # no work to pace
        elif self.next_judged_ms <= raw_ms:
            self.next_judged_ms = self.raw_at_start + (math.floor((raw_ms - self.raw_at_start) / tenth) + 1) * tenth


def rung_at_least(needed: float) -> float:
    """The lowest rung, 2 ** (k / RUNGS_PER_DOUBLING) for a whole k ≥ 0, at or above `needed`."""
    if needed <= 1.0:
        return 1.0
    k = math.ceil(math.log2(needed) * RUNGS_PER_DOUBLING - 1e-9)
    return 2.0 ** (k / RUNGS_PER_DOUBLING)
