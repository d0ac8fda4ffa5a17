"""A cluster whose CPU loads a test sets round by round, measured through the real collector with
its sampler replaced (libvirt faked at the same seam as tests/test_collect_command.py), and
collections stamped at chosen times for the history store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

import cluster.demand_measure as demand_measure
import rebalance.collect_command as collect_command
from cluster.collector import Collection, DomainSample, HostSample, collect
from cluster.inventory import Inventory, InventoryHost, load_inventory
from planner.domain.measurement import Measurement


@dataclass
class FakeCluster:
    """Hosts a and b (2 cores each); `loads` maps VM name → (host, milli-cores); `used` the memory
    a VM's balloon reports (MiB), if any. `intervals` records each sampling interval asked for."""

    loads: dict[str, tuple[str, int]] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)
    intervals: list[float] = field(default_factory=list)
    on_sample: Callable[[], None] = lambda: None

    def sampler(self, host: InventoryHost, interval_s: float) -> HostSample:
        self.intervals.append(interval_s)
        self.on_sample()
        guests = tuple(DomainSample(uuid_of(name), name, 1, 256, load, True)
                       for name, (where, load) in sorted(self.loads.items()) if where == host.name)
        used = {uuid_of(name): mib for name, mib in self.used.items() if self.loads[name][0] == host.name}
        return HostSample(host.name, 2, 4096, 0.1, guests, used)

    def collect(self, inventory: Inventory, at: datetime | None = None) -> Collection:
        collection = collect(inventory, 0.1, 5.0, False, sampler=self.sampler)
        if at is None:
            return collection
        return replace(collection, cluster=replace(collection.cluster, measured=Measurement(at, 1.0)))


def uuid_of(name: str) -> str:
    return f"uuid-{name}"


def write_inventory(path: Path) -> Path:
    path.write_text(yaml.safe_dump({"hosts": [{"name": "a"}, {"name": "b"}]}), encoding="utf-8")
    return path


def inventory(tmp_path: Path) -> Inventory:
    return load_inventory(write_inventory(tmp_path / "hosts.yaml"))


@contextmanager
def faked(monkeypatch: pytest.MonkeyPatch, fake: FakeCluster) -> Iterator[FakeCluster]:
    """Every command's collection (collect, plan --inventory, run) samples `fake`."""
    def collect_fake(inventory: Inventory, interval_s: float = 1.0, timeout_s: float = 30.0,
                     skip_unreachable: bool = False, **_: Any) -> Collection:
        return collect(inventory, interval_s, timeout_s, skip_unreachable, sampler=fake.sampler)

    monkeypatch.setattr(demand_measure, "collect", collect_fake)
    monkeypatch.setattr(collect_command, "collect", collect_fake)
    yield fake
