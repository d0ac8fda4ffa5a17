"""Click types for every numeric option: each value bounded and finite, checked while the
command line is parsed, so a bad one is a usage error (exit 2, one line naming the
option) before anything is read, measured, planned or migrated.

Bounds are generous but finite: a value past them is a typo or an attack, and a finite bound keeps
every later conversion (int(), a solver parameter, a deadline) from overflowing.
"""

from __future__ import annotations

import math
from typing import Any

import click

INT32_MAX = 2**31 - 1


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and ±inf: FloatRange lets nan through (every
    comparison with nan is false), and an open-ended range lets inf through."""

    def __init__(self, lowest: float, highest: float) -> None:
        super().__init__(min=lowest, max=highest)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


SEED = click.IntRange(0, INT32_MAX)  # CP-SAT's random_seed is a 32-bit int
MOVE_COUNT = click.IntRange(0, 1_000_000)
SOLVER_SECONDS = FiniteFloatRange(0.1, 86_400.0)  # a day
SOLVER_WORKERS = click.IntRange(1, 256)
PARALLEL_MIGRATIONS = click.IntRange(1, 256)  # the bounds executor settings accept
PER_HOST_MIGRATIONS = click.IntRange(1, 64)
SAMPLE_INTERVAL_S = FiniteFloatRange(0.1, 3_600.0)
HOST_TIMEOUT_S = FiniteFloatRange(0.1, 3_600.0)
COOLDOWN_HOURS = FiniteFloatRange(0.0, 8_760.0)  # a year
MOVED_GIB = FiniteFloatRange(0.0, 1_000_000.0)
PERCENT = FiniteFloatRange(0.0, 100.0)
RUN_COUNT = click.IntRange(1, 1_000_000)


class Duration(click.ParamType):
    """A duration such as 90s, 5m, 24h or 7d (cluster.demand.parse_duration), in seconds, bounded."""

    name = "duration"

    def __init__(self, lowest_s: float, highest_s: float) -> None:
        self.lowest_s, self.highest_s = lowest_s, highest_s

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from cluster.demand import parse_duration  # noqa: PLC0415 — keeps `rebalance --help` light
        from planner.domain.errors import InputError  # noqa: PLC0415

        if isinstance(value, float):
            seconds = value
        else:
            try:
                seconds = parse_duration(str(value), "duration")
            except InputError:
                self.fail(f"{value!r} is not a duration such as 60s, 5m, 24h or 7d.", param, ctx)
        if not self.lowest_s <= seconds <= self.highest_s:
            self.fail(f"{value!r} is not within {self.lowest_s:g} s..{self.highest_s:g} s.", param, ctx)
        return seconds


COLLECT_EVERY = Duration(1.0, 86_400.0)
DEMAND_WINDOW = Duration(1.0, 366 * 86_400.0)
RETENTION = Duration(60.0, 366 * 86_400.0)
