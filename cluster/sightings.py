"""Every domain as the hosts report it → where the snapshot puts it, and the room it holds elsewhere.

One domain (one UUID) can be seen on two hosts: while it migrates (the destination holds the
paused incoming half; or one host was sampled before the switch-over and the other after) or when
a definition was left behind on another host. It is never an error: the domain goes in the
snapshot once, on the host where it runs as the source, unmigratable so that no plan moves it mid
flight, and on every other host a placeholder holds its room — Nova's placement does the same
with a migration's second allocation. The design's invariant "a migrating VM counts on both
source and destination" then holds in the snapshot the planner and the executor start from.

A placeholder is an unmigratable VM with a derived name no domain of this collection has, no
UUID (the UUID is the real VM's) and the label PLACEHOLDER_LABEL naming the VM it stands for.

Two domains with different UUIDs and one name are a real conflict: an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from cluster.domain_presence import DomainSample, Presence
from planner.domain.errors import RebalanceError

PLACEHOLDER_LABEL = "rebalance/holds-room-for"  # on a placeholder: the name of the VM whose room it holds
PLACEHOLDER_INFIX = "--room-on-"  # placeholder name: <vm>--room-on-<host>
MAX_BASE_NAME = 240  # names may have 253 characters: room left for a "-<n>" that makes one unique


class DomainConflict(RebalanceError):
    """Two different domains (UUIDs) share one name: the cluster cannot tell them apart."""


@dataclass(frozen=True)
class Sighting:
    host: str
    domain: DomainSample
    reserves_inactive: bool = True  # the host's inventory `reserve_inactive_memory`


@dataclass(frozen=True)
class Placed:
    """A domain as it goes into the snapshot on `host`: the VM itself, or a placeholder for one."""

    host: str
    domain: DomainSample
    holds_room_for: str = ""  # "" = the domain itself


@dataclass(frozen=True)
class Placement:
    placed: tuple[Placed, ...]
    notes: tuple[str, ...]  # what an operator should know: migrations in flight, shut-off domains left out


def place(sightings: Iterable[Sighting]) -> Placement:
    """`sightings` in inventory order (it breaks ties, so the snapshot does not depend on timing)."""
    sightings = tuple(sightings)
    groups = _by_domain(sightings)
    _check_names(groups)
    taken = {s.domain.name for s in sightings}
    placed: list[Placed] = []
    notes: list[str] = []
    for group in groups:
        group_placed, group_notes = _place_one(group, taken)
        placed += group_placed
        notes += group_notes
    return Placement(tuple(placed), tuple(notes))


def _by_domain(sightings: Sequence[Sighting]) -> list[list[Sighting]]:
    groups: dict[str, list[Sighting]] = {}
    for sighting in sightings:
        key = sighting.domain.uuid or f"name:{sighting.domain.name}"
        groups.setdefault(key, []).append(sighting)
    return list(groups.values())


def _check_names(groups: Sequence[Sequence[Sighting]]) -> None:
    owner: dict[str, Sighting] = {}
    for group in groups:
        for sighting in group:
            first = owner.setdefault(sighting.domain.name, sighting)
            if first.domain.uuid != sighting.domain.uuid:
                raise DomainConflict(
                    f"two different domains are named {sighting.domain.name!r}: {first.domain.uuid} on {first.host} "
                    f"and {sighting.domain.uuid} on {sighting.host} (rename or undefine one)")


def _rank(sighting: Sighting) -> int:
    """Lower is more the domain's home: the migration's source, then any running copy, then an
    arriving one, then a mere definition."""
    domain = sighting.domain
    if domain.presence is Presence.RUNNING:
        return 0 if domain.migrating_out else 1
    return 2 if domain.presence is Presence.INCOMING else 3


def _place_one(group: Sequence[Sighting], taken: set[str]) -> tuple[list[Placed], list[str]]:
    holding = [s for s in group if s.domain.active or s.reserves_inactive]
    notes = [f"domain {s.domain.name} is defined, shut off, on {s.host} but left out of the snapshot "
             f"(reserve_inactive_memory is false there): the host is not empty" for s in group if s not in holding]
    if not holding:
        return [], notes
    home = min(holding, key=_rank)  # min keeps the first of equals: inventory order
    situation = _situation(home, group)
    placed = [Placed(home.host, _resident(home.domain, situation))]
    for other in holding:
        if other is not home:
            placed.append(Placed(other.host, _placeholder(home.domain, other, situation, taken), home.domain.name))
    if _in_flight(group):
        notes.append(f"VM {home.domain.name} is {situation}: counted on every host it is on, not moved by a plan")
    return placed, notes


def _in_flight(group: Sequence[Sighting]) -> bool:
    domains = [s.domain for s in group]
    return (sum(d.active for d in domains) > 1 or any(d.migrating_out for d in domains)
            or any(d.presence is Presence.INCOMING for d in domains))


def _situation(home: Sighting, group: Sequence[Sighting]) -> str:
    """Why the domain must stay where it is, or "" when nothing about its presence pins it."""
    defined_hosts = _distinct(s.host for s in group if not s.domain.active and s is not home)
    if _in_flight(group):  # then the home runs: it outranks every arriving or defined copy
        active_hosts = _distinct([home.host, *(s.host for s in group if s.domain.active)])
        if len(active_hosts) > 1:
            return f"migrating between {_and(active_hosts)}"
        if home.domain.migrating_out:
            return f"migrating away from {home.host}"
        return f"migrating into {home.host}"
    if not home.domain.active:
        also = f" (also defined on {_and(defined_hosts)})" if defined_hosts else ""
        return f"shut off on {home.host}{also}"
    if defined_hosts:
        return f"also defined, shut off, on {_and(defined_hosts)}"
    return ""


def _resident(domain: DomainSample, situation: str) -> DomainSample:
    if not situation:
        return domain
    reason = "; ".join(r for r in (situation, domain.unmigratable_reason) if r)
    load = domain.cpu_load_millicores if domain.active else 0
    return replace(domain, migratable=False, unmigratable_reason=reason, cpu_load_millicores=load)


def _placeholder(vm: DomainSample, other: Sighting, situation: str, taken: set[str]) -> DomainSample:
    name = _free_name(f"{vm.name}{PLACEHOLDER_INFIX}{other.host}", taken)
    load = other.domain.cpu_load_millicores if other.domain.active else 0
    return replace(other.domain, uuid="", name=name, cpu_load_millicores=load, migratable=False,
                   unmigratable_reason=f"holds the room of VM {vm.name} on {other.host}: it is {situation}",
                   migrating_out=False)


def _free_name(wanted: str, taken: set[str]) -> str:
    wanted = wanted[:MAX_BASE_NAME]
    name, suffix = wanted, 1
    while name in taken:
        suffix += 1
        name = f"{wanted}-{suffix}"
    taken.add(name)
    return name


def _distinct(hosts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(hosts))


def _and(hosts: Sequence[str]) -> str:
    return hosts[0] if len(hosts) == 1 else f"{', '.join(hosts[:-1])} and {hosts[-1]}"
