"""The `rebalance` CLI against a simulated cluster: the tests' stand-in for libvirt.

The product reaches a live cluster only through operations.cluster_access (`run_site` for `run`,
`apply_target` for `apply`). `simulated(...)` puts a simulated cluster in their place for the
length of a with block:

- `run`: the file given as --inventory is read as a snapshot of the simulated cluster; after the
  run the VMs' new places are written back into it, so the next run sees what this one did. With
  `now`, the run's clock starts there and stands still until migrations run, then advances by
  their simulated durations: window tests are exact and never wait.
- `apply`: the simulated backend starts from the plan's own snapshot; nothing is checked against
  an inventory (the lock covers the plan's hosts).
- `drain`: the file given as --inventory is read as a snapshot; its leftover check sees the VMs
  where the simulated applies of the same block left them.

In-process (click's CliRunner):

    result = invoke("run", "--inventory", snapshot, "--state-dir", state, now="2026-11-26T04:59:57+01:00")

In a process of its own (signals), the same hooks and then rebalance.cli.main:

    python -m tests.harness [--now TIME] [--faults FILE] [--sim-bandwidth MIB_S] [--sim-time-scale X] run ...
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from executor.config import ExecutorConfig
from executor.faults import load_faults
from executor.simulated import DEFAULT_BANDWIDTH_MIB_S, SimulatedBackend
from operations import cluster_access
from operations.cluster_access import wall_clock
from operations.run_request import RunSource
from planner.domain.errors import InputError
from planner.domain.model import Cluster
from planner.domain.plan import Plan
from planner.formats.inputs import load_planning_input
from planner.formats.scenario import cluster_record, write_json
from rebalance.cli import cli
from rebalance.cli import main as rebalance_main


@dataclass(frozen=True)
class Simulation:
    faults: str | Path | None = None  # faults file (YAML) for the simulated backend
    bandwidth_mib_s: float = DEFAULT_BANDWIDTH_MIB_S
    time_scale: float = 0.0  # real seconds per simulated second (0: instant)
    now: datetime | None = None  # when a run starts (None: the wall clock)

    def backend(self, cluster: Cluster) -> SimulatedBackend:
        faults = load_faults(str(self.faults)) if self.faults else ()
        return SimulatedBackend(cluster, self.bandwidth_mib_s, self.time_scale, faults)


def parse_now(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is local time."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.astimezone()


class SimulatedClock:
    """`start`, then `start` + the simulated duration of the migrations completed; the wall clock
    without a start."""

    def __init__(self, start: datetime | None) -> None:
        self.start = start
        self.elapsed_s: Callable[[], float] = lambda: 0.0

    def __call__(self) -> datetime:
        if self.start is None:
            return wall_clock()
        return self.start + timedelta(seconds=self.elapsed_s())


class SimulatedSite:
    """operations.cluster_access.RunSite over a snapshot file."""

    def __init__(self, snapshot: Path | None, simulation: Simulation) -> None:
        self.snapshot = snapshot
        self.simulation = simulation
        self.clock = SimulatedClock(simulation.now)
        self.ran: tuple[Cluster, SimulatedBackend] | None = None

    def host_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self._cluster().hosts) if self.snapshot else ()

    def measure(self) -> tuple[Cluster, Sequence[str]]:
        if self.snapshot is None:
            raise InputError("--inventory", "say which cluster to run on: --inventory FILE")
        return self._cluster(), ()

    def backend(self, plan: Plan, config: ExecutorConfig) -> SimulatedBackend:
        backend = self.simulation.backend(plan.cluster)
        memory = {vm.name: vm.memory_mib for vm in plan.cluster.vms}
        self.clock.elapsed_s = lambda: sum(backend.estimate_s(memory[vm])
                                           for vm, _, _ in list(backend.completed_migrations))
        self.ran = (plan.cluster, backend)
        return backend

    def now(self) -> datetime:
        return self.clock()

    def write_back(self) -> None:
        """The VMs' places after the run, into the snapshot: the simulated cluster's new state."""
        if self.ran is not None and self.snapshot is not None:
            cluster, backend = self.ran
            write_json(self.snapshot, cluster_record(cluster.with_placement(backend.placement())))

    def _cluster(self) -> Cluster:
        return load_planning_input(None, str(self.snapshot), None).cluster


@dataclass(frozen=True)
class SimulatedTarget:
    """operations.cluster_access.ApplyTarget: the plan's own cluster, simulated."""

    cluster: Cluster
    simulation: Simulation
    host_names: tuple[str, ...] = ()  # the runner then locks the plan's hosts
    warnings: tuple[str, ...] = ()
    made: list[SimulatedBackend] | None = None  # every backend handed out, for a drain's leftover check

    def backend(self, config: ExecutorConfig) -> SimulatedBackend:
        backend = self.simulation.backend(self.cluster)
        if self.made is not None:
            self.made.append(backend)
        return backend


