"""The lab as the executor-safety tests see it: every copy of every guest, the memory each host
holds (a migrating guest counts on both hosts, its paused incoming half included), a sampler of
the peak per host while apply runs, and the check every such test ends with: each guest exactly
once, no host over the capacity its inventory gives it."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import libvirt
import yaml

from executor.journal import JournalEntry, JournalEvent
from lab.control import HOSTS, Lab
from tests.lab.helpers import PLAN_TIME_LIMIT, journal, rebalance, write_yaml

SAMPLE_EVERY_S = 0.2
FAT_MIB = 64  # a fat guest: 48 MiB of random RAM, so a migration at a few MiB/s takes seconds


def custom_inventory(lab: Lab, path: Path, memory_mib: dict[str, int] | None = None,
                     states: dict[str, str] | None = None) -> Path:
    """The lab's inventory with some hosts given another memory capacity or state."""
    lab.inventory(path)
    document = yaml.safe_load(path.read_text())
    for host in document["hosts"]:
        if memory_mib and host["name"] in memory_mib:
            host["memory_mib"] = memory_mib[host["name"]]
        if states and host["name"] in states:
            host["state"] = states[host["name"]]
    return write_yaml(path, document)


def capacities(inventory: Path) -> dict[str, int]:
    return {h["name"]: h["memory_mib"] for h in yaml.safe_load(inventory.read_text())["hosts"]}


def make_plan(inventory: Path, plan_file: Path, *options: Any) -> dict[str, Any]:
    result = rebalance("plan", "--inventory", inventory, *options, *PLAN_TIME_LIMIT, "-o", plan_file)
    assert result.exit_code == 0, result.output
    return json.loads(plan_file.read_text())


def moves_of(plan: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {m["vm"]: (m["source"], m["destination"]) for m in plan["moves"]}


def pinned(tmp_path: Path, where: dict[str, str], drain: tuple[str, ...] = ()) -> Path:
    """A policy that puts each named VM on its host (a hard rule the planner must meet)."""
    groups = [{"name": f"pin-{vm}", "vms": [vm], "hosts": [host]} for vm, host in where.items()]
    document: dict[str, Any] = {"rules": {"host_groups": groups}}
    if drain:
        document["drain_hosts"] = list(drain)
    return write_yaml(tmp_path / "policy.yaml", document)


def domains(lab: Lab, host: str) -> dict[str, tuple[int, bool, int]]:
    """name → (libvirt state, active, memory MiB) of every domain defined or running on `host`."""
    connection = lab.connect(host)
    try:
        found = {}
        for domain in connection.listAllDomains(0):
            try:
                found[domain.name()] = (domain.state()[0], bool(domain.isActive()), domain.maxMemory() // 1024)
            except libvirt.libvirtError:  # it went away while listed (a migration ended)
                continue
        return found
    finally:
        connection.close()


def copies(lab: Lab) -> dict[str, list[tuple[str, int, bool]]]:
    """Guest → every (host, state, active) where some copy of it is defined or running."""
    found: dict[str, list[tuple[str, int, bool]]] = {}
    for host in HOSTS:
        for name, (state, active, _) in domains(lab, host).items():
            found.setdefault(name, []).append((host, state, active))
    return found


def settled(lab: Lab) -> bool:
    """No migration half anywhere: every guest defined on one host and running there."""
    return all(len(where) == 1 and where[0][1] == libvirt.VIR_DOMAIN_RUNNING for where in copies(lab).values())


def used_mib(lab: Lab, host: str) -> int:
    """Memory of the guests active on `host`, a paused incoming migration's half included."""
    return sum(memory for _, active, memory in domains(lab, host).values() if active)


def assert_each_guest_once_within_capacity(lab: Lab, guests: set[str], capacity: dict[str, int]) -> None:
    lab.wait_for(lambda: settled(lab), 60, "every migration to settle")
    where = copies(lab)
    assert set(where) == guests, where
    assert all(len(hosts) == 1 for hosts in where.values()), where
    placement = lab.placement()
    assert sorted(placement) == sorted(guests) and all(len(h) == 1 for h in placement.values()), placement
    for host in HOSTS:
        assert used_mib(lab, host) <= capacity[host], (host, domains(lab, host))


class MemorySampler:
    """Every host's used memory every 0.2 s in a thread: the peak each host reached during a run."""

    def __init__(self, lab: Lab, hosts: tuple[str, ...] = HOSTS) -> None:
        self.lab, self.hosts = lab, hosts
        self.peak: dict[str, int] = dict.fromkeys(hosts, 0)
        self.peak_domains: dict[str, dict[str, Any]] = {h: {} for h in hosts}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for host in self.hosts:
                try:
                    seen = domains(self.lab, host)
                except libvirt.libvirtError:
                    continue  # a daemon that does not answer for a moment: the next sample counts
                used = sum(memory for _, active, memory in seen.values() if active)
                if used > self.peak[host]:
                    self.peak[host], self.peak_domains[host] = used, seen
            self.samples += 1
            self._stop.wait(SAMPLE_EVERY_S)

    @contextmanager
    def running(self) -> Iterator[MemorySampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(30)

    def assert_within(self, capacity: dict[str, int]) -> None:
        assert self.samples > 0
        for host in self.hosts:
            assert self.peak[host] <= capacity[host], (host, self.peak[host], self.peak_domains[host])


def wait_for_journal(plan_file: Path, process: subprocess.Popen[str], match: Callable[[JournalEntry], bool],
                     timeout_s: float = 30) -> JournalEntry:
    deadline = time.monotonic() + timeout_s
    while True:
        found = [e for e in journal(plan_file) if match(e)]
        if found:
            return found[0]
        assert process.poll() is None, f"apply ended early ({process.returncode}): {process.communicate()[0]}"
        assert time.monotonic() < deadline, f"no such journal entry within {timeout_s} s: {journal(plan_file)}"
        time.sleep(0.05)


def started(vm: str, kind: str | None = None) -> Callable[[JournalEntry], bool]:
    return lambda e: e.event is JournalEvent.STEP_STARTED and e.vm == vm and (kind is None or e.kind == kind)


def arriving(lab: Lab, host: str, vm: str) -> bool:
    """`host` holds the paused incoming half of `vm`'s migration."""
    return domains(lab, host).get(vm, (0, False, 0))[0] == libvirt.VIR_DOMAIN_PAUSED


def end(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.communicate(timeout=30)
