"""A brute-force answer to "does a safe sequential order exist?", written apart from the executor.

It enumerates every reachable placement of the moving VMs, one migration at a time: a VM goes to its
target, or (once, from its start) to a parking host, an active host that is neither its start nor
its target. A migration may start only when its destination has room for the VM while the source
still holds it. Exponential, so only for small cases (a handful of VMs).
"""

from __future__ import annotations

from collections.abc import Mapping

from planner.domain.model import Cluster

AT_START = "start"
AT_TARGET = "target"


def safe_order_exists(cluster: Cluster, start: Mapping[str, str], target: Mapping[str, str]) -> bool:
    names = sorted({name for h in cluster.hosts for name in h.resources})  # extra resources, held like memory
    size = {v.name: (v.memory_mib, v.vcpus, *(v.resources.get(n, 0) for n in names)) for v in cluster.vms}
    limit = {h.name: (h.usable_memory_mib, h.usable_vcpus, *(h.resources[n] for n in names)) for h in cluster.hosts}
    dimensions = range(2 + len(names))
    parking = [h.name for h in cluster.hosts if h.takes_new_vms]
    movers = sorted(name for name, host in target.items() if start[name] != host)
    staying = [name for name in start if name not in movers]

    def host_of(name: str, where: str) -> str:
        return {AT_START: start[name], AT_TARGET: target[name]}.get(where, where)

    def usage(state: tuple[str, ...]) -> dict[str, list[int]]:
        used = {h: [0 for _ in dimensions] for h in limit}
        placed = [(n, start[n]) for n in staying] + [(n, host_of(n, w)) for n, w in zip(movers, state)]
        for name, host in placed:
            for k in dimensions:
                used[host][k] += size[name][k]
        return used

    def room(used: dict[str, list[int]], host: str, name: str) -> bool:
        return all(used[host][k] + size[name][k] <= limit[host][k] for k in dimensions)

    first = tuple(AT_START for _ in movers)
    seen, todo = {first}, [first]
    while todo:
        state = todo.pop()
        if all(where == AT_TARGET for where in state):
            return True
        used = usage(state)
        for i, name in enumerate(movers):
            if state[i] == AT_TARGET:
                continue
            nexts = [AT_TARGET] if room(used, target[name], name) else []
            if state[i] == AT_START:
                nexts += [p for p in parking if p not in (start[name], target[name]) and room(used, p, name)]
            for where in nexts:
                following = state[:i] + (where,) + state[i + 1:]
                if following not in seen:
                    seen.add(following)
                    todo.append(following)
    return False
