"""Recorded cordons applied to a cluster that was just read, and to a plan about to be applied.

The inventory's or scenario's `state:` is the declared default; a recorded cordon overrides it
for placement: an active host becomes disabled (keeps its VMs, takes none). A host already in
maintenance or disabled takes no VMs either, so it keeps its state. Each override is a line the
command prints, so a cordon never changes a plan silently. The planner stays pure: it only sees
host states.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from operations.cordons import Cordon
from planner.domain.errors import InputError
from planner.domain.model import Cluster, HostState
from planner.domain.plan import Plan


@dataclass(frozen=True)
class Overlaid:
    cluster: Cluster
    lines: tuple[str, ...]  # one per cordoned host of the cluster: `lab-a: cordoned by ...: takes no VMs`


def overlay_cordons(cluster: Cluster, cordons: Mapping[str, Cordon]) -> Overlaid:
    if not any(host.name in cordons for host in cluster.hosts):
        return Overlaid(cluster, ())
    hosts, lines = [], []
    for host in cluster.hosts:
        cordon = cordons.get(host.name)
        if cordon is None:
            hosts.append(host)
            continue
        if host.state is HostState.ACTIVE:
            hosts.append(replace(host, state=HostState.DISABLED))
            lines.append(f"{host.name}: {cordon.describe()}: takes no VMs")
        else:
            hosts.append(host)
            lines.append(f"{host.name}: {cordon.describe()}: takes no VMs (declared {host.state.value}, kept)")
    return Overlaid(replace(cluster, hosts=tuple(hosts)), tuple(lines))


def check_plan_against_cordons(plan: Plan, cordons: Mapping[str, Cordon]) -> None:
    """Refuse (exit 2, before anything moves) a plan that moves a VM onto a host cordoned since."""
    for index, move in enumerate(plan.moves):
        cordon = cordons.get(move.destination)
        if cordon is not None:
            raise InputError(f"moves[{index}].destination",
                             f"{move.destination} is {cordon.describe()} since the plan was made: it takes no VMs "
                             f"({move.vm} would move onto it); uncordon it or make a new plan")
