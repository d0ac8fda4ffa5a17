"""One step of an executed plan: a single live migration, possibly one leg of a parking detour."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class StepKind(str, enum.Enum):
    """A plain move, or the two legs of a detour that breaks a cycle (swap, rotation, full hosts)."""

    MOVE = "move"
    PARK = "park"  # source → parking host, to free room on the source
    UNPARK = "unpark"  # parking host → the plan's destination
    RETURN = "return"  # parking host → back to its source, when its destination never took it


@dataclass(frozen=True)
class Step:
    index: int
    vm: str
    uuid: str
    source: str
    destination: str
    memory_mib: int
    vcpus: int
    kind: StepKind = StepKind.MOVE
    extra: tuple[int, ...] = ()  # demand per extra named resource, in Cluster.resource_names order

    @property
    def size(self) -> tuple[int, ...]:
        """What the VM holds on a host: memory, vCPUs, extra resources (executor/sizes.py)."""
        return (self.memory_mib, self.vcpus, *self.extra)

    @property
    def is_detour(self) -> bool:
        return self.kind is not StepKind.MOVE

    def describe(self) -> str:
        tag = "" if self.kind is StepKind.MOVE else f" [{self.kind.value}]"
        return f"{self.vm} {self.source}→{self.destination}{tag}"
