"""How one libvirt domain is present on one host: living there, arriving, or only defined.

A host holds room for every domain defined on it, not only for the running ones: a paused guest
keeps its memory, the destination of a live migration holds the incoming guest's memory from the
first byte, and Nova keeps a shut-off instance's memory reserved so it can start again. So the
collector lists every domain, and this module says how each one is there. Pure: the numbers are
libvirt's stable ABI values, so it works (and is tested) without libvirt.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cluster.domain_metadata import NovaInstance
from cluster.vm_labels import SourcedLabel, VMLabelRule, merged_labels

DOMAIN_PAUSED, DOMAIN_SHUTOFF = 3, 5  # virDomainState
PAUSED_MIGRATION = 2  # virDomainPausedReason: paused for a migration (either end of it)
PAUSED_STARTING_UP = 11  # virDomainPausedReason: the destination's half before the migration stream starts
ARRIVING_REASONS = (PAUSED_MIGRATION, PAUSED_STARTING_UP)
JOB_OPERATION_MIGRATION_OUT = 5  # virDomainJobOperation, "operation" in jobStats()


class Presence(str, enum.Enum):
    RUNNING = "running"  # active and living here: running, paused by someone, or the source of a migration
    INCOMING = "incoming"  # the destination's paused half of a live migration
    SHUT_OFF = "shut off"  # defined here but not running: no CPU load, its memory reserved (as Nova does)


@dataclass(frozen=True)
class DomainSample:
    uuid: str
    name: str
    vcpus: int
    memory_mib: int
    cpu_load_millicores: int
    migratable: bool
    unmigratable_reason: str = ""
    presence: Presence = Presence.RUNNING
    migrating_out: bool = False  # this host is the source of a migration job of this domain right now
    # From the domain's <metadata> (cluster.domain_metadata): labels written by `rebalance label`,
    # Nova's identity when Nova manages it, and what could not be read there (one line).
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    nova: NovaInstance | None = None
    metadata_problem: str = ""

    @property
    def active(self) -> bool:
        return self.presence is not Presence.SHUT_OFF

    def labels_by(self, rules: tuple[VMLabelRule, ...]) -> dict[str, SourcedLabel]:
        """Its labels with their sources: Nova's < the inventory's rules < its own metadata."""
        nova = self.nova or NovaInstance()
        return merged_labels(self.name, nova.name, nova.labels, rules, self.labels)


def presence_of(state: int, reason: int, migrating_out: bool) -> Presence:
    """Source and destination both show "paused for migration" during the final switch-over; only
    the job says which end is which (the source runs an outgoing migration job)."""
    if state == DOMAIN_SHUTOFF:
        return Presence.SHUT_OFF
    if is_arriving_state(state, reason) and not migrating_out:
        return Presence.INCOMING
    return Presence.RUNNING


def is_arriving_state(state: int, reason: int) -> bool:
    """How a migration's destination half looks in `virDomainGetState`: paused "starting up", then
    "for migration". The collector and the executor's live reading both go by this one definition;
    a domain that is merely being started looks the same for an instant, and is then held where it
    is for that one snapshot, which is the safe side."""
    return state == DOMAIN_PAUSED and reason in ARRIVING_REASONS


def is_migrating_out(job_stats: Mapping[str, Any]) -> bool:
    """From `domain.jobStats()`: an outgoing migration job is running (the destination has none)."""
    return job_stats.get("operation") == JOB_OPERATION_MIGRATION_OUT and job_stats.get("type") != 0


def is_incoming(stats: Mapping[str, Any]) -> bool:
    """The look of a migration's destination half in `getAllDomainStats` (without the job's word)."""
    return is_arriving_state(int(stats.get("state.state", 0)), int(stats.get("state.reason", 0)))
