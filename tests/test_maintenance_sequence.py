"""Rolling maintenance, before anything moves: order, N+1 room per step, and the time estimate."""

from __future__ import annotations

import pytest

from executor.schedule import Limits
from operations.drain import Stuck
from operations.maintenance_sequence import plan_sequence
from planner.domain.errors import InfeasibleError, InputError
from planner.domain.policy import AntiAffinity, Selector
from planner.formats.inputs import PlanningInput
from tests.builders import cluster, host, policy, vm

GIB = 1024
LIMITS = Limits()


def small_lab(**policy_fields) -> PlanningInput:
    """lab-a: 2 VMs (64 MiB), lab-b: 3 VMs (96 MiB), lab-c: none, lab-d: spare room."""
    hosts = [host("lab-a"), host("lab-b"), host("lab-c"), host("lab-d")]
    vms = [vm("a1", "lab-a", memory_mib=32), vm("a2", "lab-a", memory_mib=32),
           vm("b1", "lab-b", memory_mib=32), vm("b2", "lab-b", memory_mib=32), vm("b3", "lab-b", memory_mib=32)]
    return PlanningInput(cluster(hosts, vms), policy(**policy_fields))


def sequence(planning: PlanningInput, hosts: list[str], parallel: int = 1, returning: bool = False, **extra):
    return plan_sequence(planning, hosts, parallel, returning, LIMITS, 5.0, **extra)


def test_least_memory_to_move_goes_first_and_the_line_says_so() -> None:
    planned = sequence(small_lab(), ["lab-b", "lab-a", "lab-c"])
    assert [s.hosts for s in planned.steps] == [("lab-c",), ("lab-a",), ("lab-b",)]
    assert planned.order_reason == ("order: lab-c (0 VMs), lab-a (2 VMs, 64 MiB), lab-b (3 VMs, 96 MiB): "
                                    "least memory to move first (--keep-order keeps yours)")


def test_keep_order_keeps_the_operators_order() -> None:
    planned = sequence(small_lab(), ["lab-b", "lab-a", "lab-c"], keep_order=True)
    assert [s.hosts for s in planned.steps] == [("lab-b",), ("lab-a",), ("lab-c",)]
    assert planned.order_reason.endswith(": as you gave them (--keep-order)")
    assert planned.order_reason.startswith("order: lab-b (3 VMs, 96 MiB), lab-a")


def test_parallel_groups_are_consecutive_chunks_of_the_order() -> None:
    planned = sequence(small_lab(), ["lab-a", "lab-b", "lab-c"], parallel=2)
    assert [s.hosts for s in planned.steps] == [("lab-c", "lab-a"), ("lab-b",)]
    assert [(s.vms, s.memory_mib) for s in planned.steps] == [(2, 64), (3, 96)]
    assert planned.order_reason.endswith(", 2 hosts at a time")


def test_the_same_input_gives_the_same_sequence() -> None:
    assert sequence(small_lab(), ["lab-a", "lab-b"], returning=True) == \
        sequence(small_lab(), ["lab-a", "lab-b"], returning=True)


def three_full_hosts() -> PlanningInput:
    """Three 16 GiB hosts with 6 GiB each: one out at a time fits, two at once leave 16 GiB for 18."""
    hosts = [host("lab-a"), host("lab-b"), host("lab-c")]
    vms = [vm(f"{h}-{i}", f"lab-{h}", memory_mib=2 * GIB) for h in "abc" for i in range(3)]
    return PlanningInput(cluster(hosts, vms), policy())


def test_two_at_once_is_refused_naming_the_hosts_and_the_shortfall_where_one_at_a_time_fits() -> None:
    assert len(sequence(three_full_hosts(), ["lab-a", "lab-b"], parallel=1).steps) == 2
    with pytest.raises(InfeasibleError) as refused:
        sequence(three_full_hosts(), ["lab-a", "lab-b"], parallel=2)
    assert str(refused.value) == (
        "maintenance of lab-a, lab-b (out together) cannot fit: 2048 MiB of memory short "
        "(needs 18432 MiB, 16384 MiB usable on lab-c); try --parallel 1 or free memory first")


def test_usable_room_counts_reserved_memory_and_allocation_ratios() -> None:
    # lab-c: 8 GiB × 1.5 − 2 GiB reserved = 10 GiB usable; lab-a's 12 GiB do not fit beside its 0.
    hosts = [host("lab-a"), host("lab-c", memory_mib=8 * GIB, ram_allocation_ratio=1.5, reserved_memory_mib=2 * GIB)]
    vms = [vm(f"a{i}", "lab-a", memory_mib=3 * GIB) for i in range(4)]
    with pytest.raises(InfeasibleError, match=r"^maintenance of lab-a cannot fit: 2048 MiB of memory short "
                                              r"\(needs 12288 MiB, 10240 MiB usable on lab-c\); free memory first$"):
        sequence(PlanningInput(cluster(hosts, vms), policy()), ["lab-a"])


def test_vcpus_short_are_named_too() -> None:
    hosts = [host("lab-a"), host("lab-c", cpus=2, cpu_allocation_ratio=1.0)]
    vms = [vm("a1", "lab-a", vcpus=2), vm("c1", "lab-c", vcpus=1)]
    with pytest.raises(InfeasibleError, match=r"cannot fit: 1 vCPUs short \(needs 3 vCPUs, 2 vCPUs usable on lab-c\)"):
        sequence(PlanningInput(cluster(hosts, vms), policy()), ["lab-a"])


