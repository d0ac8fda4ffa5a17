"""The options `plan --inventory` and `run` share for measuring demand: which statistic over which
window, memory as allocated or used, from the local history or Prometheus, and the sampling interval."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cluster.demand import DEFAULT_STATISTIC, DEFAULT_WINDOW_S, METRICS_SOURCES, STATISTICS, DemandOptions, DemandSpec
from cluster.demand_measure import FALLBACK_INTERVAL_S, Measuring
from planner.domain.errors import InputError
from planner.domain.measurement import MEMORY_BASES
from rebalance import option_types as types

F = TypeVar("F", bound=Callable[..., Any])
DEMAND_OPTIONS = ("cpu_demand", "demand_window", "memory_demand", "metrics", "prometheus_url", "interval")


def demand_options(command: F) -> F:
    """Add the options (each defaults to None, so `plan` can tell one given without --inventory)."""
    options = [
        click.option("--cpu-demand", type=click.Choice(STATISTICS), metavar="STAT",
                     help=f"CPU demand of each VM: this statistic of its samples over the window "
                          f"({', '.join(STATISTICS)}; default {DEFAULT_STATISTIC})."),
        click.option("--demand-window", type=types.DEMAND_WINDOW, metavar="DURATION",
                     help="The window the statistic covers, ending now (default 24h)."),
        click.option("--memory-demand", type=click.Choice(MEMORY_BASES),
                     help="Memory as allocated (default), or as used where the guest's balloon reports it."),
        click.option("--metrics", type=click.Choice(METRICS_SOURCES),
                     help="Where the history comes from: the local store in --state-dir (default) or Prometheus."),
        click.option("--prometheus-url", metavar="URL", help="With --metrics prometheus: the server to query."),
        click.option("--interval", type=types.SAMPLE_INTERVAL_S,
                     help=f"Seconds the collection samples CPU load over (default 1, or {FALLBACK_INTERVAL_S:g} "
                          f"when there is no history to plan from)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def measuring(values: dict[str, Any], state_dir: str, skip_unreachable: bool, record: bool) -> Measuring:
    spec = DemandSpec(values["cpu_demand"] or DEFAULT_STATISTIC, values["demand_window"] or DEFAULT_WINDOW_S)
    demand = DemandOptions(spec, values["memory_demand"] or "allocated", values["metrics"] or "local",
                           values["prometheus_url"] or "")
    return Measuring(Path(state_dir), demand, values["interval"], skip_unreachable=skip_unreachable, record=record)


def refuse_without_inventory(values: dict[str, Any]) -> None:
    for name in DEMAND_OPTIONS:
        if values.get(name) is not None:
            raise InputError(f"--{name.replace('_', '-')}", "measures a live cluster: only with --inventory")
