"""Property tests: on random clusters whose starting placement keeps every rule (anti-affinity,
min_spread over racks, a pin), a spread or consolidation plan always validates and never makes the
goal metric worse; a drain either empties the drained hosts (validated) or says why it cannot."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.domain.errors import InfeasibleError, InputError
from planner.domain.model import Cluster
from planner.domain.plan import Plan
from planner.solver.planning import make_plan
from planner.domain.policy import AntiAffinity, Goal, Limits, MinSpread, Pin, Policy, Selector, SolverSettings
from planner.rules.resolve import resolve_rules
from planner.check.validate import validate_placement
from tests.builders import host, vm

SOLVER = SolverSettings(time_limit_s=2.0, workers=2, seed=3)


@st.composite
def clusters(draw: st.DrawFn) -> tuple[Cluster, Policy]:
    host_count = draw(st.integers(2, 5))
    hosts = [host(f"h{i}", cpus=draw(st.sampled_from([4, 8])), labels={"rack": f"r{i % 2}"}) for i in range(host_count)]
    free = {h.name: h.usable_memory_mib for h in hosts}
    vcpus_free = {h.name: h.usable_vcpus for h in hosts}
    vms = []
    for index in range(draw(st.integers(0, 14))):
        memory = draw(st.sampled_from([512, 1024, 2048, 4096, 6144]))
        vcpus = draw(st.integers(1, 4))
        fitting = [h.name for h in hosts if free[h.name] >= memory and vcpus_free[h.name] >= vcpus]
        if not fitting:
            break
        where = draw(st.sampled_from(fitting))
        free[where] -= memory
        vcpus_free[where] -= vcpus
        vms.append(vm(f"v{index}", where, vcpus=vcpus, memory_mib=memory, load=draw(st.integers(0, vcpus * 1000))))
    cluster = Cluster(tuple(hosts), tuple(vms))
    return cluster, Policy(anti_affinity=_respected_anti_affinity(draw, vms), pins=_pins(draw, vms),
                           min_spread=_respected_min_spread(draw, cluster), solver=SOLVER)


def _respected_anti_affinity(draw: st.DrawFn, vms: list) -> tuple[AntiAffinity, ...]:
    """A group of VMs that already sit on distinct hosts, so the start keeps the rule."""
    seen_hosts: dict[str, str] = {}
    for candidate in vms:
        seen_hosts.setdefault(candidate.host, candidate.name)
    members = sorted(seen_hosts.values())
    if len(members) < 2 or not draw(st.booleans()):
        return ()
    return (AntiAffinity("apart", Selector(names=frozenset(members[:3]))),)


def _respected_min_spread(draw: st.DrawFn, cluster: Cluster) -> tuple[MinSpread, ...]:
    """A few VMs that already run on both racks, which must stay on both."""
    by_rack: dict[str, list[str]] = {}
    for candidate in cluster.vms:
        by_rack.setdefault(cluster.host_by_name[candidate.host].labels["rack"], []).append(candidate.name)
    if len(by_rack) < 2 or not draw(st.booleans()):
        return ()
    members = {names[0] for names in by_rack.values()} | set(draw(st.lists(st.sampled_from(
        [v.name for v in cluster.vms]), max_size=2)))
    return (MinSpread("racks", Selector(names=frozenset(members)), "rack", 2),)


def _pins(draw: st.DrawFn, vms: list) -> tuple[Pin, ...]:
    if not vms or not draw(st.booleans()):
        return ()
    return (Pin("keep", Selector(names=frozenset({draw(st.sampled_from(vms)).name}))),)


def _plan(cluster: Cluster, policy: Policy) -> Plan:
    plan = make_plan(resolve_rules(cluster, policy))
    assert validate_placement(cluster, policy, plan.target_placement) == []
    return plan


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.sampled_from([Goal.SPREAD, Goal.CONSOLIDATE]))
def test_spread_and_consolidate_validate_and_never_get_worse(case: tuple[Cluster, Policy], goal: Goal) -> None:
    cluster, policy = case
    plan = _plan(cluster, replace(policy, goal=goal))
    assert plan.metric.after <= plan.metric.before
    assert plan.metric.after >= plan.bounds.goal
    assert len(plan.moves) >= plan.bounds.moves or plan.moves == ()
    assert plan.moved_memory_mib >= plan.bounds.moved_memory_mib or plan.moves == ()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.integers(0, 4))
def test_drain_empties_the_host_or_explains(case: tuple[Cluster, Policy], which: int) -> None:
    cluster, policy = case
    drained = cluster.hosts[which % len(cluster.hosts)].name
    pinned_there = any(v.host == drained for v in cluster.vms if policy.pins and v.name in policy.pins[0].vms.names)
    if pinned_there:
        return
    drain = replace(policy, goal=Goal.DRAIN, drain_hosts=frozenset({drained}))
    try:
        plan = _plan(cluster, drain)
    except InfeasibleError as error:
        assert drained in str(error) or "cannot place" in str(error)
        return
    except InputError as error:  # draining leaves too few hosts (racks) for the anti-affinity (min_spread) rule
        assert error.field.startswith(("rules.anti_affinity", "rules.min_spread"))
        return
    assert all(v.host != drained for v in plan.cluster.with_placement(plan.target_placement).vms)
    # Every VM of the drained host moves; any other VM only where the plan names it as moved aside
    # (a rule such as min_spread can leave the drained VMs no room without one, which the moves
    # bound, a relaxation of the rules, need not count).
    assert {m.vm for m in plan.moves if m.source == drained} == {v.name for v in cluster.vms_by_host[drained]}
    aside = sorted(m.vm for m in plan.moves if m.source != drained)
    assert plan.bounds.moves <= len(plan.moves)
    if aside:
        assert any(note.startswith(f"{len(aside)} VM(s) not on the drained hosts move too") for note in plan.notes)
    else:
        assert len(plan.moves) == plan.bounds.moves


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.integers(0, 3))
def test_move_budget_is_never_exceeded(case: tuple[Cluster, Policy], budget: int) -> None:
    cluster, policy = case
    plan = _plan(cluster, replace(policy, limits=Limits(max_moves=budget, min_improvement_percent=0)))
    assert len(plan.moves) <= budget
