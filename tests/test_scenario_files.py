"""The example scenarios: each loads, resolves, says how to run it, and models what its comments claim.

Three layers, cheapest first:
1. every scenarios/*.yaml loads and its policy resolves against its cluster (no solver);
2. each scenario's stated premise holds (the hot rack is hot, the swap really is the only optimum,
   the drained hosts hold no pinned VM...) — checked from the numbers alone;
3. behaviour: `rebalance plan --scenario X --time-limit 5` succeeds on each (marked `solver`).
The generated large scenario is also checked to be exactly what the generator writes today.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.generator import anti_affinity_groups, generate_cluster, scenario_text
from planner.formats.inputs import load_planning_input
from planner.domain.metrics import usage_by_host, weighted_peak
from planner.domain.model import Cluster, HostState
from planner.solver.planning import make_plan
from planner.rules.resolve import RuleSet
from planner.formats.scenario import Scenario, load_scenario
from planner.check.validate import validate_placement
from rebalance.cli import cli

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
ALL = sorted(p.name for p in SCENARIOS.glob("*.yaml"))
LARGE = "large-200x3000.yaml"


def resolved(name: str) -> RuleSet:
    return load_planning_input(SCENARIOS / name, None, None).resolve()


def scenario(name: str) -> Scenario:
    return load_scenario(SCENARIOS / name)


def cpu_permille(cluster: Cluster) -> dict[str, int]:
    return {host: usage.cpu_permille for host, usage in usage_by_host(cluster).items()}


def fits(cluster: Cluster, placement: dict[str, str]) -> bool:
    usage = usage_by_host(cluster, placement)
    return all(usage[h.name].memory_mib <= h.usable_memory_mib and usage[h.name].vcpus <= h.usable_vcpus
               for h in cluster.hosts)


# --- 1. every file loads and resolves ------------------------------------------------------

def test_the_expected_scenarios_exist() -> None:
    assert {"nova-classic.yaml", "hot-rack.yaml", "nightly-consolidate.yaml", "maintenance-drain.yaml",
            "anti-affinity-groups.yaml", "swap-deadlock.yaml", "rack-aware.yaml", "io-bound.yaml", LARGE} <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_scenario_loads_and_resolves(name: str) -> None:
    rules = resolved(name)
    assert rules.cluster.vms and rules.destinations


@pytest.mark.parametrize("name", ALL)
def test_scenario_is_documented_with_the_command_to_run_it(name: str) -> None:
    text = (SCENARIOS / name).read_text(encoding="utf-8")
    header = list(itertools.takewhile(lambda line: line.startswith("#") or not line.strip(), text.splitlines()))
    assert len(header) >= 8, "each scenario opens with a comment saying what it models and what to expect"
    assert re.search(rf"rebalance plan --scenario scenarios/{re.escape(name)}\b", "\n".join(header))


# --- 2. each scenario's premise ------------------------------------------------------------

def test_nova_classic_starts_with_every_vm_on_hostb_and_the_controller_disabled() -> None:
    cluster = scenario("nova-classic.yaml").cluster
    assert {vm.host for vm in cluster.vms} == {"HostB"} and len(cluster.vms) == 6
    assert cluster.host_by_name["HostA"].state is HostState.DISABLED
    assert cluster.host_by_name["HostC"].uri == "qemu+tcp://HostC/system"
    assert resolved("nova-classic.yaml").destinations == {"HostB", "HostC"}


def test_hot_rack_has_one_hot_rack_and_two_cool_ones() -> None:
    cluster = scenario("hot-rack.yaml").cluster
    cpu = cpu_permille(cluster)
    rack = {h.name: h.labels["rack"] for h in cluster.hosts}
    assert all(800 <= cpu[h] <= 950 for h in cpu if rack[h] == "r1")
    assert all(cpu[h] <= 350 for h in cpu if rack[h] != "r1")
    assert len(cluster.hosts) == 12 and len(cluster.vms) == 60


def test_nightly_consolidate_hosts_are_lightly_loaded_and_four_must_stay() -> None:
    loaded = scenario("nightly-consolidate.yaml")
    usage = usage_by_host(loaded.cluster)
    assert all(200 <= u.cpu_permille <= 350 and u.memory_permille <= 350 for u in usage.values())
    headroom = loaded.policy.consolidate
    assert (headroom.max_cpu_percent, headroom.max_memory_percent) == (80, 90)
    # The bound the comments derive: at least 4 hosts must stay on, so at most 6 can be freed.
    host = loaded.cluster.hosts[0]
    load = sum(vm.cpu_load_millicores for vm in loaded.cluster.vms)
    assert -(-load // int(0.8 * host.cpu_capacity_millicores)) == 4


def test_maintenance_drain_is_possible_and_keeps_the_disabled_host_out() -> None:
    rules = resolved("maintenance-drain.yaml")
    assert rules.drained == {"m1", "m2"}
    assert rules.cluster.host_by_name["m8"].state is HostState.DISABLED and "m8" not in rules.destinations
    assert rules.pinned and all(rules.cluster.vm_by_name[vm].host not in rules.drained for vm in rules.pinned)
    free = sum(h.usable_memory_mib for h in rules.cluster.hosts if h.name in rules.destinations) - sum(
        vm.memory_mib for vm in rules.cluster.vms if vm.host in rules.destinations)
    assert sum(vm.memory_mib for vm in rules.cluster.vms if vm.host in rules.drained) <= free


def test_anti_affinity_groups_starts_with_the_web_tier_broken() -> None:
    rules = resolved("anti-affinity-groups.yaml")
    web = next(g for g in rules.anti_affinity if g.name == "web-apart")
    hosts = [rules.cluster.vm_by_name[vm].host for vm in web.members]
    assert len(set(hosts)) < len(hosts), "the starting placement must violate web-apart"
    db = next(g for g in rules.anti_affinity if g.name == "db-racks")
    assert len({db.domain_of[rules.cluster.vm_by_name[vm].host] for vm in db.members}) == 2
    assert rules.allowed_hosts["db-1"] == {"r1-h3", "r2-h3"} and rules.pinned == {"ldap-1"}


def test_rack_aware_starts_with_the_web_tier_on_one_rack_and_weighs_moves() -> None:
    rules = resolved("rack-aware.yaml")
    (web,) = rules.min_spread
    assert (web.label, web.at_least, len(web.members)) == ("rack", 2, 3)
    assert {web.domain_of[rules.cluster.vm_by_name[vm].host] for vm in web.members} == {"r1"}, \
        "the starting placement must break web-over-racks"
    costs = rules.move_costs
    assert costs.cross_factor == 3 and dict(costs.factor_of) == {"db-1": 5, "db-2": 5}
    cluster = rules.cluster
    assert weighted_peak(usage_by_host(cluster).values(), 1, 1) == 1492  # the numbers in the comments


@pytest.mark.solver
def test_rack_aware_plan_repairs_the_rule_with_one_move_between_racks() -> None:
    rules = resolved("rack-aware.yaml")
    plan = make_plan(rules)
    assert validate_placement(rules.cluster, rules.policy, plan.target_placement) == []
    rack = {h.name: h.labels["rack"] for h in rules.cluster.hosts}
    assert plan.metric.after == 799
    assert len({rack[plan.target_placement[vm]] for vm in ("web-1", "web-2", "web-3")}) == 2
    assert sum(rack[m.source] != rack[m.destination] for m in plan.moves) == 1
    assert {"db-1", "db-2"}.isdisjoint(m.vm for m in plan.moves)


SWAP = {"db-big": "host2", "idle-a": "host1", "idle-b": "host1"}


def test_io_bound_s1_is_busiest_and_s4_has_no_iops_for_a_database() -> None:
    cluster = scenario("io-bound.yaml").cluster
    usage = usage_by_host(cluster)
    busiest = {key: max(usage, key=lambda h: getattr(usage[h], key)) for key in ("cpu_permille", "memory_permille")}
    assert busiest == {"cpu_permille": "s1", "memory_permille": "s1"}
    assert max(usage, key=lambda h: usage[h].extra_permille["disk_iops"]) == "s1"
    s4 = cluster.host_by_name["s4"].resources["disk_iops"] - usage["s4"].extra["disk_iops"]
    databases = [vm.resources["disk_iops"] for vm in cluster.vms if vm.name.startswith("db-")]
    assert min(databases) > s4 and usage["s4"].cpu_permille == min(u.cpu_permille for u in usage.values())
    policy = scenario("io-bound.yaml").policy
    assert (policy.spread.balance_of("disk_iops").weight, policy.spread.balance_of("net_mbit").weight) == (1, 0)


@pytest.mark.solver
def test_io_bound_plan_stays_within_every_declared_capacity() -> None:
    loaded = scenario("io-bound.yaml")
    plan = make_plan(resolved("io-bound.yaml"))
    after = usage_by_host(loaded.cluster, plan.target_placement)
    assert plan.moves and plan.metric.after < plan.metric.before
    assert all(after[h.name].extra[name] <= capacity for h in loaded.cluster.hosts
               for name, capacity in h.resources.items())
    assert validate_placement(loaded.cluster, loaded.policy, plan.target_placement) == []


def test_swap_deadlock_neither_side_can_move_first() -> None:
    cluster = scenario("swap-deadlock.yaml").cluster
    for vm, destination in SWAP.items():
        assert not fits(cluster, {**cluster.placement, vm: destination}), f"{vm} alone must not fit"
    # ...but parking db-big on host3 fits, and then the rest of the swap can proceed.
    parked = {**cluster.placement, "db-big": "host3"}
    assert fits(cluster, parked) and fits(cluster, {**parked, "idle-a": "host1", "idle-b": "host1"})


def test_swap_deadlock_optimum_is_exactly_the_swap() -> None:
    loaded = scenario("swap-deadlock.yaml")
    cluster, spread = loaded.cluster, loaded.policy.spread
    movable = [vm.name for vm in cluster.vms if vm.migratable]
    assert sorted(movable) == sorted(SWAP)
    scores = {}
    for hosts in itertools.product([h.name for h in cluster.hosts], repeat=len(movable)):
        placement = {**cluster.placement, **dict(zip(movable, hosts))}
        if fits(cluster, placement):
            usage = usage_by_host(cluster, placement).values()
            scores[hosts] = weighted_peak(usage, spread.cpu_weight, spread.memory_weight)
    best = min(scores.values())
    assert [h for h, s in scores.items() if s == best] == [tuple(SWAP[vm] for vm in movable)]
    before = weighted_peak(usage_by_host(cluster).values(), spread.cpu_weight, spread.memory_weight)
    assert (before, best) == (1935, 1735)  # the numbers worked out in the file's comments


# --- the generator and the large scenario ----------------------------------------------------

def test_generator_is_deterministic_for_a_seed() -> None:
    assert generate_cluster(30, 400, seed=3) == generate_cluster(30, 400, seed=3)
    assert generate_cluster(30, 400, seed=3) != generate_cluster(30, 400, seed=4)


def test_generated_cluster_respects_hard_limits_and_anti_affinity() -> None:
    cluster = generate_cluster(60, 900, seed=2)
    assert fits(cluster, cluster.placement)
    for members in anti_affinity_groups(cluster).values():
        assert 2 <= len(members) <= 4
        assert len({cluster.vm_by_name[vm].host for vm in members}) == len(members)
    usable = sum(h.usable_memory_mib for h in cluster.hosts)
    assert 0.45 <= sum(vm.memory_mib for vm in cluster.vms) / usable <= 0.55


def test_generated_scenario_round_trips(tmp_path: Path) -> None:
    cluster = generate_cluster(25, 300, seed=5)
    path = tmp_path / "generated.yaml"
    path.write_text(scenario_text(cluster, header=["a test"]), encoding="utf-8")
    loaded = load_scenario(path)
    assert loaded.cluster == cluster
    assert len(loaded.policy.anti_affinity) == len(anti_affinity_groups(cluster)) and len(loaded.policy.pins) == 1


def test_large_scenario_is_what_the_generator_writes() -> None:
    text = (SCENARIOS / LARGE).read_text(encoding="utf-8")
    command = re.search(r"python -m benchmarks\.generator (.+)", text)
    assert command and command[1] == "--hosts 200 --vms 3000 --seed 1 -o scenarios/large-200x3000.yaml"
    def data(yaml_text: str) -> list[str]:
        return [line for line in yaml_text.splitlines() if not line.startswith("#")]

    assert data(text) == data(scenario_text(generate_cluster(200, 3000, seed=1))), \
        "out of date: regenerate with the command in the file's header"


# --- 3. behaviour: the planner runs on every example ------------------------------------------

@pytest.mark.solver
@pytest.mark.parametrize("name", [n for n in ALL if n != LARGE])
def test_plan_command_succeeds_on_scenario(name: str) -> None:
    result = CliRunner().invoke(cli, ["plan", "--scenario", str(SCENARIOS / name), "--time-limit", "5", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["goal"] == scenario(name).policy.goal.value


@pytest.mark.solver
def test_plan_for_swap_deadlock_is_the_swap() -> None:
    result = CliRunner().invoke(cli, ["plan", "--scenario", str(SCENARIOS / "swap-deadlock.yaml"),
                                      "--time-limit", "5", "--json"])
    assert result.exit_code == 0, result.output
    assert {m["vm"]: m["destination"] for m in json.loads(result.stdout)["moves"]} == SWAP
