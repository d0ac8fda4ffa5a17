"""What a doctor check is, and how doctor runs a command on a host (shared by cluster.doctor and
cluster.doctor_probes)."""

from __future__ import annotations

import enum
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cluster.inventory import InventoryHost

COMMAND_TIMEOUT_S = 20.0


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str = ""


Runner = Callable[[Sequence[str]], CommandResult]


def run_command(argv: Sequence[str]) -> CommandResult:
    # stdin closed: a probe that meets a password prompt (SASL, ssh) must fail, not wait for a user
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return CommandResult(127, "", str(error))
    return CommandResult(done.returncode, done.stdout, done.stderr)


def unchecked(name: str, host: InventoryHost) -> Check:
    """What doctor cannot see is a warning saying so, never a pass."""
    return Check(name, Status.WARN, f"not checked: no `exec` for {host.name} in the inventory",
                 f"give {host.name} an exec prefix (e.g. exec: ssh root@{host.name}) so doctor can run commands there")


def first_line(error: BaseException | str) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
