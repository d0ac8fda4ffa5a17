"""Does a step fit its destination as the destination is right now?

The plan's ledger knows only the plan's VMs. The live host also holds whatever appeared since the
plan was read (a VM booted there, someone else's migration arriving, a shut-off guest whose memory
stays reserved) and this run's own migrations that are heading there but do not show up yet. A
migrating VM counts on its destination from its start, so all of that must fit together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from executor.hypervisor import HostStatus
from executor.steps import Step
from planner.domain.model import Host


@dataclass(frozen=True)
class RoomCheck:
    fits: bool
    reason: str = ""


def room_on(host: Host, live: HostStatus, heading_there: Iterable[Step], step: Step) -> RoomCheck:
    """`step` into `host`, given its live status and this run's migrations already heading there.

    A migration of ours whose VM the host already lists (its incoming half) is counted once, by
    the host. The step's own VM is always added: the host holds none of it before the start.
    When the backend cannot report usage, the ledger alone decides (it already said yes).
    """
    if live.memory_used_mib is None or live.vcpus_used is None:
        return RoomCheck(True)
    unseen = [s for s in heading_there if s.vm not in live.domains and s.index != step.index]
    memory = live.memory_used_mib + sum(s.memory_mib for s in unseen) + step.memory_mib
    vcpus = live.vcpus_used + sum(s.vcpus for s in unseen) + step.vcpus
    if memory <= host.usable_memory_mib and vcpus <= host.usable_vcpus:
        return RoomCheck(True)
    arriving = f", {len(unseen)} migration(s) of this run arriving" if unseen else ""
    return RoomCheck(False, f"no room on {host.name} now: {step.vm} needs {step.memory_mib} MiB/{step.vcpus} vCPUs, "
                            f"{live.memory_used_mib} MiB/{live.vcpus_used} vCPUs held by {len(live.domains)} "
                            f"domain(s){arriving}, of {host.usable_memory_mib} MiB/{host.usable_vcpus} usable")
