"""Is a host back and healthy after its maintenance (`rebalance maintain`)?

Healthy means, checked cheapest first so that polling a host still down costs one connection
attempt:
1. its libvirtd accepts a connection within the timeout and reports its libvirt and hypervisor
   versions;
2. when the operator said the hook reboots the host (`boot_before` given) and the host has an
   `exec` prefix, its kernel boot id differs from the one read before the hook — a hook that
   returned before the reboot, or one that never rebooted, is not "back";
3. the doctor checks over the whole inventory show no FAIL that was not already failing in the
   baseline taken before maintenance began (compared by check name: a failure that predates the
   maintenance does not block it, "reach lab-b" failing now does).

libvirt is reached through cluster.collector only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cluster.bounded_call import within
from cluster.collector import close, is_connection_trouble, libvirt_module
from cluster.doctor import version_text
from cluster.doctor_checks import Check, Runner, Status, first_line, run_command
from cluster.doctor_run import run_doctor
from cluster.inventory import Inventory, InventoryHost
from planner.domain.errors import InputError

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
CONNECT_TIMEOUT_S = 10.0
_BOOT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Health:
    healthy: bool
    problems: tuple[str, ...]  # one line each, naming the host
    versions: str = ""  # "libvirt 9.0.0 QEMU 7.2.0" when read


def doctor_failures(checks: Sequence[Check]) -> dict[str, str]:
    """FAIL check name → its detail (the baseline, and what is failing now)."""
    return {c.name: c.detail for c in checks if c.status is Status.FAIL}


def boot_id(host: InventoryHost, run: Runner = run_command) -> str | None:
    """The host's kernel boot id (changes at every boot), read through its exec prefix; None
    without one or when it cannot be read."""
    return _read_boot_id(host, run)[0]


def _read_boot_id(host: InventoryHost, run: Runner) -> tuple[str | None, str]:
    """(boot id, "") or (None, why not)."""
    if not host.exec_prefix:
        return None, f"no `exec` for {host.name} in the inventory"
    result = run([*host.exec_prefix, "cat", BOOT_ID_PATH])
    if result.returncode != 0:
        return None, f"exit {result.returncode}: {first_line(result.stderr or result.stdout or 'no output')}"
    text = result.stdout.strip()
    if not _BOOT_ID.fullmatch(text):
        return None, f"not a boot id: {text[:60]!r}"
    return text, ""


def host_health(inventory: Inventory, host: str, baseline: Mapping[str, str], timeout_s: float,
                boot_before: str | None = None, run: Runner = run_command) -> Health:
    declared = _declared(inventory, host)
    try:
        versions = _versions(declared.uri, timeout_s)
    except Exception as error:
        if not is_connection_trouble(error):
            raise  # a bug, or libvirt-python missing: not a host that is still down
        return Health(False, (f"{host}: libvirtd not reachable: {first_line(error)}",))
    if boot_before is not None and declared.exec_prefix:
        now, why = _read_boot_id(declared, run)
        if now is None:
            return Health(False, (f"{host}: cannot read the boot id: {why}",), versions)
        if now == boot_before:
            return Health(False, (f"{host}: boot id unchanged ({now}): the hook did not reboot it",), versions)
    failing = doctor_failures(run_doctor(inventory, timeout_s, run))
    problems = tuple(f"{host}: new doctor failure: {name}: {detail}"
                     for name, detail in failing.items() if name not in baseline)
    return Health(not problems, problems, versions)


def _declared(inventory: Inventory, host: str) -> InventoryHost:
    for declared in inventory.hosts:
        if declared.name == host:
            return declared
    raise InputError("HOST", f"{host!r} is not a host of the inventory", inventory.source)


def _versions(uri: str, timeout_s: float) -> str:
    """One connection, its two version numbers, closed again — all within `timeout_s` (a daemon
    that accepts but never answers is not healthy either)."""
    module = libvirt_module()

    def read() -> str:
        connection = module.open(uri)
        try:
            return f"libvirt {version_text(connection.getLibVersion())} QEMU {version_text(connection.getVersion())}"
        finally:
            close(connection)

    return within(timeout_s, read, uri)


def wait_healthy(inventory: Inventory, host: str, baseline: Mapping[str, str], deadline_s: float,
                 poll_s: float = 2.0, boot_before: str | None = None, run: Runner = run_command,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 timeout_s: float = CONNECT_TIMEOUT_S) -> Health:
    """Poll `host` until it is healthy or `deadline_s` seconds (from now) have passed; the last
    Health either way. One poll may overrun the deadline by its own duration (a connection
    attempt of up to `timeout_s`, doctor's commands)."""
    return poll_until_healthy(lambda: host_health(inventory, host, baseline, timeout_s, boot_before, run),
                              deadline_s, poll_s, clock, sleep)


def poll_until_healthy(probe: Callable[[], Health], deadline_s: float, poll_s: float,
                       clock: Callable[[], float] = time.monotonic,
                       sleep: Callable[[float], None] = time.sleep) -> Health:
    """`probe` now, then every `poll_s` seconds, a last time at the deadline."""
    end = clock() + deadline_s
    while True:
        health = probe()
        remaining = end - clock()
        if health.healthy or remaining <= 0:
            return health
        sleep(min(poll_s, remaining))
