"""Ordering when the greedy replay deadlocks itself (issue 19, case 9 "false refusals"): the complete
search over step order finds the safe order, parks only when no direct order exists, and refuses only
with a proof, naming the hosts that block."""

from __future__ import annotations

import pytest

from executor.capacity import CapacityLedger
from executor.errors import UnsafePlanError
from executor.graph import order_moves
from executor.order_search import GaveUp, Leg, NoOrder, SafeOrder, find_safe_order
from executor.schedule import Limits, simulate
from executor.steps import StepKind
from planner.domain.model import Cluster, HostState
from tests.executor.builders import host, vm
from tests.executor.checker import violations
from tests.executor.exhaustive import safe_order_exists

GIB = 1024


def tight_host(name: str, memory_gib: int, vcpus: int, **extra: object) -> object:
    return host(name, memory_gib, cpus=vcpus, cpu_allocation_ratio=1.0, **extra)


def schedule_is_safe(cluster: Cluster, target: dict[str, str], limits: Limits = Limits(3, 2, 2)) -> None:
    ordering = order_moves(cluster, cluster.placement, target)
    timeline = simulate(ordering, CapacityLedger.from_placement(cluster, cluster.placement), limits,
                        lambda s: s.memory_mib / GIB)
    assert not timeline.stalled
    assert len(timeline.entries) == len(ordering.steps)
    assert violations(cluster, cluster.placement, target, timeline) == []


# Two hosts, h1 full on vCPUs (8 of 8), five moves. Started largest first, the replay runs v1 and v2
# and then v0 (each fits when it starts), after which v3 needs 5 GiB on h0 (3 left) and v4 needs 3 vCPUs on
# h1 (2 left): stuck, with nowhere to park. Yet v3, v4, v1, v2, v0 in that order is safe.
CASE_9 = Cluster(
    [tight_host("h0", 23, 9), tight_host("h1", 21, 8)],
    [vm("v0", "h1", 6, 1), vm("v1", "h1", 8, 3), vm("v2", "h0", 8, 2), vm("v3", "h1", 5, 4), vm("v4", "h0", 6, 3)],
)
CASE_9_TARGET = {"v0": "h0", "v1": "h0", "v2": "h1", "v3": "h0", "v4": "h1"}


def test_case_9_two_hosts_one_full_on_vcpus_five_moves_is_ordered_directly() -> None:
    assert safe_order_exists(CASE_9, CASE_9.placement, CASE_9_TARGET)  # the brute force agrees it is safe
    ordering = order_moves(CASE_9, CASE_9.placement, CASE_9_TARGET)
    assert ordering.parked == ()
    assert sorted(s.vm for s in ordering.steps) == ["v0", "v1", "v2", "v3", "v4"]
    schedule_is_safe(CASE_9, CASE_9_TARGET)
    schedule_is_safe(CASE_9, CASE_9_TARGET, Limits(1, 1, 1))


def test_greedy_deadlock_with_three_moves_is_ordered_directly() -> None:
    # v5 (6 GiB) goes first and takes h1's memory that v0 needed; v2 cannot enter h0 before v0 leaves.
    cluster = Cluster([tight_host("h0", 24, 14), tight_host("h1", 12, 6)],
                      [vm("v0", "h0", 5, 4), vm("v1", "h0", 8, 3), vm("v2", "h1", 3, 2), vm("v3", "h0", 4, 3),
                       vm("v4", "h0", 1, 3), vm("v5", "h0", 6, 1)])
    target = {"v0": "h1", "v2": "h0", "v5": "h1"}
    ordering = order_moves(cluster, cluster.placement, target)
    assert [s.vm for s in ordering.steps] == ["v0", "v2", "v5"]  # the only safe order
    schedule_is_safe(cluster, target)


def test_swap_with_no_room_anywhere_names_both_blocking_hosts() -> None:
    cluster = Cluster([tight_host("a", 8, 4), tight_host("b", 8, 4), tight_host("c", 4, 4)],
                      [vm("v1", "a", 8, 1), vm("v2", "b", 8, 1)])
    with pytest.raises(UnsafePlanError, match="cannot be executed safely") as raised:
        order_moves(cluster, cluster.placement, {"v1": "b", "v2": "a"})
    message = str(raised.value)
    assert "a blocks: 8192 of 8192 MiB and 1 of 4 vCPUs in use" in message
    assert "b blocks: 8192 of 8192 MiB and 1 of 4 vCPUs in use" in message
    assert "v1 (a→b, 8192 MiB, 1 vCPUs)" in message and "v2 (b→a, 8192 MiB, 1 vCPUs)" in message


def test_refusal_names_the_host_full_on_vcpus_after_the_moves_that_can_run() -> None:
    # v3 leaves for c (disabled: it takes v3 as planned but parks nothing); then a (1 vCPU free) and b
    # (full on vCPUs) wait for each other, each move needing 2 vCPUs.
    cluster = Cluster([tight_host("a", 16, 3), tight_host("b", 16, 2), tight_host("c", 16, 8, state=HostState.DISABLED)],
                      [vm("v1", "a", 2, 2), vm("v2", "b", 2, 2), vm("v3", "a", 1, 1)])
    target = {"v1": "b", "v2": "a", "v3": "c"}
    assert not safe_order_exists(cluster, cluster.placement, target)
    with pytest.raises(UnsafePlanError, match="cannot be executed safely") as raised:
        order_moves(cluster, cluster.placement, target)
    message = str(raised.value)
    assert "b blocks: 2048 of 16384 MiB and 2 of 2 vCPUs in use" in message
    assert "a blocks: 2048 of 16384 MiB and 2 of 3 vCPUs in use" in message
    assert "after 1 of 3 moves" in message


