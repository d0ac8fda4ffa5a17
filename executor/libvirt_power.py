"""Powering a guest off and on again where it is, for VMs that cannot live-migrate off a host going
into maintenance (`--unmigratable shutdown`).

Off is the guest's own shutdown: the ACPI power button, as `virsh shutdown` presses it, then a
wait until the domain is inactive. It is never forced: a guest that ignores the button keeps
running and the caller stops. On is `virsh start` of the persistent definition left on the host.
Every libvirt call is bounded, so a hung daemon cannot hang the command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from executor.libvirt_connections import bounded

CALL_TIMEOUT_S = 30.0
POLL_S = 0.5


def power_off(connection: Any, name: str, timeout_s: float, clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep) -> str:
    """"" once `name` is off (or was), else why it is not (it still runs)."""
    domain = bounded(CALL_TIMEOUT_S, f"lookup {name}", lambda: connection.lookupByName(name))
    if not bounded(CALL_TIMEOUT_S, f"state of {name}", domain.isActive):
        return ""
    bounded(CALL_TIMEOUT_S, f"shutdown {name}", domain.shutdown)
    deadline = clock() + timeout_s
    while clock() < deadline:
        sleep(POLL_S)
        if not bounded(CALL_TIMEOUT_S, f"state of {name}", domain.isActive):
            return ""
    return (f"{name} did not power off within {timeout_s:g} s of the ACPI power button (it still runs; "
            f"shut it down from inside the guest, or move it yourself)")


def power_on(connection: Any, name: str) -> str:
    """"" once `name` runs (or did), else why it does not."""
    domain = bounded(CALL_TIMEOUT_S, f"lookup {name}", lambda: connection.lookupByName(name))
    if bounded(CALL_TIMEOUT_S, f"state of {name}", domain.isActive):
        return ""
    bounded(CALL_TIMEOUT_S, f"start {name}", domain.create)
    return ""
