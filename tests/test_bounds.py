"""Lower bounds must never exceed what the best placement achieves."""

from __future__ import annotations

import gc

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.tight_generator import generate_tight_cluster, tight_policy
from planner.bounds import lower_bounds
from planner.bounds.lower_bounds import martello_toth_l2, spread_peak_bounds
from planner.domain.policy import SpreadSettings
from planner.instance.problem import build_problem
from planner.rules.resolve import resolve_rules
from tests.builders import cluster, host, plan_for, policy, vm


def optimal_bins(sizes: list[int], capacity: int) -> int:
    """Exact bin packing by enumerating set partitions (restricted growth strings): tiny inputs only."""
    best = len(sizes)

    def place(index: int, loads: list[int]) -> None:
        nonlocal best
        if len(loads) >= best:
            return
        if index == len(sizes):
            best = len(loads)
            return
        for b in range(len(loads)):
            if loads[b] + sizes[index] <= capacity:
                loads[b] += sizes[index]
                place(index + 1, loads)
                loads[b] -= sizes[index]
        place(index + 1, loads + [sizes[index]])

    place(0, [])
    return best


@settings(max_examples=300, deadline=None)
@given(st.integers(5, 20).flatmap(lambda c: st.tuples(st.just(c), st.lists(st.integers(1, c), min_size=1, max_size=8))))
def test_l2_is_between_the_volume_bound_and_the_optimum(case: tuple[int, list[int]]) -> None:
    capacity, sizes = case
    l2 = martello_toth_l2(sizes, capacity)
    assert -(-sum(sizes) // capacity) <= l2 <= optimal_bins(sizes, capacity)


def test_l2_beats_the_volume_bound_on_items_just_over_half() -> None:
    # Three items of 6 in bins of 10: volume says 2, but no two share a bin.
    assert martello_toth_l2([6, 6, 6], 10) == 3


def test_the_peak_bounds_are_worked_out_once_per_problem_and_dropped_with_it() -> None:
    cluster = generate_tight_cluster(20, 200, 0.85, 1)
    problem = build_problem(resolve_rules(cluster, tight_policy(cluster, 1, 5)))
    first = spread_peak_bounds(problem)
    assert spread_peak_bounds(problem) is first
    same_rules = build_problem(problem.rules)  # an equal problem, another object: worked out again
    assert spread_peak_bounds(same_rules) == first and spread_peak_bounds(same_rules) is not first
    gc.collect()  # problems of earlier tests that only cycles kept alive go first
    held = len(lower_bounds._PEAK_BOUNDS)
    del problem
    gc.collect()
    assert len(lower_bounds._PEAK_BOUNDS) == held - 1


def test_the_largest_vm_counts_only_on_the_hosts_it_fits() -> None:
    # Two CPU-rich hosts (64 cores, 64 GiB) and one memory host (16 cores, 512 GiB): the 256 GiB
    # VM fits only the memory host, so that host carries its 8 cores wherever the rest goes: 500 ‰.
    # Spread over every host its rules allow, the largest VM's bound was 8 of 64 cores, 125 ‰.
    clu = cluster([*(host(name, cpus=64, memory_mib=64 * 1024 + 512) for name in ("cpu-1", "cpu-2")),
                   host("mem", cpus=16, memory_mib=512 * 1024 + 512)],
                  [vm("big", "mem", vcpus=8, memory_mib=256 * 1024, load=8000),
                   *(vm(f"small-{i}", "cpu-1", load=500) for i in range(4))])
    spread = SpreadSettings(cpu_threshold_percent=0.0, memory_threshold_percent=0.0, cpu_weight=1, memory_weight=0)
    problem = build_problem(resolve_rules(clu, policy(spread=spread)))
    assert lower_bounds.peak_bound(problem, lower_bounds.SpreadResource.CPU, 0) == 500
    plan = plan_for(clu, policy(spread=spread))
    assert plan.bounds.goal == plan.metric.after == 500
