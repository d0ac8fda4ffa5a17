"""What the hosts hold right now, read over libvirt: where a VM runs, a host's residents, and the
room its domains take. Every read is bounded by the call timeout; a host that does not answer in
time is unreachable for that reading, never a reason to wait.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from cluster.domain_presence import is_arriving_state
from executor.hypervisor import HostStatus, LiveState, LiveVM
from executor.libvirt_connections import Connections, HostUnresponsive, bounded


def is_arriving(domain: Any) -> bool:
    """The domain is the destination half of a migration still under way."""
    try:
        state, reason = domain.state()
    except Exception:
        return False
    return is_arriving_state(state, reason)


class LiveReader:
    def __init__(self, connections: Connections, reserve_inactive: Mapping[str, bool]) -> None:
        self._connections = connections
        self._timeout_s = connections.config.call_timeout_s
        self._reserve_inactive = dict(reserve_inactive)  # host → shut-off guests keep their memory there

    def locate(self, vm: str) -> str | None:
        """The host running `vm`; raises HostUnresponsive when it is on no host that answered and some
        host did not answer (then nobody can say it is gone)."""
        silent = []
        for name in self._connections.hosts:
            try:
                if self.runs_on_or_raise(name, vm):
                    return name
            except HostUnresponsive as error:
                silent.append(str(error))
        if silent:
            raise HostUnresponsive("; ".join(silent))
        return None

    def runs_on_or_raise(self, host: str, vm: str) -> bool:
        def ask() -> bool:
            try:
                domain = self._connections.shared(host).lookupByName(vm)
                return bool(domain.isActive()) and not is_arriving(domain)
            except Exception as error:
                if isinstance(error, HostUnresponsive):
                    raise
                return False
        return bool(bounded(self._timeout_s, f"ask {host} about {vm}", ask))

    def host_status(self, host: str) -> HostStatus:
        try:
            held = bounded(self._timeout_s, f"list {host}", lambda: self._held(host))
        except Exception as error:
            return HostStatus(host, False, reason=str(error))
        return HostStatus(host, True, sum(d.memory_mib for d in held), sum(d.vcpus for d in held),
                          domains=frozenset(d.name for d in held))

    def inventory(self) -> LiveState:
        found: dict[str, LiveVM] = {}
        shadowed: list[LiveVM] = []
        unreachable = set()
        for name, listed in self._list_every_host().items():
            if isinstance(listed, BaseException):
                unreachable.add(name)
                continue
            for domain in listed:
                earlier = found.get(domain.name)
                if earlier is None or (domain.active and not earlier.active):  # a running copy is where it is
                    found[domain.name] = domain
                    domain = earlier
                if domain is not None:
                    shadowed.append(domain)
        return LiveState(found, frozenset(unreachable), tuple(shadowed))

    def _list_every_host(self) -> dict[str, list[LiveVM] | BaseException]:
        """Every host's residents, read at once: a silent host costs one call timeout, not one each."""
        results: dict[str, list[LiveVM] | BaseException] = {}

        def read(host: str) -> None:
            try:
                results[host] = bounded(self._timeout_s, f"list {host}", lambda: self._residents(host))
            except Exception as error:  # noqa: BLE001 — the host is unreachable for this picture
                results[host] = error

        threads = [threading.Thread(target=read, args=(name,), daemon=True) for name in self._connections.hosts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()  # each returns within its own bound
        return {name: results[name] for name in self._connections.hosts}

    def _domains(self, host: str) -> list[tuple[LiveVM, bool]]:
        """Every domain defined on the host as (figures, is the destination half of a migration)."""
        found = []
        for domain in self._connections.shared(host).listAllDomains(0):  # active and inactive
            info = domain.info()  # [state, maxMem KiB, memory KiB, vCPUs, cpuTime]
            active = bool(domain.isActive())
            found.append((LiveVM(domain.name(), host, info[1] // 1024, info[3], active),
                          active and is_arriving(domain)))
        return found

    def _residents(self, host: str) -> list[LiveVM]:
        """Guests that live here: running or shut off, but not another host's guest arriving."""
        return [vm for vm, incoming in self._domains(host) if not incoming]

    def _held(self, host: str) -> list[LiveVM]:
        """Domains that hold room here: running, arriving, and shut off while their memory stays reserved."""
        reserve = self._reserve_inactive.get(host, True)
        return [vm for vm, _ in self._domains(host) if vm.active or reserve]