@dataclass(frozen=True)
class SimulatedDrainSite:
    """operations.cluster_access.DrainSite over a snapshot file: the VMs where the applies left them."""

    snapshot: Path
    applied: list[SimulatedBackend]
    powered_off: list[tuple[str, str]] = field(default_factory=list)
    powered_on: list[tuple[str, str]] = field(default_factory=list)

    def host_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self._cluster().hosts)

    def measure(self) -> cluster_access.Reading:
        return cluster_access.Reading(self._cluster(), ())

    def defined_on(self, hosts: Sequence[str]) -> dict[str, tuple[str, ...]]:
        cluster = self._cluster()
        return {h: tuple(sorted(v.name for v in cluster.vms_by_host[h])) for h in hosts}

    def power_off(self, host: str, vm: str, timeout_s: float) -> str:
        """A fault to inject: a VM labelled `acpi: ignores` never powers off."""
        if self._cluster().vm_by_name[vm].labels.get("acpi") == "ignores":
            return f"{vm} did not power off within {timeout_s:g} s"
        self.powered_off.append((host, vm))
        return ""

    def power_on(self, host: str, vm: str) -> str:
        self.powered_on.append((host, vm))
        return ""

    def _cluster(self) -> Cluster:
        cluster = load_planning_input(None, str(self.snapshot), None).cluster
        for backend in self.applied:
            cluster = cluster.with_placement(backend.placement())
        return cluster


@contextmanager
def simulated(simulation: Simulation = Simulation()) -> Iterator[list[SimulatedSite]]:
    """Within the block, `run` and `apply` act on simulated clusters; yields the run sites made."""
    sites: list[SimulatedSite] = []

    def run_site(source: RunSource) -> SimulatedSite:
        sites.append(SimulatedSite(Path(source.inventory) if source.inventory else None, simulation))
        return sites[-1]

    applied: list[SimulatedBackend] = []

    def apply_target(plan: Plan, plan_file: str, inventory_path: str, config: ExecutorConfig,
                     allow_insecure: bool = False) -> SimulatedTarget:
        return SimulatedTarget(plan.cluster, simulation, made=applied)

    def drain_site(inventory: str, measuring: object, allow_insecure: bool = False) -> SimulatedDrainSite:
        return SimulatedDrainSite(Path(inventory), applied)

    saved = cluster_access.run_site, cluster_access.apply_target, cluster_access.drain_site
    cluster_access.run_site, cluster_access.apply_target = run_site, apply_target  # type: ignore[assignment]
    cluster_access.drain_site = drain_site  # type: ignore[assignment]
    try:
        yield sites
    finally:
        cluster_access.run_site, cluster_access.apply_target, cluster_access.drain_site = saved
        for site in sites:
            site.write_back()


def invoke(*args: str | Path, faults: str | Path | None = None, now: str | None = None,
           bandwidth_mib_s: float = DEFAULT_BANDWIDTH_MIB_S, time_scale: float = 0.0, input: str | None = None,
           env: dict[str, str] | None = None, catch_exceptions: bool = True) -> Result:
    """`rebalance ARGS` in-process on a simulated cluster."""
    simulation = Simulation(faults, bandwidth_mib_s, time_scale, parse_now(now) if now else None)
    with simulated(simulation):
        return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=env,
                                  catch_exceptions=catch_exceptions)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.harness",
                                     description="rebalance on a simulated cluster (for tests)")
    parser.add_argument("--now", type=parse_now, help="when a run starts (ISO 8601)")
    parser.add_argument("--faults", help="faults file (YAML) for the simulated backend")
    parser.add_argument("--sim-bandwidth", type=float, default=DEFAULT_BANDWIDTH_MIB_S, help="MiB/s")
    parser.add_argument("--sim-time-scale", type=float, default=0.0, help="real seconds per simulated second")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the rebalance command and its arguments")
    arguments = parser.parse_args(argv)
    simulation = Simulation(arguments.faults, arguments.sim_bandwidth, arguments.sim_time_scale, arguments.now)
    sys.argv = ["rebalance", *arguments.command]
    with simulated(simulation):
        rebalance_main()


if __name__ == "__main__":
    main()
