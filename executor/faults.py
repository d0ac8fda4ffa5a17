"""Faults the simulated backend can inject, and their YAML file (tests drive it through tests/harness.py).

    faults:
      - {kind: fail, vm: web-1}              # the migration of web-1 fails; it stays on its source
      - {kind: hang, vm: db-2}               # never converges: runs into the completion timeout
      - {kind: vanish, vm: tmp-3, after: 1}  # tmp-3 is deleted once 1 migration has completed
      - {kind: host-down, host: h4}          # h4 is unreachable (from the start: after 0)
      - {kind: crash, after: 2}              # the executor "dies" right after the 2nd migration completes

Foreign changes are made by someone else while the run goes on (see executor/sim_world.py for
when they land, and why they are polite):

      - {kind: boot, vm: new-1, host: h2, memory_mib: 4096, vcpus: 2, after: 1}  # a new guest starts on h2
      - {kind: stop, vm: web-1}              # web-1 is shut off: still defined, its memory stays reserved
      - {kind: delete, vm: tmp-3, after: 2}  # tmp-3 is destroyed and undefined
      - {kind: foreign-move, vm: db-2, host: h3}  # another tool live-migrates db-2 to h3
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.domain.checks import quote
from planner.domain.errors import InputError
from planner.formats.records import check_keys, expect_mapping, parse_list
from planner.formats.scenario import read_document


class FaultKind(str, enum.Enum):
    FAIL = "fail"
    HANG = "hang"
    VANISH = "vanish"
    HOST_DOWN = "host-down"
    CRASH = "crash"
    BOOT = "boot"
    STOP = "stop"
    DELETE = "delete"
    FOREIGN_MOVE = "foreign-move"


FOREIGN_CHANGES = frozenset({FaultKind.BOOT, FaultKind.STOP, FaultKind.DELETE, FaultKind.FOREIGN_MOVE})

_REQUIRED = {
    FaultKind.FAIL: ("vm",), FaultKind.HANG: ("vm",), FaultKind.VANISH: ("vm",), FaultKind.HOST_DOWN: ("host",),
    FaultKind.BOOT: ("vm", "host", "memory_mib", "vcpus"), FaultKind.STOP: ("vm",), FaultKind.DELETE: ("vm",),
    FaultKind.FOREIGN_MOVE: ("vm", "host"),
}


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    vm: str = ""
    host: str = ""
    after: int = 0  # active (a foreign change: due) once this many migrations have completed on the backend
    memory_mib: int = 0  # boot only: the new guest's size
    vcpus: int = 0

    def __post_init__(self) -> None:
        for name in ("after", "memory_mib", "vcpus"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(name, f"must be an integer ≥ 0, got {quote(value)}")
        for name in _REQUIRED.get(self.kind, ()):
            if not getattr(self, name):
                raise InputError(name, f"is required for a {self.kind.value} fault")
        if self.kind is not FaultKind.BOOT and (self.memory_mib or self.vcpus):
            raise InputError("memory_mib", f"only a boot gives a size; a {self.kind.value} fault takes the VM's own")

    @property
    def is_foreign_change(self) -> bool:
        return self.kind in FOREIGN_CHANGES

    def describe(self) -> str:
        words = [self.kind.value] + ([self.vm] if self.vm else [])
        if self.kind is FaultKind.BOOT:
            words.append(f"({self.memory_mib} MiB/{self.vcpus} vCPUs)")
        if self.host:
            words += ["to" if self.kind is FaultKind.FOREIGN_MOVE else "on", self.host]
        return " ".join(words + [f"after {self.after}"])


class SimulatedCrash(BaseException):
    """Stands for the executor process dying (kill -9, power loss): not an Exception, nothing catches it."""


def parse_faults(raw: Any) -> tuple[Fault, ...]:
    raw = expect_mapping(raw or {"faults": []})
    check_keys(raw, ("faults",), required=("faults",))
    return parse_list(raw["faults"] or [], "faults", _parse_fault)


def _parse_fault(raw: Any) -> Fault:
    raw = expect_mapping(raw)
    check_keys(raw, ("kind", "vm", "host", "after", "memory_mib", "vcpus"), required=("kind",))
    try:
        kind = FaultKind(raw["kind"])
    except ValueError:
        choices = ", ".join(k.value for k in FaultKind)
        raise InputError("kind", f"must be one of {choices}, got {quote(raw['kind'])}") from None
    return Fault(kind, str(raw.get("vm", "")), str(raw.get("host", "")), raw.get("after", 0),
                 raw.get("memory_mib", 0), raw.get("vcpus", 0))


def load_faults(path: str | Path) -> tuple[Fault, ...]:
    raw = read_document(path)
    try:
        return parse_faults(raw)
    except InputError as error:
        raise error.in_file(str(path)) from None
