"""How a `rebalance run` ended: the outcome written to the run history and shown by `rebalance history`.

A StrEnum, so a record's outcome compares equal to, prints as and serialises to its value; the
values are those every version of rebalance has written, so old histories still read.
"""

from __future__ import annotations

import enum
from typing import Any

from planner.domain.checks import quote
from planner.domain.errors import InputError


class RunOutcome(enum.StrEnum):
    DONE = "done"  # every planned migration ran and was verified
    NOTHING_TO_DO = "nothing-to-do"  # the goal is met, or the gain is below the benefit gate
    PARTLY_FAILED = "partly-failed"  # a migration failed, was blocked or ended unknown, or the journal failed
    WINDOW_CLOSED = "window-closed"  # the window closed first: the next run goes on
    INFEASIBLE = "infeasible"  # no plan reaches the goal within the rules
    INTERRUPTED = "interrupted"  # SIGTERM or Ctrl-C stopped the run
    ERROR = "error"  # the run could not go on: a host down while collecting, the cluster changed, …

    @property
    def succeeded(self) -> bool:
        """Nothing went wrong (the metrics' `rebalance_last_run_success`)."""
        return self in (RunOutcome.DONE, RunOutcome.NOTHING_TO_DO, RunOutcome.WINDOW_CLOSED)


OUTCOME_VALUES = tuple(outcome.value for outcome in RunOutcome)


def parse_outcome(value: Any, field: str = "outcome") -> RunOutcome:
    """A history record's outcome; anything else is one InputError naming the field and the values."""
    if isinstance(value, str):
        try:
            return RunOutcome(value)
        except ValueError:
            pass
    raise InputError(field, f"must be one of {', '.join(OUTCOME_VALUES)}, got {quote(value)}")
