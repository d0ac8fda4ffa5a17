"""When and how a measured cluster's figures were taken: the time, the sampling interval, and where
the CPU (and memory) demand came from.

A snapshot from `rebalance collect`, and the cluster inside a plan made from a live inventory, carry
one `Measurement`: so a plan says whether its CPU loads are one instant's or a p95 over a day, and
how old they are. Hand-written scenarios and old snapshots have none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from planner.domain.checks import check_int, check_text, quote
from planner.domain.errors import InputError

DEMAND_SOURCES = ("sample", "local history", "prometheus")
MEMORY_BASES = ("allocated", "used")
MAX_INTERVAL_S = 3_600.0
MAX_WINDOW_S = 366 * 86_400.0
MAX_SUMMARY = 1_000


@dataclass(frozen=True)
class DemandBasis:
    """What the CPU loads (and memory sizes) of a measured cluster stand for."""

    source: str  # one of DEMAND_SOURCES: a single sample, or a statistic over a window of history
    statistic: str = ""  # p95, max, avg, …; "" for a single sample
    window_s: float = 0.0  # the window the statistic covers, ending at the collection; 0 for a sample
    samples: int = 0  # samples per VM the statistic saw (the median over the VMs that had history)
    memory: str = "allocated"  # one of MEMORY_BASES
    summary: str = ""  # the one line `plan` and `run` print

    def __post_init__(self) -> None:
        if self.source not in DEMAND_SOURCES:
            raise InputError("source", f"must be one of {', '.join(DEMAND_SOURCES)}, got {quote(self.source)}")
        if self.memory not in MEMORY_BASES:
            raise InputError("memory", f"must be one of {', '.join(MEMORY_BASES)}, got {quote(self.memory)}")
        check_text(self.statistic, "statistic", limit=16)
        _check_seconds(self.window_s, "window_s", MAX_WINDOW_S)
        check_int(self.samples, "samples")
        check_text(self.summary, "summary", limit=MAX_SUMMARY)


@dataclass(frozen=True)
class Measurement:
    collected_at: datetime  # when the last reading was taken, with its zone (UTC when we write it)
    interval_s: float  # seconds between the two readings each sampled CPU load is computed from
    demand: DemandBasis | None = None  # None: the loads are the sample itself, nothing more is known

    def __post_init__(self) -> None:
        if not isinstance(self.collected_at, datetime) or self.collected_at.tzinfo is None:
            raise InputError("collected_at", f"must be a time with its zone, got {quote(self.collected_at)}")
        _check_seconds(self.interval_s, "interval_s", MAX_INTERVAL_S)


def _check_seconds(value: object, field: str, maximum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(field, f"must be a number of seconds, got {quote(value)}")
    if not 0 <= value <= maximum:
        raise InputError(field, f"must be within 0..{maximum:g} seconds, got {quote(value)}")
