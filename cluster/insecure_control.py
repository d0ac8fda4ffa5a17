"""Plain TCP control connections are refused for commands that change the cluster.

`qemu+tcp` with the classic `auth_tcp = "none"` lets anyone who reaches the port control the
hypervisor, and nothing on the wire is encrypted. Reading a cluster over it (collect, plan, doctor)
only warns; `apply` and `run`, which migrate VMs, refuse it unless the operator says so, either on
the command line (`--allow-insecure`) or per host in the inventory (`allow_insecure_tcp: true`).
"""

from __future__ import annotations

from planner.domain.errors import InputError
from cluster.inventory import Inventory


def refuse_insecure_control(inventory: Inventory, allowed: bool) -> None:
    """InputError naming the first host whose control URI is plain TCP and not allowed."""
    if allowed:
        return
    for index, host in enumerate(inventory.hosts):
        if host.uri.startswith("qemu+tcp:") and not host.allow_insecure_tcp:
            raise InputError(f"hosts[{index}].uri", f"{host.name} is controlled over plain qemu+tcp (unauthenticated, "
                                                    f"unencrypted): use qemu+tls or qemu+ssh, or accept it with "
                                                    f"--allow-insecure or allow_insecure_tcp: true",
                             inventory.source)
