"""An independent replay of a simulated schedule, written apart from the executor's ledger.

It knows only the cluster, the start and target placements, and the timeline (start/end of each
migration). Each migrating VM counts on both its source and its destination from its start to its
end. At every instant it checks every host against its hard limits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from executor.schedule import Timeline
from planner.domain.model import Cluster


def violations(cluster: Cluster, start: Mapping[str, str], target: Mapping[str, str], timeline: Timeline) -> list[str]:
    found: list[str] = []
    size = {v.name: (v.memory_mib, v.vcpus) for v in cluster.vms}
    limit = {h.name: (h.usable_memory_mib, h.usable_vcpus) for h in cluster.hosts}
    where = dict(start)
    usage = {h: [0, 0] for h in limit}
    for name, host in where.items():
        usage[host][0] += size[name][0]
        usage[host][1] += size[name][1]
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
            usage[step.source][0] -= step.memory_mib
            usage[step.source][1] -= step.vcpus
        grew = set()
        for step in starts:
            if step.vm in moving:
                found.append(f"t={moment}: {step.vm} migrates twice at once")
            if where.get(step.vm) != step.source:
                found.append(f"t={moment}: {step.vm} starts from {step.source} but is on {where.get(step.vm)}")
            moving.add(step.vm)
            usage[step.destination][0] += step.memory_mib
            usage[step.destination][1] += step.vcpus
            grew.add(step.destination)
        for host, (memory, vcpus) in usage.items():
            cap_memory, cap_vcpus = limit[host]
            if memory > max(cap_memory, initial[host][0]) or vcpus > max(cap_vcpus, initial[host][1]):
                found.append(f"t={moment}: {host} at {memory} MiB/{vcpus} vCPUs, worse than its limit and its start")
            if host in grew and (memory > cap_memory or vcpus > cap_vcpus):
                found.append(f"t={moment}: a VM started into {host}, which is over capacity ({memory} MiB/{vcpus})")
    for name, host in where.items():
        if host != target.get(name, start[name]):
            found.append(f"{name} ends on {host}, not on its target {target.get(name, start[name])}")
    return found
