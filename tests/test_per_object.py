"""PerObject: a value worked out once per object, dropped with the object; the usage of a cluster
as it runs is one."""

from __future__ import annotations

import gc

from benchmarks.tight_generator import generate_tight_cluster
from planner.domain.metrics import usage_by_host
from planner.domain.per_object import PerObject


class Owner:
    def __init__(self, size: int) -> None:
        self.size = size


def test_worked_out_once_per_object_and_separately_for_equal_ones() -> None:
    calls: list[int] = []
    doubled = PerObject(lambda owner: calls.append(owner.size) or [owner.size * 2])
    first, twin = Owner(3), Owner(3)

    value = doubled(first)

    assert doubled(first) is value and value == [6]
    assert doubled(twin) is not value and calls == [3, 3]


def test_dropped_with_its_object() -> None:
    doubled = PerObject(lambda owner: owner.size * 2)
    kept, dropped = Owner(1), Owner(2)
    doubled(kept), doubled(dropped)
    assert len(doubled) == 2

    del dropped
    gc.collect()

    assert len(doubled) == 1
    assert doubled(kept) == 2


def test_the_usage_of_a_cluster_as_it_runs_is_summed_once_and_handed_out_as_a_copy() -> None:
    cluster = generate_tight_cluster(10, 80, 0.8, 1)
    first = usage_by_host(cluster)
    first.pop(cluster.hosts[0].name)  # a caller's own dict

    again = usage_by_host(cluster)

    assert again == usage_by_host(cluster, dict(cluster.placement))
    assert again[cluster.hosts[1].name] is first[cluster.hosts[1].name]  # summed once
