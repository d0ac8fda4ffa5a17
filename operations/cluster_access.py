"""Where `run` and `apply` reach the live cluster: the one seam between the workflow and libvirt.

`run_site` (for `rebalance run`) and `apply_target` (for `rebalance apply`) are module-level
factories, called through this module, so a test can put a simulated cluster in their place
(tests/harness.py) without any option or environment variable in the product that could switch a
real run to a fake backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from cluster.collector import close, collect, connect
from cluster.doctor_checks import first_line
from cluster.demand_measure import Measuring, measure_for_planning
from cluster.insecure_control import refuse_insecure_control
from cluster.inventory import load_inventory
from executor.config import ExecutorConfig
from executor.hypervisor import Hypervisor
from executor.libvirt_driver import LibvirtBackend
from executor.libvirt_power import power_off, power_on
from operations.run_request import RunSource
from operations.trusted_cluster import trusted_cluster
from planner.domain.errors import InputError
from planner.domain.model import Cluster
from planner.domain.plan import Plan

PRESENCE_INTERVAL_S = 0.2  # the leftover check needs which domains are defined, not their load


class RunSite(Protocol):
    """The cluster a nightly run acts on, and the clock it goes by."""

    def host_names(self) -> tuple[str, ...]:
        """The hosts the run may touch, known before anything is measured (the lock's scope)."""

    def measure(self) -> tuple[Cluster, Sequence[str]]:
        """The cluster as it is now, and warnings about what could not be measured."""

    def backend(self, plan: Plan, config: ExecutorConfig) -> Hypervisor:
        """What runs the plan's migrations."""

    def now(self) -> datetime:
        """The time, with its zone (windows are local hours)."""


class ApplyTarget(Protocol):
    """The cluster `apply` may act on: its hosts (the lock's scope), warnings, and its backend."""

    @property
    def host_names(self) -> tuple[str, ...]: ...

    @property
    def warnings(self) -> tuple[str, ...]: ...

    def backend(self, config: ExecutorConfig) -> Hypervisor: ...


def controllable_hosts(inventory_path: str, allow_insecure: bool) -> tuple[str, ...]:
    """The inventory's hosts, after refusing insecure control connections: asked before the lock is
    taken, a host cordoned or anything connects."""
    inventory = load_inventory(inventory_path)
    refuse_insecure_control(inventory, allow_insecure)
    return tuple(h.name for h in inventory.hosts)


def wall_clock() -> datetime:
    return datetime.now().astimezone()


@dataclass(frozen=True)
class LiveSite:
    """The hosts of an inventory, measured and migrated over libvirt."""

    inventory: str | None
    skip_unreachable: bool = False
    allow_insecure: bool = False
    measuring: Measuring = field(default_factory=Measuring)

    def host_names(self) -> tuple[str, ...]:
        if not self.inventory:
            return ()  # measure() says what is missing, once the window says the run goes on
        return controllable_hosts(self.inventory, self.allow_insecure)

    def measure(self) -> tuple[Cluster, Sequence[str]]:
        if not self.inventory:
            raise InputError("--inventory", "say which cluster to run on: --inventory FILE")
        measuring = replace(self.measuring, skip_unreachable=self.skip_unreachable)
        measured = measure_for_planning(load_inventory(self.inventory), measuring)  # the one collector path
        return measured.cluster, measured.collection.warnings

    def backend(self, plan: Plan, config: ExecutorConfig) -> Hypervisor:
        return LibvirtBackend(plan.cluster.host_by_name, config)

    def now(self) -> datetime:
        return wall_clock()


def run_site(source: RunSource) -> RunSite:
    return LiveSite(source.inventory, source.skip_unreachable, source.allow_insecure, source.measuring)


def apply_target(plan: Plan, plan_file: str, inventory_path: str, config: ExecutorConfig,
                 allow_insecure: bool = False) -> ApplyTarget:
    """The trusted cluster: the plan checked against the inventory and the live hosts (InputError, exit 2,
    when they disagree)."""
    return trusted_cluster(plan, plan_file, inventory_path, config, allow_insecure)


@dataclass(frozen=True)
class Reading:
    """The cluster measured for planning, what could not be measured, and the demand line."""

    cluster: Cluster
    warnings: tuple[str, ...]
    demand_line: str = ""


class DrainSite(Protocol):
    """The cluster `drain` measures before it plans, and checks for leftovers after it applied."""

    def host_names(self) -> tuple[str, ...]:
        """The inventory's hosts, known before anything is cordoned or measured."""

    def measure(self) -> Reading:
        """As `plan --inventory` measures it (the same collector and demand path)."""

    def defined_on(self, hosts: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Every domain still defined on each host (running, paused or shut off), by name."""

    def power_off(self, host: str, vm: str, timeout_s: float) -> str:
        """Ask the guest to shut down and wait: "" once it is off, else why not (never forced)."""

    def power_on(self, host: str, vm: str) -> str:
        """Start the guest again where it is defined: "" once it runs, else why not."""


@dataclass(frozen=True)
class LiveDrainSite:
    inventory: str
    measuring: Measuring
    allow_insecure: bool = False

    def host_names(self) -> tuple[str, ...]:
        return controllable_hosts(self.inventory, self.allow_insecure)

    def measure(self) -> Reading:
        inventory = load_inventory(self.inventory)
        measured = measure_for_planning(inventory, self.measuring)  # the one collector path
        return Reading(measured.cluster, measured.collection.warnings, measured.line)

    def defined_on(self, hosts: Sequence[str]) -> dict[str, tuple[str, ...]]:
        # The samples, not the snapshot: a shut-off domain the snapshot leaves out (its host's
        # reserve_inactive_memory is false) still makes the host not empty.
        inventory = load_inventory(self.inventory)
        collection = collect(inventory, PRESENCE_INTERVAL_S, self.measuring.timeout_s, skip_unreachable=False)
        return {s.name: tuple(sorted(d.name for d in s.domains)) for s in collection.samples if s.name in hosts}

    def power_off(self, host: str, vm: str, timeout_s: float) -> str:
        return self._on(host, lambda connection: power_off(connection, vm, timeout_s))

    def power_on(self, host: str, vm: str) -> str:
        return self._on(host, lambda connection: power_on(connection, vm))

    def _on(self, host: str, act: Callable[[Any], str]) -> str:
        declared = next(h for h in load_inventory(self.inventory).hosts if h.name == host)
        try:
            connection = connect(declared.uri, self.measuring.timeout_s)
        except Exception as error:  # noqa: BLE001 — libvirt's words are the reason
            return f"cannot reach {host}: {first_line(error)}"
        try:
            return act(connection)
        except Exception as error:  # noqa: BLE001
            return first_line(error)
        finally:
            close(connection)


def drain_site(inventory: str, measuring: Measuring, allow_insecure: bool = False) -> DrainSite:
    return LiveDrainSite(inventory, measuring, allow_insecure)