def leg(vm_name: str, source: str, destination: str, memory_mib: int, vcpus: int = 1) -> Leg:
    return Leg(vm_name, source, destination, memory_mib, vcpus, StepKind.MOVE)


def replays_safely(outcome: SafeOrder, capacity: dict[str, tuple[int, int]], usage: dict[str, tuple[int, int]]) -> bool:
    used = {h: list(u) for h, u in usage.items()}
    for hop in outcome.legs:
        if any(used[hop.destination][k] + need > capacity[hop.destination][k]
               for k, need in enumerate((hop.memory_mib, hop.vcpus))):
            return False
        for k, need in enumerate((hop.memory_mib, hop.vcpus)):
            used[hop.destination][k] += need
            used[hop.source][k] -= need
    return True


SWAP_LEGS = [leg("v1", "a", "b", 8), leg("v2", "b", "a", 8)]
SWAP_USAGE = {"a": (8, 1), "b": (8, 1), "c": (0, 0)}


def test_search_parks_only_when_no_direct_order_exists() -> None:
    capacity = {"a": (8, 4), "b": (8, 4), "c": (8, 4)}
    outcome = find_safe_order(SWAP_LEGS, capacity, SWAP_USAGE, ["a", "b", "c"])
    assert isinstance(outcome, SafeOrder)
    assert [g.kind for g in outcome.legs].count(StepKind.PARK) == 1
    assert replays_safely(outcome, capacity, SWAP_USAGE)
    roomy = {"a": (16, 4), "b": (8, 4), "c": (8, 4)}  # a can hold both for a moment: no detour needed
    direct = find_safe_order(SWAP_LEGS, roomy, SWAP_USAGE, ["a", "b", "c"])
    assert isinstance(direct, SafeOrder)
    assert [(g.vm, g.kind) for g in direct.legs] == [("v2", StepKind.MOVE), ("v1", StepKind.MOVE)]


def test_search_never_parks_on_a_host_that_takes_no_new_vms() -> None:
    capacity = {"a": (8, 4), "b": (8, 4), "c": (8, 4)}
    outcome = find_safe_order(SWAP_LEGS, capacity, SWAP_USAGE, ["a", "b"])
    assert isinstance(outcome, NoOrder)
    assert {b.host for b in outcome.furthest.blocked} == {"a", "b"}
    assert "cannot be executed safely" in outcome.explain()


def case_9_legs() -> tuple[list[Leg], dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    legs = [leg(v.name, v.host, CASE_9_TARGET[v.name], v.memory_mib, v.vcpus) for v in CASE_9.vms]
    capacity = {h.name: (h.usable_memory_mib, h.usable_vcpus) for h in CASE_9.hosts}
    usage = {h: (sum(v.memory_mib for v in CASE_9.vms if v.host == h), sum(v.vcpus for v in CASE_9.vms if v.host == h))
             for h in capacity}
    return legs, capacity, usage


def test_search_that_runs_out_of_budget_says_it_did_not_prove_anything() -> None:
    legs, capacity, usage = case_9_legs()
    outcome = find_safe_order(legs, capacity, usage, [], budget=1)
    assert isinstance(outcome, GaveUp)
    message = outcome.explain()
    assert "cannot be executed safely" not in message
    assert "without finding a safe order or proving that none exists" in message
    found = find_safe_order(legs, capacity, usage, [])
    assert isinstance(found, SafeOrder) and replays_safely(found, capacity, usage)


def many_groups(copies: int) -> tuple[list[Leg], dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    """`copies` of case 9 on their own hosts (no detours there), a swap of two full hosts, and a parking host p."""
    legs, capacity, usage = [], {"p": (8 * GIB, 4)}, {"p": (0, 0)}
    base_legs, base_capacity, base_usage = case_9_legs()
    for k in range(copies):
        legs += [Leg(f"{g.vm}_{k}", f"{g.source}_{k}", f"{g.destination}_{k}", g.memory_mib, g.vcpus, g.kind) for g in base_legs]
        capacity.update({f"{h}_{k}": c for h, c in base_capacity.items()})
        usage.update({f"{h}_{k}": u for h, u in base_usage.items()})
    legs += [leg("x", "s", "t", 8 * GIB), leg("y", "t", "s", 8 * GIB)]
    capacity.update({"s": (8 * GIB, 4), "t": (8 * GIB, 4)})
    usage.update({"s": (8 * GIB, 1), "t": (8 * GIB, 1)})
    return legs, capacity, usage


def test_only_the_group_that_needs_it_takes_a_detour() -> None:
    legs, capacity, usage = many_groups(3)
    outcome = find_safe_order(legs, capacity, usage, ["p"])
    assert isinstance(outcome, SafeOrder) and replays_safely(outcome, capacity, usage)
    assert [g.vm for g in outcome.legs if g.kind is StepKind.PARK] in (["x"], ["y"])


def test_an_impossible_swap_among_many_contested_groups_is_proved_not_given_up() -> None:
    legs, capacity, usage = many_groups(30)
    capacity["p"] = (4 * GIB, 4)  # too small for either VM of the swap
    outcome = find_safe_order(legs, capacity, usage, ["p"])
    assert isinstance(outcome, NoOrder)
    assert {b.host for b in outcome.furthest.blocked} == {"s", "t"}
    assert "after 150 of 152 moves" in outcome.explain()
