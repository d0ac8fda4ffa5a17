"""The simulated cluster's state, the changes someone else makes to it during a run, and its event log.

State: the host each domain is defined on, whether it runs, and the migrations in flight (ours
and foreign). Every domain holds room on its host, running or shut off (shut-off memory stays
reserved, as Nova does); a migrating domain holds room on its source and its destination until
the migration ends. `usage` counts exactly that, and names the domains it counted.

Foreign changes (executor/faults.py: boot, stop, delete, foreign-move) are made by someone else
while our executor runs. Modelling choices, so that a test with real worker threads checks the
executor's arithmetic and its re-reading of the cluster, not the race nobody can prevent between
a read and the start that follows it:

- A change is due once `after` of our migrations have completed, and it LANDS at the executor's
  next read of the cluster (`host_status()` of any host, or `inventory()`), before that read is
  answered, so the read reports it. The executor's first `inventory()` is its snapshot before the
  run (the plan is checked against it), so nothing lands there.
- A change is POLITE, like a real scheduler: a boot or a foreign move lands only if it fits its
  host at that moment counting every domain there, every migration in flight into it, and every
  migration the executor has announced into it (`claim`, as a placement claim would be seen)
  but not yet started. Otherwise it is dropped, and the log says why. So a host can only be taken
  over its capacity by a migration start, which is what the executor answers for.
- A foreign migration lands in flight (counted on both hosts) and completes at the next read.
- Our migration of a domain that was stopped or deleted meanwhile fails when it ends; its
  destination half is held until then.

Every change of state, and every read, is appended to `events` with every host's usage at that
instant, so an independent checker can replay the run (tests/executor/live_checker.py). The world
is not thread-safe: the backend calls it under its lock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from executor.faults import Fault, FaultKind
from planner.domain.model import Cluster


@dataclass(frozen=True)
class HostUsage:
    memory_mib: int
    vcpus: int
    domains: frozenset[str]


class WorldEventKind(str, enum.Enum):
    READ = "read"  # the executor read a host (or the whole cluster: no host)
    STARTED = "started"  # one of our migrations started: the destination holds the VM from now
    REFUSED = "refused"  # one of our migrations was refused before it started
    ENDED = "ended"  # one of our migrations ended (`completed` or not)
    LANDED = "landed"  # a foreign change happened
    DROPPED = "dropped"  # a due foreign change could not happen (no room, no such domain, ...)
    NEVER_LANDED = "never-landed"  # the run ended before a foreign change was due or read
    FOREIGN_ENDED = "foreign-ended"  # a foreign migration completed
    VANISHED = "vanished"  # a `vanish` fault deleted a domain


@dataclass(frozen=True)
class WorldEvent:
    seq: int
    kind: WorldEventKind
    vm: str = ""
    source: str = ""
    destination: str = ""  # a read: the host read ("" for the whole cluster); a landed boot: its host
    change: FaultKind | None = None
    completed: bool = False
    detail: str = ""
    size: tuple[int, int] = (0, 0)  # a landed boot: the new domain's MiB and vCPUs
    usage: Mapping[str, HostUsage] = field(default_factory=dict)  # every host, just after the event

    def describe(self) -> str:
        what = self.change.value if self.change else ""
        both = self.source and self.destination
        where = f"{self.source}→{self.destination}" if both else self.source or self.destination
        words = [f"#{self.seq}", self.kind.value, what, self.vm, where,
                 "completed" if self.completed else "", self.detail]
        return " ".join(w for w in words if w)


@dataclass(frozen=True)
class _Flight:
    source: str
    destination: str
    read: int  # the read it landed at (foreign migrations complete at a later read)


class World:
    def __init__(self, cluster: Cluster, changes: Iterable[Fault] = ()) -> None:
        self._limits = {h.name: (h.usable_memory_mib, h.usable_vcpus) for h in cluster.hosts}
        self._sizes = {vm.name: (vm.memory_mib, vm.vcpus) for vm in cluster.vms}
        self._defined: dict[str, str] = cluster.placement
        self._stopped: set[str] = set()
        self._ours: dict[str, _Flight] = {}
        self._foreign: dict[str, _Flight] = {}
        self._claims: dict[str, str] = {}  # announced, not yet attempted: VM → destination
        self._started_unclaimed: set[str] = set()  # started before its announcement arrived
        self._pending = list(changes)
        self._reads = 0
        self.events: list[WorldEvent] = []

    # -- queries -------------------------------------------------------------------------------

    def defined(self) -> dict[str, str]:
        """Every domain → the host it is defined on (a migrating one: its source)."""
        return dict(self._defined)

    def running(self, vm: str) -> bool:
        return vm in self._defined and vm not in self._stopped

    def size(self, vm: str) -> tuple[int, int]:
        return self._sizes[vm]

    def usage(self, host: str, our_arrivals: bool = True) -> HostUsage:
        """What holds room on `host`; without `our_arrivals`, as a hypervisor that does not show an
        incoming domain of ours yet would report it (the room is held all the same)."""
        names = {vm for vm, where in self._defined.items() if where == host}
        flights = [*self._foreign.items(), *(self._ours.items() if our_arrivals else ())]
        names |= {vm for vm, flight in flights if flight.destination == host}
        return HostUsage(sum(self._sizes[v][0] for v in names), sum(self._sizes[v][1] for v in names),
                         frozenset(names))

    # -- our migrations ------------------------------------------------------------------------

    def claim(self, vm: str, destination: str) -> None:
        """The executor announced it will migrate `vm` into `destination` (before it starts)."""
        if vm in self._started_unclaimed:  # the announcement came after the start: nothing to hold
            self._started_unclaimed.discard(vm)
            return
        self._claims[vm] = destination

    def withdraw(self, vm: str) -> None:
        """The executor is done with `vm`'s step, whether or not it ever started."""
        self._claims.pop(vm, None)
        self._started_unclaimed.discard(vm)

    def refuse(self, vm: str, source: str, destination: str, reason: str) -> None:
        self._claims.pop(vm, None)
        self._log(WorldEventKind.REFUSED, vm, source, destination, detail=reason)

    def start_migration(self, vm: str, source: str, destination: str) -> str:
        """Start our migration, or say why the hypervisor refuses it ("" when it started)."""
        reason = self._start_refusal(vm, source)
        if reason:
            self.refuse(vm, source, destination, reason)
            return reason
        if self._claims.pop(vm, None) is None:
            self._started_unclaimed.add(vm)
        self._ours[vm] = _Flight(source, destination, self._reads)
        self._log(WorldEventKind.STARTED, vm, source, destination)
        return ""

    def end_migration(self, vm: str, succeed: bool, reason: str = "") -> str:
        """End our migration: it completes if `succeed` and the domain still runs on its source;
        returns why it did not ("" when it completed)."""
        flight = self._ours.pop(vm)
        if succeed:
            reason = self._start_refusal(vm, flight.source, migrating_ok=True)
        completed = succeed and not reason
        if completed:
            self._defined[vm] = flight.destination
        self._log(WorldEventKind.ENDED, vm, flight.source, flight.destination, completed=completed, detail=reason)
        return reason

    def remove(self, vm: str, why: str) -> None:
        """A `vanish` fault: the domain is gone (an in-flight migration of it fails when it ends)."""
        if vm in self._defined:
            del self._defined[vm]
            self._stopped.discard(vm)
            self._log(WorldEventKind.VANISHED, vm, detail=why)

    # -- reads and foreign changes -------------------------------------------------------------

    def read(self, host: str | None, completed: int, down: frozenset[str]) -> None:
        """The executor reads `host` (None: the whole cluster): foreign changes land first."""
        first = self._reads == 0 and host is None
        self._reads += 1
        self._finish_foreign()
        if not first:
            self._land_due(completed, down)
        self._log(WorldEventKind.READ, destination=host or "")

    def quiesce(self) -> None:
        """The run is over: foreign migrations complete, changes that never came due are logged."""
        self._reads += 1
        self._finish_foreign()
        for change in self._pending:
            self._log(WorldEventKind.NEVER_LANDED, change.vm, destination=change.host, change=change.kind,
                      detail=change.describe())
        self._pending.clear()

    def _finish_foreign(self) -> None:
        for vm, flight in list(self._foreign.items()):
            if flight.read < self._reads:
                del self._foreign[vm]
                if vm in self._defined:
                    self._defined[vm] = flight.destination
                self._log(WorldEventKind.FOREIGN_ENDED, vm, flight.source, flight.destination)

    def _land_due(self, completed: int, down: frozenset[str]) -> None:
        for change in [c for c in self._pending if c.after <= completed]:
            self._pending.remove(change)
            reason = self._why_not(change, down)
            if reason:
                self._log(WorldEventKind.DROPPED, change.vm, destination=change.host, change=change.kind,
                          detail=f"{change.describe()}: {reason}")
            else:
                self._land(change)

    def _land(self, change: Fault) -> None:
        vm = change.vm
        source = self._defined.get(vm, "")  # a boot has none
        destination = change.host if change.kind in (FaultKind.BOOT, FaultKind.FOREIGN_MOVE) else ""
        if change.kind is FaultKind.BOOT:
            self._sizes[vm] = (change.memory_mib, change.vcpus)
            self._defined[vm] = change.host
            self._stopped.discard(vm)
        elif change.kind is FaultKind.STOP:
            self._stopped.add(vm)
        elif change.kind is FaultKind.DELETE:
            del self._defined[vm]
            self._stopped.discard(vm)
        else:
            self._foreign[vm] = _Flight(source, change.host, self._reads)
        self._log(WorldEventKind.LANDED, vm, source, destination, change=change.kind,
                  size=(change.memory_mib, change.vcpus) if change.kind is FaultKind.BOOT else (0, 0))

    def _why_not(self, change: Fault, down: frozenset[str]) -> str:
        vm = change.vm
        if change.kind is FaultKind.BOOT:
            if vm in self._defined:
                return f"a domain named {vm} exists"
            return self._no_room(change.host, (change.memory_mib, change.vcpus), down)
        if vm not in self._defined:
            return f"no domain {vm}"
        if vm in self._foreign:
            return f"{vm} is in another tool's migration"
        if change.kind is FaultKind.STOP and vm in self._stopped:
            return f"{vm} is already shut off"
        if change.kind is FaultKind.FOREIGN_MOVE:
            if vm in self._ours:
                return f"{vm} is migrating"
            if vm in self._stopped:
                return f"{vm} is shut off (a live migration needs a running guest)"
            if self._defined[vm] == change.host:
                return f"{vm} is already on {change.host}"
            return self._no_room(change.host, self._sizes[vm], down)
        return ""

    def _no_room(self, host: str, size: tuple[int, int], down: frozenset[str]) -> str:
        if host not in self._limits or host in down:
            return f"host {host} unknown or unreachable"
        used = self.usage(host)
        claimed = [vm for vm, where in self._claims.items() if where == host and vm not in used.domains]
        memory = used.memory_mib + sum(self._sizes[v][0] for v in claimed) + size[0]
        vcpus = used.vcpus + sum(self._sizes[v][1] for v in claimed) + size[1]
        limit_memory, limit_vcpus = self._limits[host]
        if memory > limit_memory or vcpus > limit_vcpus:
            return f"no room on {host} ({memory}/{limit_memory} MiB, {vcpus}/{limit_vcpus} vCPUs with it)"
        return ""

    # -- internals -----------------------------------------------------------------------------

    def _start_refusal(self, vm: str, source: str, migrating_ok: bool = False) -> str:
        if self._defined.get(vm) != source:
            return f"domain {vm!r} not found on {source}"
        if vm in self._stopped:
            return f"domain {vm!r} is not running"
        if not migrating_ok and (vm in self._ours or vm in self._foreign):
            return f"domain {vm!r} has a migration job already"
        return ""

    def _log(self, kind: WorldEventKind, vm: str = "", source: str = "", destination: str = "",
             change: FaultKind | None = None, completed: bool = False, detail: str = "",
             size: tuple[int, int] = (0, 0)) -> None:
        usage = {host: self.usage(host) for host in self._limits}
        self.events.append(WorldEvent(len(self.events), kind, vm, source, destination, change, completed, detail,
                                      size, usage))
