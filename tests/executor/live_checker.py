"""An independent replay of a simulated run's event log, written apart from the executor and the backend.

It knows only the cluster the backend started from and the log (executor/sim_world.py): every
start and end of our migrations, every foreign change, every read. It keeps its own account of
where each domain is defined, which ones run and which migrate, recomputes every host's usage
from that (a domain counts on its host, shut off or not; a migrating one on its destination too),
and checks after every event:

- a migration never starts into a host it takes over its usable capacity (so a host that began
  over capacity can only get better), and no foreign change overfills one either;
- every migration starts from the host the VM is really on, of a VM that runs and is not migrating;
- a domain is listed on two hosts only while it migrates between them, and what the backend
  reports (usage and domains per host) is what the replay says;
- at the end, every VM of the plan that no foreign change deleted is on exactly one host.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from executor.faults import FaultKind
from executor.sim_world import WorldEvent, WorldEventKind
from planner.domain.model import Cluster


@dataclass
class _Replay:
    limit: dict[str, tuple[int, int]]
    size: dict[str, tuple[int, int]]
    defined: dict[str, str]
    stopped: set[str] = field(default_factory=set)
    moving: dict[str, tuple[str, str]] = field(default_factory=dict)  # ours and foreign: VM → (source, destination)
    deleted: set[str] = field(default_factory=set)

    def holders(self, host: str) -> set[str]:
        names = {vm for vm, where in self.defined.items() if where == host}
        return names | {vm for vm, (_, to) in self.moving.items() if to == host}

    def used(self, host: str) -> tuple[int, int]:
        names = self.holders(host)
        return sum(self.size[v][0] for v in names), sum(self.size[v][1] for v in names)

    def over(self, host: str) -> str:
        memory, vcpus = self.used(host)
        cap_memory, cap_vcpus = self.limit[host]
        if memory > cap_memory or vcpus > cap_vcpus:
            return f"{host} at {memory}/{cap_memory} MiB, {vcpus}/{cap_vcpus} vCPUs"
        return ""


def violations(cluster: Cluster, events: Sequence[WorldEvent], plan_vms: Iterable[str]) -> list[str]:
    replay = _Replay({h.name: (h.usable_memory_mib, h.usable_vcpus) for h in cluster.hosts},
                     {v.name: (v.memory_mib, v.vcpus) for v in cluster.vms}, cluster.placement)
    found: list[str] = []
    for event in events:
        found += [f"{event.describe()}: {problem}" for problem in _apply(replay, event)]
        found += [f"{event.describe()}: {problem}" for problem in _compare(replay, event)]
    for vm in plan_vms:
        if vm in replay.deleted:
            continue
        if vm in replay.moving:
            found.append(f"end: {vm} is still migrating {'→'.join(replay.moving[vm])}")
        if vm not in replay.defined:
            found.append(f"end: {vm} of the plan is lost (no host holds it, and nobody deleted it)")
        if events:
            listed = sorted(h for h, u in events[-1].usage.items() if vm in u.domains)
            if len(listed) != 1:
                found.append(f"end: the backend lists {vm} on {listed or 'no host'}")
    return found


def _apply(replay: _Replay, event: WorldEvent) -> list[str]:
    vm = event.vm
    if event.kind is WorldEventKind.STARTED:
        return _start(replay, vm, event.source, event.destination)
    if event.kind is WorldEventKind.ENDED:
        return _end(replay, vm, event.source, event.destination, event.completed)
    if event.kind is WorldEventKind.FOREIGN_ENDED:
        if replay.moving.pop(vm, None) is None:
            return [f"{vm} ends a foreign migration it was not in"]
        if vm in replay.defined:
            replay.defined[vm] = event.destination
        return []
    if event.kind is WorldEventKind.VANISHED:
        replay.defined.pop(vm, None)
        replay.stopped.discard(vm)
        replay.deleted.add(vm)
        return []
    if event.kind is WorldEventKind.LANDED:
        return _land(replay, event)
    return []  # reads, refusals, dropped and never-landed changes change nothing


def _start(replay: _Replay, vm: str, source: str, destination: str) -> list[str]:
    problems = []
    if replay.defined.get(vm) != source:
        problems.append(f"{vm} starts from {source} but is on {replay.defined.get(vm)}")
    if vm in replay.stopped:
        problems.append(f"{vm} is shut off, yet a live migration of it started")
    if vm in replay.moving:
        problems.append(f"{vm} starts a migration while it migrates {'→'.join(replay.moving[vm])}")
    replay.moving[vm] = (source, destination)
    over = replay.over(destination)
    if over:
        problems.append(f"the start of {vm} takes {over}")
    return problems


def _end(replay: _Replay, vm: str, source: str, destination: str, completed: bool) -> list[str]:
    if replay.moving.pop(vm, None) != (source, destination):
        return [f"{vm} ends a migration {source}→{destination} that never started"]
    if not completed:
        return []
    if replay.defined.get(vm) != source or vm in replay.stopped:
        return [f"{vm} completed a migration although it is {replay.defined.get(vm)}, "
                f"{'shut off' if vm in replay.stopped else 'not on ' + source}"]
    replay.defined[vm] = destination
    return []


def _land(replay: _Replay, event: WorldEvent) -> list[str]:
    vm, change = event.vm, event.change
    if change is FaultKind.BOOT:
        if vm in replay.defined:
            return [f"boots {vm}, which exists on {replay.defined[vm]}"]
        replay.size[vm] = event.size
        replay.defined[vm] = event.destination
        replay.deleted.discard(vm)
        return _polite(replay, event.destination)
    if vm not in replay.defined:
        return [f"{change.value if change else 'a change'} of {vm}, which does not exist"]
    if change is FaultKind.STOP:
        replay.stopped.add(vm)
    elif change is FaultKind.DELETE:
        del replay.defined[vm]
        replay.stopped.discard(vm)
        replay.deleted.add(vm)
    elif change is FaultKind.FOREIGN_MOVE:
        if vm in replay.moving:
            return [f"{vm} starts a foreign migration while it migrates"]
        replay.moving[vm] = (replay.defined[vm], event.destination)
        return _polite(replay, event.destination)
    return []


def _polite(replay: _Replay, host: str) -> list[str]:
    over = replay.over(host)
    return [f"a foreign change was not polite: {over}"] if over else []


def _compare(replay: _Replay, event: WorldEvent) -> list[str]:
    """What the backend reported at this instant against the replay's own account."""
    problems = []
    for host, reported in event.usage.items():
        holders = replay.holders(host)
        if reported.domains != holders or (reported.memory_mib, reported.vcpus) != replay.used(host):
            problems.append(f"the backend reports {host} holding {sorted(reported.domains)} "
                            f"({reported.memory_mib} MiB/{reported.vcpus} vCPUs); the replay says {sorted(holders)} "
                            f"({replay.used(host)[0]} MiB/{replay.used(host)[1]} vCPUs)")
    for vm in {v for u in event.usage.values() for v in u.domains}:
        hosts = {h for h, u in event.usage.items() if vm in u.domains}
        if len(hosts) > 1 and (vm not in replay.moving or hosts != set(replay.moving[vm])):
            problems.append(f"{vm} is on {sorted(hosts)} without migrating between them")
    return problems


def describe_log(events: Sequence[WorldEvent], hosts: Iterable[str] = ()) -> str:
    """The log as text, one event a line with the hosts' usage, for a counterexample."""
    shown = tuple(hosts)
    lines = []
    for event in events:
        names = shown or tuple(event.usage)
        usage = ", ".join(f"{h}={event.usage[h].memory_mib}M/{event.usage[h].vcpus}c"
                          for h in names if h in event.usage)
        lines.append(f"{event.describe()}   [{usage}]")
    return "\n".join(lines)
