"""Measure a live cluster for planning: one collection (cluster/collector.py), recorded in the local
history, with each VM's CPU load replaced by its demand over a window.

`rebalance plan --inventory` and `rebalance run` both come through `measure_for_planning`, so they
see the cluster the same way; `rebalance collect` records through `record_collection`. Where the
demand comes from is said in one line (`Measured.line`) and kept in the snapshot
(`cluster.measured.demand`), so a plan records whether it was made from a p95 over a day or from one
instant.

Without history (the first run) the collection itself samples longer (FALLBACK_INTERVAL_S, unless
`--interval` says otherwise), since a one-second sample of a bursty guest is mostly noise.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cluster.collector import Collection, collect
from cluster.demand import Demand, DemandOptions, with_demand
from cluster.demand_history import DEFAULT_RETENTION_S, DemandStore, History, open_store, store_path
from cluster.inventory import Inventory
from cluster.local_demand import local_demand, memory_phrase
from cluster.prometheus_demand import prometheus_demand
from planner.domain.measurement import DemandBasis
from planner.domain.model import Cluster

DEFAULT_INTERVAL_S = 1.0
FALLBACK_INTERVAL_S = 10.0  # no history to plan from: sample this long instead
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Measuring:
    """How `plan --inventory` and `run` measure: where the history is, whether to add this
    collection to it, and the demand to plan from."""

    state_dir: Path | None = None  # the local history's directory; None: no history at all
    demand: DemandOptions = DemandOptions()
    interval_s: float | None = None  # None: DEFAULT_INTERVAL_S with history, FALLBACK_INTERVAL_S without
    timeout_s: float = DEFAULT_TIMEOUT_S
    skip_unreachable: bool = False
    record: bool = False  # append this collection to the history (run does; plan only reads)
    retention_s: float = DEFAULT_RETENTION_S


@dataclass(frozen=True)
class Measured:
    collection: Collection  # as collected: loads sampled over the interval
    cluster: Cluster  # what to plan from: demand applied, `measured.demand` filled

    @property
    def line(self) -> str:
        basis = self.cluster.measured.demand if self.cluster.measured else None
        return f"demand: {basis.summary}" if basis else ""


def measure_for_planning(inventory: Inventory, measuring: Measuring) -> Measured:
    options = measuring.demand
    window = timedelta(seconds=options.spec.window_s)
    with ExitStack() as stack:
        store = _store(measuring)
        if store is not None:
            stack.enter_context(store)
        local = options.metrics == "local"
        has_history = local and store is not None and store.has_samples(_utc_now() - window)
        interval_s = measuring.interval_s or (DEFAULT_INTERVAL_S if has_history or not local else FALLBACK_INTERVAL_S)
        collection = collect(inventory, interval_s, measuring.timeout_s, measuring.skip_unreachable)
        until = collection.measurement.collected_at
        uuids = [vm.uuid for vm in collection.cluster.vms if vm.uuid]
        history = store.history(uuids, until - window, until) if (local and store is not None) else History()
        if measuring.record and store is not None:
            store.append(collection, measuring.retention_s)
    used_now = {uuid: mib for sample in collection.samples for uuid, mib in sample.memory_used_mib.items()}
    if local:
        demand, basis = local_demand(collection.cluster, history, options.spec, options.memory, interval_s, used_now)
    else:
        demand, basis = _prometheus(options, collection, interval_s, until)
    if options.memory == "allocated":
        demand = replace(demand, memory_used_mib={})  # a guest may grow back to its allocation at any time
    measured = replace(collection.measurement, demand=basis)
    return Measured(collection, replace(with_demand(collection.cluster, demand), measured=measured))


def record_collection(collection: Collection, state_dir: Path, retention_s: float = DEFAULT_RETENTION_S) -> int:
    """`rebalance collect`: add its collection to the history; returns the VM samples stored."""
    store = open_store(store_path(state_dir))
    assert store is not None  # created when missing
    with store:
        return store.append(collection, retention_s)


def _store(measuring: Measuring) -> DemandStore | None:
    if measuring.state_dir is None:
        return None
    return open_store(store_path(measuring.state_dir), create=measuring.record)


def _prometheus(options: DemandOptions, collection: Collection, interval_s: float,
                now: datetime) -> tuple[Demand, DemandBasis]:
    """CPU (and with --memory-demand used, memory) from Prometheus; its summary already counts the
    VMs it has no series for, which keep the load sampled over `interval_s`."""
    uuids = [vm.uuid for vm in collection.cluster.vms if vm.uuid]
    demand = prometheus_demand(options.prometheus_url, uuids, options.spec, now,
                               memory_as_used=options.memory == "used")
    reported = len(demand.memory_used_mib) if options.memory == "used" else 0
    summary = f"{demand.summary}; sampled over {interval_s:g} s where it has none; {memory_phrase(options.memory, reported)}"
    basis = DemandBasis("prometheus", options.spec.statistic, options.spec.window_s, 0, options.memory, summary)
    return replace(demand, summary=summary), basis


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)
