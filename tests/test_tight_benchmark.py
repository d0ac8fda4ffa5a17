"""The memory-tight heterogeneous benchmark (issue 24): its generator makes the class of cluster it
promises, its bound is a bound (and knows which hosts a VM fits), and its runner writes its files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks import tight
from benchmarks.tight_bound import spread_bounds
from benchmarks.tight_generator import HOST_TYPE_PROFILES, TIGHT_FLAVORS, generate_tight_cluster, tight_policy
from planner.check.validate import validate_placement
from planner.domain.model import VM, Cluster, Host
from planner.domain.policy import Limits, Policy, SpreadSettings
from planner.instance.problem import build_problem
from planner.instance.state import PlacementState
from planner.rules.resolve import resolve_rules

GIB = 1024


def test_same_seed_same_cluster_other_seed_other_cluster() -> None:
    assert generate_tight_cluster(20, 300, 0.85, seed=3) == generate_tight_cluster(20, 300, 0.85, seed=3)
    assert generate_tight_cluster(20, 300, 0.85, seed=3) != generate_tight_cluster(20, 300, 0.85, seed=4)


PROFILES = sorted(HOST_TYPE_PROFILES)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("fill", [0.75, 0.80, 0.88, 0.90])
@pytest.mark.parametrize("size", [(20, 300), (100, 2000)])
def test_memory_fill_is_within_two_percent_of_the_request(size: tuple[int, int], fill: float, profile: str) -> None:
    cluster = generate_tight_cluster(*size, fill, seed=2, host_types=HOST_TYPE_PROFILES[profile])
    usable = sum(h.usable_memory_mib for h in cluster.hosts)
    used = sum(vm.memory_mib for vm in cluster.vms)
    assert abs(used / usable - fill) <= 0.02 * fill


def _fits(vm_vcpus: int, vm_memory: int, host: Host) -> bool:
    return vm_vcpus <= host.usable_vcpus and vm_memory <= host.usable_memory_mib


@pytest.mark.parametrize("profile", PROFILES)
def test_every_flavor_fits_some_host_type_and_the_big_ones_only_some(profile: str) -> None:
    host_types = HOST_TYPE_PROFILES[profile]
    cluster = generate_tight_cluster(100, 2000, 0.85, seed=1, host_types=host_types)
    one_of_each = {h.labels["type"]: h for h in cluster.hosts}
    assert len(one_of_each) == len(host_types) >= 4
    assert {(f.vcpus, f.memory_mib) for f in TIGHT_FLAVORS} >= {(64, 512 * GIB)}
    for flavor in TIGHT_FLAVORS:
        assert any(_fits(flavor.vcpus, flavor.memory_mib, h) for h in one_of_each.values()), flavor
    assert not all(_fits(64, 512 * GIB, h) for h in one_of_each.values())
    assert not all(_fits(64, 128 * GIB, h) for h in one_of_each.values())
    assert all(any(_fits(vm.vcpus, vm.memory_mib, h) for h in one_of_each.values()) for vm in cluster.vms)
    ratios = {(t.cpus * GIB * 1024) // t.memory_mib for t in host_types}
    assert len(ratios) >= 4 and len({t.cpu_allocation_ratio for t in host_types}) >= 3


@pytest.mark.parametrize("profile", PROFILES)
def test_start_is_valid_memory_tight_and_cpu_skewed(profile: str) -> None:
    cluster = generate_tight_cluster(100, 2000, 0.88, seed=1, host_types=HOST_TYPE_PROFILES[profile])
    policy = tight_policy(cluster, seed=1, time_limit_s=1)
    assert policy.host_groups and policy.anti_affinity and policy.pins
    assert validate_placement(cluster, policy, cluster.placement) == []
    memory, load = Counter(), Counter()
    for vm in cluster.vms:
        memory[vm.host] += vm.memory_mib
        load[vm.host] += vm.cpu_load_millicores
    assert all(memory[h.name] <= h.usable_memory_mib for h in cluster.hosts)
    assert all(load[h.name] <= h.cpu_capacity_millicores for h in cluster.hosts)
    cpu = sorted(load[h.name] / h.cpu_capacity_millicores for h in cluster.hosts)
    problem = build_problem(resolve_rules(cluster, policy))
    assert cpu[-1] >= 0.95 and cpu[-1] > 1.5 * spread_bounds(problem).best / 1000
    assert cpu[len(cpu) // 2] < 0.75 * cpu[-1]  # most hosts are not hot: the start is skewed


def test_bound_knows_which_hosts_a_vm_fits() -> None:
    """Four 200 GiB VMs fit only the big host: together they make it 500 ‰ busy, whatever the small
    host's cores; the planner's printed bound spreads them over both hosts (250 ‰)."""
    hosts = (Host("small", 32, 128 * GIB, reserved_memory_mib=8 * GIB),
             Host("big", 32, 1024 * GIB, reserved_memory_mib=8 * GIB))
    vms = tuple(VM(f"vm-{i}", "big", 8, 200 * GIB, 4000) for i in range(4))
    cluster = Cluster(hosts, vms)
    policy = Policy(spread=SpreadSettings(memory_weight=0), limits=Limits(min_improvement_percent=0))
    bounds = spread_bounds(build_problem(resolve_rules(cluster, policy)))
    assert bounds.product == 250
    assert bounds.fluid == bounds.best == 500


def test_bound_is_below_every_plan_on_a_small_instance() -> None:
    rows = tight.run_one("20x300", 0.85, seed=1, time_limit_s=1)
    methods = {r.method for r in rows}
    assert methods == {"rebalance", "worst-fit-decreasing", "hot-to-cold greedy"}
    for row in rows:
        assert row.valid, row.method
        assert row.bound >= row.printed_bound
        assert row.peak >= row.bound, row.method
    ours = rows[0]
    assert ours.peak <= ours.start_peak


def test_baselines_keep_every_rule_on_a_memory_full_cluster() -> None:
    cluster = generate_tight_cluster(40, 700, 0.90, seed=5)
    policy = tight_policy(cluster, seed=5, time_limit_s=1)
    problem = build_problem(resolve_rules(cluster, policy))
    start = PlacementState(problem).goal_value()
    for baseline in tight.BASELINES:
        result = baseline(problem)
        assert result is not None
        placement = {vm: problem.hosts[host].name for unit, host in zip(problem.units, result.assignment) for vm in unit.vms}
        assert validate_placement(cluster, policy, placement) == [], result.name
        assert PlacementState(problem, result.assignment).goal_value() <= start


def test_runner_writes_csv_and_markdown(tmp_path: Path) -> None:
    tight.main(["--sizes", "10x120", "--fills", "0.8", "--seeds", "1", "--time-limit", "1", "--out", str(tmp_path)])
    csv = (tmp_path / "tight.csv").read_text().splitlines()
    assert csv[0].startswith("size,fill,seed,method") and len(csv) == 4
    table = (tmp_path / "tight.md").read_text().splitlines()
    assert table[0].startswith("| size | fill |") and table[2].startswith("| 10x120 | 0.80 | 1 |")


def test_runner_plans_on_the_host_type_profile_asked_for(tmp_path: Path) -> None:
    tight.main(["--sizes", "12x150", "--fills", "0.8", "--seeds", "1", "--time-limit", "1", "--host-types", "four",
                "--out", str(tmp_path)])
    rows = (tmp_path / "tight.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert {row.split(",")[header.index("host_types")] for row in rows[1:]} == {"four"}
    assert "Host types: four" in (tmp_path / "tight.md").read_text()
    cluster = generate_tight_cluster(12, 150, 0.8, 1, host_types=HOST_TYPE_PROFILES["four"])
    assert {h.labels["type"] for h in cluster.hosts} <= {t.name for t in HOST_TYPE_PROFILES["four"]}


@pytest.mark.parametrize("wall_clock", [False, True])
def test_wall_clock_runs_plan_with_the_deterministic_cap_off(wall_clock: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []
    plan = tight.make_plan
    monkeypatch.setattr(tight, "make_plan", lambda rules: asked.append(rules.policy.solver.deterministic) or plan(rules))
    rows = tight.run_one("10x120", 0.8, seed=1, time_limit_s=1, deterministic=not wall_clock)
    assert asked == [not wall_clock] and rows[0].valid


@pytest.mark.parametrize("seed", [1, 2])
def test_loads_on_a_grid_give_a_bound_at_most_the_grid_weaker(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import tight_bound

    clu = generate_tight_cluster(60, 1200, 0.85, seed)
    problem = build_problem(resolve_rules(clu, tight_policy(clu, seed, time_limit_s=1)))
    classes = tight_bound.host_classes(problem)
    exact = tight_bound._fluid_bound(problem, classes)
    monkeypatch.setattr(tight_bound, "AGGREGATE_ABOVE", 0)
    coarse = tight_bound._fluid_bound(problem, classes)
    assert exact * (1 - (tight_bound.LOAD_GRID - 1)) - 1 <= coarse <= exact
    kinds = tight_bound._unit_kinds(problem, classes)
    assert sum(kinds.values()) == sum(1 for u in problem.units if not u.fixed)
    assert all(tight_bound._grid_floor(load) <= load for load in range(0, 5000, 7))
