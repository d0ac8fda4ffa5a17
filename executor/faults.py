"""Faults the simulated backend can inject, and their YAML file (for `apply --backend simulated`).

    faults:
      - {kind: fail, vm: web-1}              # the migration of web-1 fails; it stays on its source
      - {kind: hang, vm: db-2}               # never converges: runs into the completion timeout
      - {kind: vanish, vm: tmp-3, after: 1}  # web-3 is deleted once 1 migration has completed
      - {kind: host-down, host: h4}          # h4 is unreachable (from the start: after 0)
      - {kind: crash, after: 2}              # the executor "dies" right after the 2nd migration completes
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.errors import InputError
from planner.records import check_keys, expect_mapping, parse_list
from planner.scenario import read_document


class FaultKind(str, enum.Enum):
    FAIL = "fail"
    HANG = "hang"
    VANISH = "vanish"
    HOST_DOWN = "host-down"
    CRASH = "crash"


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    vm: str = ""
    host: str = ""
    after: int = 0  # active once this many migrations have completed on the backend

    def __post_init__(self) -> None:
        needs = {FaultKind.FAIL: "vm", FaultKind.HANG: "vm", FaultKind.VANISH: "vm", FaultKind.HOST_DOWN: "host"}
        field = needs.get(self.kind)
        if field and not getattr(self, field):
            raise InputError(field, f"is required for a {self.kind.value} fault")
        if isinstance(self.after, bool) or not isinstance(self.after, int) or self.after < 0:
            raise InputError("after", f"must be an integer ≥ 0, got {self.after!r}")


class SimulatedCrash(BaseException):
    """Stands for the executor process dying (kill -9, power loss): not an Exception, nothing catches it."""


def parse_faults(raw: Any) -> tuple[Fault, ...]:
    raw = expect_mapping(raw or {"faults": []})
    check_keys(raw, ("faults",), required=("faults",))
    return parse_list(raw["faults"] or [], "faults", _parse_fault)


def _parse_fault(raw: Any) -> Fault:
    raw = expect_mapping(raw)
    check_keys(raw, ("kind", "vm", "host", "after"), required=("kind",))
    try:
        kind = FaultKind(raw["kind"])
    except ValueError:
        choices = ", ".join(k.value for k in FaultKind)
        raise InputError("kind", f"must be one of {choices}, got {raw['kind']!r}") from None
    return Fault(kind, str(raw.get("vm", "")), str(raw.get("host", "")), raw.get("after", 0))


def load_faults(path: str | Path) -> tuple[Fault, ...]:
    raw = read_document(path)
    try:
        return parse_faults(raw)
    except InputError as error:
        raise error.in_file(str(path)) from None