def test_the_largest_vm_must_fit_whole_on_one_remaining_host() -> None:
    # 12 GiB free in all on lab-b and lab-c, 8 + 4 GiB; lab-a's one 10 GiB VM fits on neither.
    hosts = [host("lab-a"), host("lab-b"), host("lab-c")]
    vms = [vm("big", "lab-a", memory_mib=10 * GIB), vm("b1", "lab-b", memory_mib=8 * GIB),
           vm("c1", "lab-c", memory_mib=12 * GIB)]
    with pytest.raises(InfeasibleError, match=r"^maintenance of lab-a cannot fit: its largest VM big \(10240 MiB, "
                                              r"1 vCPUs\) fits on no remaining host \(most free memory: 8192 MiB on "
                                              r"lab-b\)"):
        sequence(PlanningInput(cluster(hosts, vms), policy()), ["lab-a"])


def test_a_rule_the_drain_cannot_keep_is_refused_by_the_real_plan_naming_the_host() -> None:
    # Room enough by sums, and on lab-b for web-1; but web-2 is on lab-b and lab-c is full.
    hosts = [host("lab-a"), host("lab-b"), host("lab-c")]
    vms = [vm("web-1", "lab-a"), vm("web-2", "lab-b"), vm("full", "lab-c", memory_mib=16 * GIB)]
    rule = AntiAffinity("web", Selector(names=frozenset({"web-1", "web-2"})))
    planning = PlanningInput(cluster(hosts, vms), policy(anti_affinity=(rule,)))
    with pytest.raises(InfeasibleError, match=r"^maintenance of lab-a cannot be planned: "):
        sequence(planning, ["lab-a"])


def test_a_rule_that_needs_the_host_out_is_refused_naming_the_step() -> None:
    hosts = [host("lab-a"), host("lab-b"), host("lab-c")]
    vms = [vm("web-1", "lab-a"), vm("web-2", "lab-b"), vm("web-3", "lab-c")]
    rule = AntiAffinity("web", Selector(names=frozenset({"web-1", "web-2", "web-3"})))
    planning = PlanningInput(cluster(hosts, vms), policy(anti_affinity=(rule,)))
    with pytest.raises(InfeasibleError, match=r"^maintenance of lab-b cannot be planned: .*'web' needs 3 distinct"):
        sequence(planning, ["lab-b"])


def test_a_policy_error_stays_an_input_error() -> None:
    rule = AntiAffinity("web", Selector(names=frozenset({"a1", "a2", "b1", "b2", "b3"})))
    with pytest.raises(InputError, match="needs 5 distinct"):
        sequence(small_lab(anti_affinity=(rule,)), ["lab-a"])


def following_drain() -> PlanningInput:
    """lab-c is too small to take anything: lab-a's VMs can only go to lab-b, and back."""
    hosts = [host("lab-a"), host("lab-b"), host("lab-c", memory_mib=1024 + 512)]
    vms = [vm("a1", "lab-a", memory_mib=4 * GIB), vm("a2", "lab-a", memory_mib=4 * GIB),
           vm("b1", "lab-b", memory_mib=4 * GIB)]
    return PlanningInput(cluster(hosts, vms), policy())


def test_without_returning_step_two_drains_what_step_one_left_into_host_ones_room() -> None:
    planned = sequence(following_drain(), ["lab-a", "lab-b"], keep_order=True)
    # lab-b holds its own VM and lab-a's two; they can only go to lab-a, back and empty.
    assert [(s.hosts, s.vms, s.memory_mib) for s in planned.steps] == [
        (("lab-a",), 2, 8 * GIB), (("lab-b",), 3, 12 * GIB)]
    assert all(s.return_estimate_s == 0 for s in planned.steps)


def test_with_returning_each_step_starts_from_the_starting_state() -> None:
    planned = sequence(following_drain(), ["lab-a", "lab-b"], keep_order=True, returning=True)
    assert [(s.hosts, s.vms, s.memory_mib) for s in planned.steps] == [
        (("lab-a",), 2, 8 * GIB), (("lab-b",), 1, 4 * GIB)]


def test_the_estimate_is_the_executors_makespan_and_zero_when_nothing_moves() -> None:
    planned = sequence(small_lab(), ["lab-a", "lab-c"], returning=True)
    empty, drained = planned.steps
    assert (empty.hosts, empty.estimate_s, empty.return_estimate_s) == (("lab-c",), 0.0, 0.0)
    # Two 32 MiB VMs leave lab-a one at a time (one outgoing per host) at 1024 MiB/s.
    assert drained.estimate_s == pytest.approx(64 / 1024)
    assert drained.return_estimate_s == pytest.approx(64 / 1024)
    assert planned.estimate_s() == pytest.approx(128 / 1024)


def test_an_unmigratable_vm_set_aside_stays_and_is_not_counted() -> None:
    planning = small_lab()
    stuck = (Stuck("a2", "lab-a", 32, "local disk"),)
    planned = sequence(planning, ["lab-a", "lab-b"], skipped=stuck)
    assert planned.order_reason.startswith("order: lab-a (1 VM, 32 MiB), lab-b (3 VMs, 96 MiB)")
    assert [(s.hosts, s.vms) for s in planned.steps] == [(("lab-a",), 1), (("lab-b",), 3)]


@pytest.mark.parametrize("hosts, parallel, field", [
    (["lab-x"], 1, "HOST"), (["lab-a", "lab-a"], 1, "HOST"), ([], 1, "HOST"), (["lab-a"], 0, "--parallel")])
def test_bad_requests_are_input_errors(hosts: list[str], parallel: int, field: str) -> None:
    with pytest.raises(InputError) as refused:
        sequence(small_lab(), hosts, parallel=parallel)
    assert refused.value.field == field
