"""CPU and memory demand over a window: what planning uses instead of one instant's load.

A guest that was busy for hours and idle for the last second is busy; a guest idle for a day with
one short spike is idle. So demand is a statistic (a percentile, the mean or the maximum) over a
window of samples, read from the local history store (cluster/demand_history.py) or from
Prometheus (cluster/prometheus_demand.py). Both sources answer with the same `Demand`, keyed by
domain UUID, and `with_demand` puts it into a snapshot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from planner.domain.errors import InputError
from planner.domain.measurement import MEMORY_BASES
from planner.domain.model import Cluster

STATISTICS = ("p50", "p66", "p75", "p90", "p95", "p99", "max", "avg")
DEFAULT_STATISTIC = "p95"
DEFAULT_WINDOW_S = 24 * 3600
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EMPTY: Mapping[str, int] = MappingProxyType({})


def parse_duration(text: str, field_name: str) -> float:
    """'90s', '5m', '24h', '7d' → seconds (InputError naming the field otherwise)."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise InputError(field_name, f"must be a duration such as 60s, 5m, 24h or 7d, got {text!r}")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def describe_duration(seconds: float) -> str:
    """Seconds as an operator writes them: whole days from two days up ('7d'), else hours ('24h'),
    minutes or seconds."""
    for unit in ("d", "h", "m"):
        big_enough = seconds >= (2 * _UNIT_S[unit] if unit == "d" else _UNIT_S[unit])
        if big_enough and seconds % _UNIT_S[unit] == 0:
            return f"{int(seconds // _UNIT_S[unit])}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class DemandSpec:
    """Which statistic over which window (seconds, ending now)."""

    statistic: str = DEFAULT_STATISTIC
    window_s: float = DEFAULT_WINDOW_S

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise InputError("statistic", f"must be one of {', '.join(STATISTICS)}, got {self.statistic!r}")
        if not self.window_s > 0:
            raise InputError("window", f"must be positive, got {self.window_s!r}")

    @property
    def label(self) -> str:
        return f"{self.statistic} over the last {describe_duration(self.window_s)}"


METRICS_SOURCES = ("local", "prometheus")


@dataclass(frozen=True)
class DemandOptions:
    """How planning reads demand: the statistic and window, memory as allocated or as used, and
    from where (the local history in the state directory, or a Prometheus server)."""

    spec: DemandSpec = field(default_factory=DemandSpec)
    memory: str = "allocated"  # one of planner.domain.measurement.MEMORY_BASES
    metrics: str = "local"  # one of METRICS_SOURCES
    prometheus_url: str = ""

    def __post_init__(self) -> None:
        if self.memory not in MEMORY_BASES:
            raise InputError("--memory-demand", f"must be one of {', '.join(MEMORY_BASES)}, got {self.memory!r}")
        if self.metrics not in METRICS_SOURCES:
            raise InputError("--metrics", f"must be one of {', '.join(METRICS_SOURCES)}, got {self.metrics!r}")
        if self.metrics == "prometheus" and not self.prometheus_url:
            raise InputError("--prometheus-url", "is required with --metrics prometheus")
        if self.metrics != "prometheus" and self.prometheus_url:
            raise InputError("--prometheus-url", "only goes with --metrics prometheus")


@dataclass(frozen=True)
class Demand:
    """Per-domain demand (by UUID) and one line saying where it came from."""

    cpu_millicores: Mapping[str, int] = field(default_factory=lambda: EMPTY)
    memory_used_mib: Mapping[str, int] = field(default_factory=lambda: EMPTY)  # where the balloon reports it
    summary: str = ""


def statistic_of(values: Sequence[float], statistic: str) -> float:
    """The statistic of a non-empty sample list; percentiles interpolate linearly between ranks
    (numpy's default and Prometheus' quantile_over_time agree on that)."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    if statistic == "max":
        return ordered[-1]
    if statistic == "avg":
        return sum(ordered) / len(ordered)
    rank = int(statistic[1:]) / 100 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def with_demand(cluster: Cluster, demand: Demand) -> Cluster:
    """The snapshot with each VM's CPU load replaced by its demand where the source knows the VM
    (by UUID), and its memory by the used memory where the source reports one (sources fill that
    only when the operator asked to plan memory as used: by default memory stays as allocated,
    since a guest may grow back to its allocation at any time). VMs a source does not know keep
    their sampled figures."""
    vms = tuple(replace(vm,
                        cpu_load_millicores=demand.cpu_millicores.get(vm.uuid, vm.cpu_load_millicores),
                        memory_mib=demand.memory_used_mib.get(vm.uuid, vm.memory_mib) or vm.memory_mib)
                for vm in cluster.vms)
    return replace(cluster, vms=vms)
