"""Model cases for every family of the CP-SAT model, in the cpsat-primer style: trivially
feasible, infeasible when forced, feasible only on the alternative.

Each case plans through make_plan with the greedy fallback off and insists CP-SAT made the plan,
so a wrong model fails the case instead of hiding behind the greedy. CASES maps each family of
planner.solver.cpsat_model.FAMILIES to its cases; test_model_families.py runs them and
test_model_mutations.py runs them again with one family switched off at a time.

Hosts are 8 cores (8000 mc), 16 GiB usable memory and 32 usable vCPUs unless a case says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from planner.check.validate import validate_placement
from planner.domain.errors import InfeasibleError
from planner.domain.model import VM, Cluster, Host
from planner.domain.plan import Plan
from planner.domain.policy import (AntiAffinity, ConsolidateSettings, Goal, Limits, MinSpread, Policy, ResourceBalance,
                                   Selector, SolverSettings, SpreadSettings)
from planner.rules.resolve import resolve_rules
from planner.solver.planning import make_plan
from tests.builders import cluster, host, policy, vm

QUICK = SolverSettings(time_limit_s=2.0, workers=2, seed=1)
CPU_ONLY = SpreadSettings(memory_weight=0)
NO_GATE = Limits(min_improvement_percent=0.0)


def cp_sat_plan(clu: Cluster, pol: Policy) -> Plan:
    """The plan CP-SAT made, which the independent validator accepts. The goal-versus-migration
    trade is off: it may keep a greedy plan, and these cases test the model."""
    untraded = replace(pol.limits, min_gain_per_moved_gib=0.0)
    plan = make_plan(resolve_rules(clu, replace(pol, solver=QUICK, limits=untraded)), fallback=False)
    assert plan.solver.method == "cp-sat", plan.solver
    assert validate_placement(clu, pol, plan.target_placement) == []
    return plan


def assert_infeasible(clu: Cluster, pol: Policy) -> None:
    with pytest.raises(InfeasibleError):
        make_plan(resolve_rules(clu, replace(pol, solver=QUICK)), fallback=False)


def unmovable(name: str, on: str, **extra: object) -> VM:
    return vm(name, on, load=0, migratable=False, **extra)


def apart(*names: str, scope: str = "host") -> AntiAffinity:
    return AntiAffinity("apart", Selector(names=frozenset(names)), scope)


# -- shapes shared by several families ------------------------------------------------------------

def racks(r_a: str, r_b: str, r_c: str | None = None) -> list[Host]:
    hosts = [host("a", labels={"rack": r_a}), host("b", labels={"rack": r_b})]
    return hosts + ([host("c", labels={"rack": r_c})] if r_c else [])


def two_on_one(goal: Goal = Goal.SPREAD, **fields: object) -> tuple[Cluster, Policy]:
    """Trivially feasible: two quiet VMs share a, b is empty (for consolidation v2 starts on b);
    spreading them, or keeping one host, is easy."""
    clu = cluster([host("a"), host("b")], [vm("v1", "a"), vm("v2", "b" if goal is Goal.CONSOLIDATE else "a")])
    return clu, policy(goal, limits=NO_GATE, **fields)


def broken_pair(blocker: VM, goal: Goal = Goal.SPREAD, **fields: object) -> tuple[Cluster, Policy]:
    """p1 and p2 must be apart but share a; b, the only other host, cannot take either of them
    because of `blocker` (which runs on b). The greedy repair fails, and so must CP-SAT."""
    clu = cluster([host("a"), host("b")],
                  [vm("p1", "a", memory_mib=2048, vcpus=2, load=1000), vm("p2", "a", memory_mib=2048, vcpus=2, load=1000),
                   blocker])
    return clu, policy(goal, anti_affinity=(apart("p1", "p2"),), **fields)


def hot_pair(cool: list[VM], hot: dict[str, object] | None = None, **fields: object) -> tuple[Cluster, Policy]:
    """CPU spread: a runs h1 and h2 (4000 mc each, 1000 ‰); b (cool, running `cool`) is the cheap way
    out, one move to a 500 ‰ peak, but a rule or limit of the case refuses h1 and h2 there. The only
    500 ‰ plan left: the filler (3000 mc) goes from c to b and one hot VM to c."""
    hot = hot or {}
    hosts = [host("a"), host("b"), host("c")]
    vms = [vm("h1", "a", load=4000, memory_mib=2048, **hot), vm("h2", "a", load=4000, memory_mib=2048, **hot),
           vm("filler", "c", load=3000, memory_mib=1024, vcpus=2)] + cool
    return cluster(hosts, vms), policy(spread=CPU_ONLY, limits=NO_GATE, **fields)


def assert_filler_made_room(plan: Plan) -> None:
    where = plan.target_placement
    assert where["filler"] == "b"
    assert sorted([where["h1"], where["h2"]]) == ["a", "c"]
    assert plan.metric.after == 500


def spread_one(plan: Plan) -> None:
    assert sorted(plan.target_placement.values()) == ["a", "b"]


# -- one_host_per_unit -----------------------------------------------------------------------------

def one_host_trivial() -> None:
    spread_one(cp_sat_plan(*two_on_one()))


def one_host_forced() -> None:
    # b is full of memory: p2 has no host at all; a model without the row would leave it nowhere.
    assert_infeasible(*broken_pair(unmovable("big", "b", memory_mib=15360)))


def one_host_alternative() -> None:
    plan = cp_sat_plan(*hot_pair([vm("big", "b", memory_mib=15360, load=0)]))
    assert_filler_made_room(plan)
    assert sorted(plan.target_placement) == ["big", "filler", "h1", "h2"]


# -- capacity: memory, vCPUs, measured CPU load ------------------------------------------------------

def memory_trivial() -> None:
    spread_one(cp_sat_plan(*two_on_one()))


def memory_forced() -> None:
    assert_infeasible(*broken_pair(unmovable("big", "b", memory_mib=15360)))


def memory_alternative() -> None:
    # b holds 15 GiB: the 1 GiB filler fits (16 GiB exactly), a 2 GiB hot VM does not.
    assert_filler_made_room(cp_sat_plan(*hot_pair([vm("big", "b", memory_mib=15360, load=0)])))


def vcpu_trivial() -> None:
    spread_one(cp_sat_plan(*two_on_one()))


def vcpu_forced() -> None:
    assert_infeasible(*broken_pair(unmovable("wide", "b", vcpus=31)))


def vcpu_alternative() -> None:
    # b holds 30 of 32 vCPUs: the 2-vCPU filler fits, a 3-vCPU hot VM does not.
    assert_filler_made_room(cp_sat_plan(*hot_pair([vm("wide", "b", vcpus=30, load=0)], hot={"vcpus": 3})))


HEADROOM = ConsolidateSettings(max_cpu_percent=80.0, max_memory_percent=100.0)


def load_trivial() -> None:
    plan = cp_sat_plan(*two_on_one(Goal.CONSOLIDATE, consolidate=HEADROOM))
    assert plan.metric.after == 1


def load_forced() -> None:
    # b runs 6000 mc of its 6400 mc headroom: neither 1000 mc pair member may join it.
    assert_infeasible(*broken_pair(vm("busy", "b", load=6000, migratable=False), Goal.CONSOLIDATE, consolidate=HEADROOM))


def load_alternative() -> None:
    """One host would hold all three (9000 mc) only past the 80 % headroom (6400 mc): the two
    2000 mc VMs share a host and the 5000 mc one keeps its own."""
    clu = cluster([host("a"), host("b"), host("c")],
                  [vm("l1", "a", load=5000), vm("l2", "b", load=2000), vm("l3", "c", load=2000)])
    plan = cp_sat_plan(clu, policy(Goal.CONSOLIDATE, consolidate=HEADROOM, limits=NO_GATE))
    where = plan.target_placement
    assert plan.metric.after == 2
    assert where["l2"] == where["l3"] != where["l1"]


# -- anti_affinity ---------------------------------------------------------------------------------

def anti_affinity_trivial() -> None:
    plan = cp_sat_plan(*two_on_one(anti_affinity=(apart("v1", "v2"),)))
    spread_one(plan)


def anti_affinity_forced() -> None:
    # t1 and t2 must be on different racks but share r1; c, the only r2 host, is full.
    clu = cluster(racks("r1", "r1", "r2"), [vm("t1", "a"), vm("t2", "a"), unmovable("big", "c", memory_mib=16384)])
    assert_infeasible(clu, policy(anti_affinity=(apart("t1", "t2", scope="rack"),)))


def anti_affinity_alternative() -> None:
    cool = [vm("guard", "b", load=0)]
    rules = (AntiAffinity("h1-guard", Selector(names=frozenset({"h1", "guard"}))),
             AntiAffinity("h2-guard", Selector(names=frozenset({"h2", "guard"}))))
    assert_filler_made_room(cp_sat_plan(*hot_pair(cool, anti_affinity=rules)))


# -- min_spread ------------------------------------------------------------------------------------

def two_racks(*names: str) -> MinSpread:
    return MinSpread("two-racks", Selector(names=frozenset(names)), "rack", 2)


def min_spread_trivial() -> None:
    clu = cluster(racks("r1", "r2"), [vm("m1", "a"), vm("m2", "a"), vm("m3", "b", load=0)])
    plan = cp_sat_plan(clu, policy(min_spread=(two_racks("m1", "m3"),), limits=NO_GATE))
    assert plan.moves


def min_spread_forced() -> None:
    # m1 and m2 on rack r1; c, the only r2 host, has no memory left for either.
    clu = cluster(racks("r1", "r1", "r2"), [vm("m1", "a"), vm("m2", "a"), unmovable("big", "c", memory_mib=16384)])
    assert_infeasible(clu, policy(min_spread=(two_racks("m1", "m2"),)))


def min_spread_alternative() -> None:
    """c (rack r2) is at 1000 ‰ with m2 (cheap, 1 GiB) and h (8 GiB); b (r1) is empty. Moving m2 to
    b is cheapest but leaves m1 and m2 on rack r1 only: h must go instead."""
    clu = cluster(racks("r1", "r1", "r2"),
                  [vm("m1", "a", load=3000), vm("m2", "c", load=4000), vm("h", "c", load=4000, memory_mib=8192)])
    plan = cp_sat_plan(clu, policy(spread=CPU_ONLY, limits=NO_GATE, min_spread=(two_racks("m1", "m2"),)))
    assert plan.target_placement == {"m1": "a", "m2": "c", "h": "b"}


# -- limits ----------------------------------------------------------------------------------------

def three_on_a(limits: Limits) -> tuple[Cluster, Policy]:
    """a at 1000 ‰ CPU with v1 (3000 mc, 1 GiB), v2 (3000 mc, 2 GiB), v3 (2000 mc, 2 GiB); b and c
    empty. Two moves reach 375 ‰; the limits of the case allow one, and v1 is its cheapest best."""
    clu = cluster([host("a"), host("b"), host("c")],
                  [vm("v1", "a", load=3000), vm("v2", "a", load=3000, memory_mib=2048),
                   vm("v3", "a", load=2000, memory_mib=2048)])
    return clu, policy(spread=CPU_ONLY, limits=limits)


def drain_two(limits: Limits) -> tuple[Cluster, Policy]:
    """Draining a moves d1 and d2 (b or c each, a real choice for the model); the limits allow one."""
    clu = cluster([host("a"), host("b"), host("c")], [vm("d1", "a"), vm("d2", "a")])
    return clu, policy(Goal.DRAIN, drain_hosts=frozenset({"a"}), limits=limits)


def assert_only_v1_moved(plan: Plan) -> None:
    assert [m.vm for m in plan.moves] == ["v1"]
    assert plan.metric.after == 625


def max_moves_trivial() -> None:
    plan = cp_sat_plan(*three_on_a(replace(NO_GATE, max_moves=5)))
    assert plan.metric.after == 375


def max_moves_forced() -> None:
    assert_infeasible(*drain_two(Limits(max_moves=1)))


def max_moves_alternative() -> None:
    assert_only_v1_moved(cp_sat_plan(*three_on_a(replace(NO_GATE, max_moves=1))))


def max_moved_memory_trivial() -> None:
    plan = cp_sat_plan(*three_on_a(replace(NO_GATE, max_moved_memory_mib=8192)))
    assert plan.metric.after == 375


def max_moved_memory_forced() -> None:
    assert_infeasible(*drain_two(Limits(max_moved_memory_mib=1024)))


def max_moved_memory_alternative() -> None:
    assert_only_v1_moved(cp_sat_plan(*three_on_a(replace(NO_GATE, max_moved_memory_mib=1024))))


# -- extra named resources (disk IOPS here) ---------------------------------------------------------

def with_iops(made: tuple[Cluster, Policy], demands: dict[str, int], capacity: int = 1000) -> tuple[Cluster, Policy]:
    """The same cluster with every host offering `capacity` disk_iops and the named VMs asking
    for theirs; spread does not weigh them (these cases are about the limit)."""
    clu, pol = made
    hosts = [replace(h, resources={"disk_iops": capacity}) for h in clu.hosts]
    vms = [replace(v, resources={"disk_iops": demands[v.name]}) if v.name in demands else v for v in clu.vms]
    unweighed = replace(pol.spread, resources=(ResourceBalance("disk_iops", weight=0),))
    return cluster(hosts, vms), replace(pol, spread=unweighed)


def extra_trivial() -> None:
    spread_one(cp_sat_plan(*with_iops(two_on_one(), {"v1": 100, "v2": 100})))


def extra_forced() -> None:
    # b serves 950 of its 1000 IOPS to a VM that stays: neither 100-IOPS pair member may join it.
    made = broken_pair(unmovable("io", "b"))
    assert_infeasible(*with_iops(made, {"io": 950, "p1": 100, "p2": 100}))


def extra_alternative() -> None:
    # b serves 900 of 1000 IOPS: the filler (no IOPS) fits there, a 200-IOPS hot VM does not.
    made = hot_pair([vm("io", "b", load=0)])
    assert_filler_made_room(cp_sat_plan(*with_iops(made, {"io": 900, "h1": 200, "h2": 200})))


IOPS_ONLY = SpreadSettings(cpu_weight=0, memory_weight=0, resources=(ResourceBalance("disk_iops"),))


def extra_peak_alternative() -> None:
    """Spread by disk IOPS alone: three 300-IOPS VMs on a, two empty hosts; one per host is the
    only 300 ‰ plan (CPU and memory would not move anything)."""
    clu = cluster([host(n, resources={"disk_iops": 1000}) for n in "abc"],
                  [vm(f"d{i}", "a", load=0, resources={"disk_iops": 300}) for i in range(3)])
    plan = cp_sat_plan(clu, policy(spread=IOPS_ONLY, limits=NO_GATE))
    assert plan.metric.after == 300
    assert len(set(plan.target_placement.values())) == 3


# -- objective terms -------------------------------------------------------------------------------

def cost_trivial() -> None:
    spread_one(cp_sat_plan(*two_on_one()))


def cost_alternative() -> None:
    """Five equally busy VMs on a, b empty: any two of them moving reach the CPU peak; only the two
    1 GiB ones are the cheapest two."""
    sizes = {"e1": 4096, "e2": 1024, "e3": 4096, "e4": 1024, "e5": 4096}
    clu = cluster([host("a"), host("b")], [vm(n, "a", load=1500, memory_mib=m) for n, m in sizes.items()])
    plan = cp_sat_plan(clu, policy(spread=CPU_ONLY, limits=NO_GATE))
    assert sorted(m.vm for m in plan.moves) == ["e2", "e4"]


def peak_trivial() -> None:
    plan = cp_sat_plan(*two_on_one())
    assert plan.metric.after < plan.metric.before


def peak_alternative() -> None:
    """Loads 5000, 3000, 2000, 2000 mc on a, two empty hosts: the lowest peak, 5000 mc (625 ‰),
    needs the 5000 alone and the rest split 3000 | 2000+2000 — or 3000+2000 | 2000 beside it."""
    clu = cluster([host("a"), host("b"), host("c")],
                  [vm("w1", "a", load=5000), vm("w2", "a", load=3000), vm("w3", "a", load=2000), vm("w4", "a", load=2000)])
    plan = cp_sat_plan(clu, policy(spread=CPU_ONLY, limits=NO_GATE))
    assert plan.metric.after == 625


def hosts_in_use_trivial() -> None:
    plan = cp_sat_plan(*two_on_one(Goal.CONSOLIDATE))
    assert plan.metric.after == 1


def hosts_in_use_alternative() -> None:
    """Four 6 GiB VMs, one per host (90 % memory headroom: 14.4 GiB a host): two per host is the
    most, so the best plan keeps exactly two hosts."""
    clu = cluster([host(n) for n in "abcd"], [vm(f"g{i}", n, memory_mib=6144) for i, n in enumerate("abcd")])
    plan = cp_sat_plan(clu, policy(Goal.CONSOLIDATE, limits=NO_GATE))
    assert plan.metric.after == 2
    assert len(set(plan.target_placement.values())) == 2


Case = Callable[[], None]

# Objective terms have no "infeasible when forced" case: a goal or a cost never makes a plan invalid.
CASES: dict[str, tuple[Case, ...]] = {
    "one_host_per_unit": (one_host_trivial, one_host_forced, one_host_alternative),
    "memory_capacity": (memory_trivial, memory_forced, memory_alternative),
    "vcpu_capacity": (vcpu_trivial, vcpu_forced, vcpu_alternative),
    "cpu_load_capacity": (load_trivial, load_forced, load_alternative),
    "extra_capacity": (extra_trivial, extra_forced, extra_alternative),
    "anti_affinity": (anti_affinity_trivial, anti_affinity_forced, anti_affinity_alternative),
    "min_spread": (min_spread_trivial, min_spread_forced, min_spread_alternative),
    "max_moves": (max_moves_trivial, max_moves_forced, max_moves_alternative),
    "max_moved_memory": (max_moved_memory_trivial, max_moved_memory_forced, max_moved_memory_alternative),
    "moved_memory_cost": (cost_trivial, cost_alternative),
    "peak_utilisation": (peak_trivial, peak_alternative, extra_peak_alternative),
    "hosts_in_use": (hosts_in_use_trivial, hosts_in_use_alternative),
}
