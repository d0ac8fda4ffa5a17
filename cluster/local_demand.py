"""Demand from the local history: each VM's statistic over the window, and the line that says so.

A VM with samples in the window is planned from the statistic over them and the sample just
taken; a VM without (a first run, a VM created since the last collection) keeps the sample just
taken, and the line says how many VMs that is and over how long they were sampled. Pure: the
history is read and the cluster collected by cluster/demand_measure.py.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping

from cluster.demand import Demand, DemandSpec, describe_duration, statistic_of
from cluster.demand_history import History
from planner.domain.measurement import DemandBasis
from planner.domain.model import Cluster

COLLECT_HINT = "rebalance collect --every 60s"


def local_demand(cluster: Cluster, history: History, spec: DemandSpec, memory: str, interval_s: float,
                 used_now: Mapping[str, int]) -> tuple[Demand, DemandBasis]:
    """`cluster` as just collected (its loads sampled over `interval_s`); `history` the samples before
    it in the window; `used_now` the balloon-reported used memory of this collection, by UUID."""
    cpu: dict[str, int] = {}
    used: dict[str, int] = {}
    counts: list[int] = []
    without = 0
    for vm in cluster.vms:
        if not vm.uuid:
            continue  # room held for a migration in flight: not a domain of its own
        past = history.of(vm.uuid)
        if past.cpu_millicores:
            values = (*past.cpu_millicores, vm.cpu_load_millicores)
            cpu[vm.uuid] = math.ceil(statistic_of(values, spec.statistic))
            counts.append(len(values))
        else:
            without += 1
        used_values = (*past.memory_used_mib, *((used_now[vm.uuid],) if vm.uuid in used_now else ()))
        if memory == "used" and used_values:
            used[vm.uuid] = math.ceil(statistic_of(used_values, spec.statistic))
    samples = round(statistics.median(counts)) if counts else 0
    summary = f"{_cpu_phrase(spec, samples, without, interval_s)}; {memory_phrase(memory, len(used))}"
    source = "local history" if counts else "sample"
    basis = DemandBasis(source, spec.statistic if counts else "", spec.window_s if counts else 0.0, samples, memory,
                        summary)
    return Demand(cpu, used, summary), basis


def _cpu_phrase(spec: DemandSpec, samples: int, without: int, interval_s: float) -> str:
    sampled = f"sampled over {interval_s:g} s"
    if not samples:
        return (f"CPU {sampled}: no local history in the last {describe_duration(spec.window_s)} "
                f"(keep one with `{COLLECT_HINT}`)")
    missing = f", {without} VM{'s' if without != 1 else ''} without history: {sampled}" if without else ""
    return f"CPU {spec.label} from local history ({samples} samples/VM{missing})"


def memory_phrase(memory: str, reported: int) -> str:
    if memory == "allocated":
        return "memory as allocated"
    return f"memory as used where the balloon reports it ({reported} VM{'s' if reported != 1 else ''}), else allocated"
