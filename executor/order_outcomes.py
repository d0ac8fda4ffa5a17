"""What the search of move orders answers: a safe order, a proof that none exists, or that it gave
up; with the furthest dead end it met, described in words a person can act on."""

from __future__ import annotations

from dataclasses import dataclass

from executor.steps import StepKind

_LISTED = 5  # VMs and hosts named in a message before "…"


@dataclass(frozen=True)
class Leg:
    """One migration: a plan's move, or one leg of a parking detour."""

    vm: str
    source: str
    destination: str
    memory_mib: int
    vcpus: int
    kind: StepKind
    extra: tuple[int, ...] = ()  # demand per extra named resource (executor/sizes.py)

    @property
    def size(self) -> tuple[int, ...]:
        return (self.memory_mib, self.vcpus, *self.extra)

    def moved(self, source: str, destination: str, kind: StepKind) -> "Leg":
        """The same VM on another leg."""
        return Leg(self.vm, source, destination, self.memory_mib, self.vcpus, kind, self.extra)

    def describe(self) -> str:
        size = f"{self.memory_mib} MiB, {self.vcpus} vCPUs"
        if self.kind is StepKind.UNPARK:
            return f"{self.vm} (parked on {self.source}, bound for {self.destination}, {size})"
        return f"{self.vm} ({self.source}→{self.destination}, {size})"


@dataclass(frozen=True)
class SafeOrder:
    """Legs in an order that keeps every host within capacity, one at a time."""

    legs: tuple[Leg, ...]


@dataclass(frozen=True)
class Blocked:
    """A host whose room the waiting moves cannot get, at a dead end of the search."""

    host: str
    memory_used: int
    memory_usable: int
    vcpus_used: int
    vcpus_usable: int
    waiting: tuple[Leg, ...]
    # Extra named resources in use, as (name, used, usable): listed only when the host has some.
    extra: tuple[tuple[str, int, int], ...] = ()

    def describe(self) -> str:
        names = ", ".join(leg.describe() for leg in self.waiting[:_LISTED]) + (" …" if len(self.waiting) > _LISTED else "")
        others = "".join(f", {used} of {usable} {name}" for name, used, usable in self.extra)
        return (f"{self.host} blocks: {self.memory_used} of {self.memory_usable} MiB and {self.vcpus_used} of "
                f"{self.vcpus_usable} vCPUs{others} in use, so {names} cannot move in")


@dataclass(frozen=True)
class DeadEnd:
    """The furthest state the search reached: how many of the plan's moves ran, and what blocks."""

    moves_done: int
    moves: int
    blocked: tuple[Blocked, ...]

    def describe(self) -> str:
        hosts = "; ".join(b.describe() for b in self.blocked[:_LISTED]) + ("; …" if len(self.blocked) > _LISTED else "")
        return f"after {self.moves_done} of {self.moves} moves: {hosts}"


@dataclass(frozen=True)
class NoOrder:
    """Proved: every order of the moves (with at most one detour per VM) gets stuck."""

    furthest: DeadEnd
    parking: bool  # whether some VM had a parking host to try at all

    def explain(self) -> str:
        detours = (", even with one parking detour per VM" if self.parking
                   else " (no host could take a parked VM)")
        return (f"this plan cannot be executed safely: every order of its moves gets stuck{detours}; "
                f"the furthest one stops {self.furthest.describe()}")


@dataclass(frozen=True)
class GaveUp:
    """The search ran out of budget: no safe order found, none proved impossible."""

    budget: int
    furthest: DeadEnd

    def explain(self) -> str:
        return (f"this plan was refused: the moves stall when started greedily, and the search of orders stopped "
                f"after {self.budget} states without finding a safe order or proving that none exists; "
                f"the furthest it got stops {self.furthest.describe()}")


Outcome = SafeOrder | NoOrder | GaveUp
