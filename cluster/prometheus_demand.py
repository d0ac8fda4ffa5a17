"""CPU (and optionally memory) demand per domain UUID from a Prometheus that scrapes
prometheus-libvirt-exporter: the same statistic over the same window as the local history.

What is asked (one instant query per statistic, per batch of UUIDs, evaluated at `now`):

    quantile_over_time(0.95,
        (sum by (uuid) (rate(libvirt_domain_info_cpu_time_seconds_total{uuid=~"…"}[S])))[W:S])

The subquery makes one point every step S over the window W, each point the average CPU use over
the step that ends there (rate over [S]), as a local history sample is the average over its
sampling interval; the statistic is then taken over those points: `quantile_over_time` ranks
and interpolates exactly as cluster.demand.statistic_of does (rank q·(n−1), linear between
neighbours), `max_over_time` and `avg_over_time` for max and avg. Computing the statistic on the
server keeps the answer to one number per domain however long the window.

`sum by (uuid)` maps series to domains by UUID (the exporter labels each series with `domain` and
`uuid`) and joins the series of one domain that several exporters reported (it moved between
hosts during the window, or was migrating: both QEMUs burn CPU then). `rate` copes with the
counter restarting (a guest restarted).

The step is 60 s (the local history's default cadence), shorter for a short window so it still
has ten points; the exporter must be scraped at least twice per step for `rate` to have a value.

Memory, when asked as used: prometheus-libvirt-exporter 0.2.0 exports the balloon's current size
(`libvirt_domain_info_memory_usage_bytes`, virDomainGetInfo's memory), not what the guest uses; the
maximum of that over the window is what the guest could use at any time in it. Host CPU and memory
are not exported by it (no host series): a host's load is the sum of its domains', as planned.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from cluster.demand import Demand, DemandSpec
from cluster.prometheus_api import PrometheusError, Sample, instant_query, validated_url

CPU_METRIC = "libvirt_domain_info_cpu_time_seconds_total"
MEMORY_METRIC = "libvirt_domain_info_memory_usage_bytes"
DEFAULT_STEP_S = 60.0
MIN_POINTS = 10
MIN_STEP_S = 1.0
UUIDS_PER_QUERY = 200  # keeps each query's regex, samples loaded and answer small
MAX_CORES = 100_000  # a rate above this many cores is not a domain's CPU use: the answer is bad
MAX_MEMORY_BYTES = 2**60
Converter = Callable[[float], "int | None"]  # a value from Prometheus → planning units, None if unusable
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def prometheus_demand(url: str, uuids: Sequence[str], spec: DemandSpec, now: datetime, timeout_s: float = 10.0,
                      *, step_s: float | None = None, memory_as_used: bool = False) -> Demand:
    """Demand of the domains `uuids` over `spec.window_s` ending at `now`. Domains Prometheus has no
    usable series for are left out (they keep their sampled figures) and the summary counts them.
    InputError (exit 2) for a bad URL; PrometheusError (exit 1) when Prometheus fails to answer."""
    base = validated_url(url)
    wanted = domain_uuids(uuids)
    step = step_s if step_s is not None else step_for(spec.window_s)
    deadline = time.monotonic() + timeout_s
    cpu = _per_uuid(base, wanted, lambda batch: cpu_query(batch, spec, step), now, deadline, timeout_s,
                    _millicores)
    memory: dict[str, int] = {}
    if memory_as_used:
        memory = _per_uuid(base, wanted, lambda batch: memory_query(batch, spec, step), now, deadline, timeout_s,
                           _mib)
    asked = len(set(uuids))
    return Demand(cpu_millicores=cpu, memory_used_mib=memory, summary=summary(base, spec, asked, cpu, memory))


def step_for(window_s: float) -> float:
    return max(MIN_STEP_S, min(DEFAULT_STEP_S, window_s / MIN_POINTS))


# -- queries -----------------------------------------------------------------------------------

def cpu_query(uuids: Sequence[str], spec: DemandSpec, step_s: float) -> str:
    per_step = f"sum by (uuid) (rate({CPU_METRIC}{{{uuid_matcher(uuids)}}}[{duration(step_s)}]))"
    return over_window(spec.statistic, per_step, spec.window_s, step_s)


def memory_query(uuids: Sequence[str], spec: DemandSpec, step_s: float) -> str:
    per_step = f"max by (uuid) ({MEMORY_METRIC}{{{uuid_matcher(uuids)}}})"
    return over_window("max", per_step, spec.window_s, step_s)


def over_window(statistic: str, per_step: str, window_s: float, step_s: float) -> str:
    points = f"({per_step})[{duration(window_s)}:{duration(step_s)}]"
    if statistic == "max":
        return f"max_over_time({points})"
    if statistic == "avg":
        return f"avg_over_time({points})"
    return f"quantile_over_time({int(statistic[1:]) / 100:g}, {points})"


def uuid_matcher(uuids: Iterable[str]) -> str:
    """`uuid=~"a|b"` over well-formed UUIDs only: hex digits and dashes, nothing to escape."""
    return f'uuid=~"{"|".join(domain_uuids(uuids))}"'


def duration(seconds: float) -> str:
    """A PromQL duration (whole units only: 1.5 s is written 1500ms)."""
    milliseconds = max(1, round(seconds * 1000))
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def domain_uuids(uuids: Iterable[str]) -> list[str]:
    """The well-formed UUIDs, lower case, once each. Anything else (a scenario's VM without a UUID)
    cannot have a series: it is not asked for, and counts among the domains without one."""
    return list(dict.fromkeys(u.lower() for u in uuids if isinstance(u, str) and _UUID.match(u)))


# -- answers -----------------------------------------------------------------------------------

def _per_uuid(base: str, wanted: list[str], query_for: Callable[[Sequence[str]], str], now: datetime,
              deadline: float, timeout_s: float, convert: Converter) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(wanted), UUIDS_PER_QUERY):
        batch = wanted[start:start + UUIDS_PER_QUERY]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PrometheusError(f"Prometheus at {base}: no answer within {timeout_s:g} s")
        samples = instant_query(base, query_for(batch), now.timestamp(), remaining)
        found.update(values_by_uuid(samples, batch, convert))
    return found


def values_by_uuid(samples: Sequence[Sample], wanted: Sequence[str], convert: Converter) -> dict[str, int]:
    """UUID → converted value for the wanted domains with a usable value (finite, in range). A
    UUID answered twice keeps the larger value: planning must not under-count demand."""
    wanted_set = set(wanted)
    found: dict[str, int] = {}
    for sample in samples:
        uuid = sample.labels.get("uuid", "").lower()
        value = convert(sample.value) if uuid in wanted_set else None
        if value is not None:
            found[uuid] = max(value, found.get(uuid, value))
    return found


def _millicores(cores: float) -> int | None:
    if not (math.isfinite(cores) and 0 <= cores <= MAX_CORES):
        return None
    return math.ceil(round(cores * 1000, 6))  # rounded up, as the collector does; not 0.1+0.2 noise


def _mib(size_bytes: float) -> int | None:
    if not (math.isfinite(size_bytes) and 0 < size_bytes <= MAX_MEMORY_BYTES):
        return None
    return math.ceil(size_bytes / 2**20)


def summary(base: str, spec: DemandSpec, asked: int, cpu: Mapping[str, int], memory: Mapping[str, int]) -> str:
    line = f"CPU {spec.label} from Prometheus at {base} ({len(cpu)} series)"
    if len(cpu) < asked:
        line += f"; no series for {asked - len(cpu)} of {asked} domains (they keep their sampled load)"
    if memory:
        line += f"; memory as the largest balloon size over the window ({len(memory)} series)"
    return line
