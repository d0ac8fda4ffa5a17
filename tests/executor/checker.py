"""An independent replay of a simulated schedule, written apart from the executor's ledger.

It knows only the cluster, the start and target placements, and the timeline (start/end of each
migration). Each migrating VM counts on both its source and its destination from its start to its
end. At every instant it checks every host against its hard limits: memory, vCPUs and each extra
named resource the hosts declare.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from executor.schedule import Timeline
from planner.domain.model import Cluster


def violations(cluster: Cluster, start: Mapping[str, str], target: Mapping[str, str], timeline: Timeline) -> list[str]:
    found: list[str] = []
    names = sorted({name for h in cluster.hosts for name in h.resources})
    size = {v.name: [v.memory_mib, v.vcpus] + [v.resources.get(n, 0) for n in names] for v in cluster.vms}
    limit = {h.name: [h.usable_memory_mib, h.usable_vcpus] + [h.resources[n] for n in names] for h in cluster.hosts}
    where = dict(start)
    usage = {h: [0] * (2 + len(names)) for h in limit}
    for name, host in where.items():
        usage[host] = [u + s for u, s in zip(usage[host], size[name])]
    initial = {h: tuple(u) for h, u in usage.items()}
    moving: set[str] = set()
    events: dict[float, tuple[list, list]] = defaultdict(lambda: ([], []))
    for entry in timeline.entries:
        events[entry.start][1].append(entry.step)
        events[entry.end][0].append(entry.step)
    for moment in sorted(events):
        ends, starts = events[moment]
        for step in ends:  # a migration that ends now frees its source before anything new starts
            moving.discard(step.vm)
            where[step.vm] = step.destination
            usage[step.source] = [u - s for u, s in zip(usage[step.source], size[step.vm])]
        grew = set()
        for step in starts:
            if step.vm in moving:
                found.append(f"t={moment}: {step.vm} migrates twice at once")
            if where.get(step.vm) != step.source:
                found.append(f"t={moment}: {step.vm} starts from {step.source} but is on {where.get(step.vm)}")
            moving.add(step.vm)
            usage[step.destination] = [u + s for u, s in zip(usage[step.destination], size[step.vm])]
            grew.add(step.destination)
        for host, used in usage.items():
            over = [d for d, (u, cap) in enumerate(zip(used, limit[host])) if u > cap]
            if any(used[d] > initial[host][d] for d in over):
                found.append(f"t={moment}: {host} at {used}, worse than its limit {limit[host]} and its start")
            if host in grew and over:
                found.append(f"t={moment}: a VM started into {host}, which is over capacity ({used} of {limit[host]})")
    for name, host in where.items():
        if host != target.get(name, start[name]):
            found.append(f"{name} ends on {host}, not on its target {target.get(name, start[name])}")
    return found
