"""Property: for thousands of random start/target placements, tight ones included, the schedule the
executor would follow never takes a host over a hard limit, and every VM ends on its target. On small
ones, a plan is refused exactly when an exhaustive search finds no safe order (no false refusals)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from executor.capacity import CapacityLedger
from executor.errors import UnsafePlanError
from executor.graph import order_moves
from executor.schedule import Limits, simulate
from planner.domain.model import VM, Cluster, Host, HostState
from tests.executor.checker import violations
from tests.executor.exhaustive import safe_order_exists

RESERVED = 512


@dataclass(frozen=True)
class Case:
    cluster: Cluster
    target: dict[str, str]
    spare: bool  # a host with room for every VM at once: a safe order must always be found


@st.composite
def cases(draw: st.DrawFn, max_hosts: int = 6, max_vms: int = 14) -> Case:
    hosts = draw(st.integers(2, max_hosts))
    count = draw(st.integers(1, max_vms))
    memory = draw(st.lists(st.integers(1, 8), min_size=count, max_size=count))
    vcpus = draw(st.lists(st.integers(1, 4), min_size=count, max_size=count))
    start = draw(st.lists(st.integers(0, hosts - 1), min_size=count, max_size=count))
    target = draw(st.lists(st.integers(0, hosts - 1), min_size=count, max_size=count))
    slack = draw(st.lists(st.sampled_from([0, 0, 0, 1, 2, 8]), min_size=hosts, max_size=hosts))
    starts_over = draw(st.lists(st.booleans(), min_size=hosts, max_size=hosts))
    spare = draw(st.booleans())
    disabled = draw(st.lists(st.booleans(), min_size=hosts, max_size=hosts))  # takes its planned VMs, parks none
    # Sometimes a third hard resource (an extra named one, disk IOPS), held on both ends like memory.
    iops = draw(st.one_of(st.none(), st.lists(st.integers(0, 6), min_size=count, max_size=count)))

    def load(placement: list[int], values: list[int], host: int) -> int:
        return sum(v for v, h in zip(values, placement) if h == host)

    host_list = []
    for h in range(hosts):
        # Capacity fits the target (plus slack); unless drawn to start over capacity, it fits the start too.
        memory_cap = load(target, memory, h) + slack[h]
        vcpu_cap = load(target, vcpus, h) + slack[h]
        iops_cap = load(target, iops, h) + slack[h] if iops else 0
        if not starts_over[h]:
            memory_cap = max(memory_cap, load(start, memory, h))
            vcpu_cap = max(vcpu_cap, load(start, vcpus, h))
            iops_cap = max(iops_cap, load(start, iops, h)) if iops else 0
        state = HostState.DISABLED if disabled[h] else HostState.ACTIVE
        host_list.append(_host(f"h{h}", max(memory_cap, 1), max(vcpu_cap, 1), state,
                               {"disk_iops": iops_cap} if iops else {}))
    if spare:
        host_list.append(_host("spare", sum(memory), sum(vcpus), resources={"disk_iops": sum(iops)} if iops else {}))
    vms = [VM(f"v{i}", f"h{start[i]}", vcpus[i], memory[i], resources={"disk_iops": iops[i]} if iops else {})
           for i in range(count)]
    return Case(Cluster(host_list, vms), {f"v{i}": f"h{target[i]}" for i in range(count)}, spare)


def _host(name: str, memory: int, vcpus: int, state: HostState = HostState.ACTIVE,
          resources: dict[str, int] | None = None) -> Host:
    return Host(name, cpus=vcpus, memory_mib=memory + RESERVED, reserved_memory_mib=RESERVED, cpu_allocation_ratio=1.0,
                state=state, resources=resources or {})


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), parallel=st.integers(1, 4), per_host=st.integers(1, 2),
       durations=st.lists(st.integers(1, 5), min_size=14, max_size=14))
def test_schedule_never_exceeds_capacity_and_reaches_the_target(case: Case, parallel: int, per_host: int,
                                                                durations: list[int]) -> None:
    start = case.cluster.placement
    try:
        ordering = order_moves(case.cluster, start, case.target)
    except UnsafePlanError as error:
        assert not case.spare, f"a spare host could have parked any VM, yet: {error}"
        # Proved impossible, or the bounded search of orders gave up (it says so, in other words).
        assert "cannot be executed safely" in str(error) or "without finding a safe order" in str(error)
        event("refused as unsafe" if "cannot be executed safely" in str(error) else "search gave up")
        return
    event(f"parking detours: {min(len(ordering.parked), 3)}")
    ledger = CapacityLedger.from_placement(case.cluster, start)
    timeline = simulate(ordering, ledger, Limits(parallel, per_host, per_host),
                        lambda step: durations[int(step.vm[1:])])
    assert not timeline.stalled, "the dispatcher stalled on a graph that promised room"
    assert len(timeline.entries) == len(ordering.steps)
    assert violations(case.cluster, start, case.target, timeline) == []


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(max_hosts=4, max_vms=6), parallel=st.integers(1, 4),
       durations=st.lists(st.integers(1, 5), min_size=6, max_size=6))
def test_refused_exactly_when_no_safe_order_exists(case: Case, parallel: int, durations: list[int]) -> None:
    start = case.cluster.placement
    exists = safe_order_exists(case.cluster, start, case.target)
    try:
        ordering = order_moves(case.cluster, start, case.target)
    except UnsafePlanError as error:
        assert not exists, f"refused although a safe order exists: {error}"
        assert "cannot be executed safely" in str(error)
        event("refused, and the exhaustive search agrees")
        return
    assert exists, "ordered a plan that the exhaustive search says has no safe order"
    event(f"ordered; parking detours: {min(len(ordering.parked), 2)}")
    timeline = simulate(ordering, CapacityLedger.from_placement(case.cluster, start), Limits(parallel, 1, 1),
                        lambda step: durations[int(step.vm[1:])])
    assert not timeline.stalled
    assert violations(case.cluster, start, case.target, timeline) == []
