"""Extra named resources on a generated cluster, for the benchmarks: every host offers the same
capacity of each, and the VMs on a tenth of the hosts ask for far more than the rest, so the
resource has a hot spot of its own (disk IOPS behind a few database hosts)."""

from __future__ import annotations

import random
from dataclasses import replace

from planner.domain.model import Cluster

CAPACITY = 20_000
HOT_DEMAND = (200, 1_200)  # per VM on the hot hosts
COOL_DEMAND = (0, 300)  # per VM elsewhere


def with_extra_resources(cluster: Cluster, count: int, seed: int = 1) -> Cluster:
    """`cluster` with `count` extra resources (`r0`, `r1`, …); the same cluster when `count` is 0.
    Hot hosts may start above a capacity: the repair moves VMs off them first."""
    if count == 0:
        return cluster
    rng = random.Random(seed)
    names = [f"r{k}" for k in range(count)]
    hosts = tuple(replace(h, resources=dict.fromkeys(names, CAPACITY)) for h in cluster.hosts)
    hot = {h.name for h in hosts[: max(1, len(hosts) // 10)]}
    vms = tuple(replace(v, resources={n: rng.randint(*(HOT_DEMAND if v.host in hot else COOL_DEMAND)) for n in names})
                for v in cluster.vms)
    return Cluster(hosts, vms)
