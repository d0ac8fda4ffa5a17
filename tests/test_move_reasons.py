"""Every move says why: a move a rule forced names the rule and the VMs and hosts involved, a move
made for the goal alone names the goal, and a move that serves both names the rule first.

Each scenario breaks one rule at the start on hosts that are otherwise balanced, so the rule is
the only reason to move (and where the goal could also gain, the test says so).
"""

from __future__ import annotations

import pytest

from planner.domain.model import HostState
from planner.domain.plan import Move, Plan
from planner.domain.policy import (
    Affinity,
    AntiAffinity,
    Goal,
    HostGroup,
    MinSpread,
    Pin,
    Selector,
    SpreadSettings,
)
from tests.builders import cluster, host, plan_for, policy, vm

pytestmark = pytest.mark.solver


def only_move(plan: Plan) -> Move:
    assert len(plan.moves) == 1, plan.moves
    return plan.moves[0]


def reasons(plan: Plan) -> dict[str, str]:
    return {m.vm: m.reason for m in plan.moves}


def named(*vms: str) -> Selector:
    return Selector(names=frozenset(vms))


# a holds the big VM: it is the memory and CPU peak, so emptying b of a rule breaker lowers no peak.
BALLAST = vm("ballast", "a", memory_mib=6144, load=2000)


def test_anti_affinity_names_the_rule_the_vms_and_the_host() -> None:
    clu = cluster([host("a"), host("b"), host("c")], [BALLAST, vm("web-1", "b"), vm("web-2", "b")])
    move = only_move(plan_for(clu, policy(anti_affinity=(AntiAffinity("webs-apart", named("web-1", "web-2")),))))
    assert move.source == "b"
    assert move.reason == "because anti-affinity 'webs-apart' had web-1 and web-2 on b"


def test_anti_affinity_says_which_partner_could_not_move() -> None:
    clu = cluster([host("a"), host("b"), host("c")], [BALLAST, vm("web-1", "b"), vm("web-2", "b")])
    pol = policy(anti_affinity=(AntiAffinity("webs-apart", named("web-1", "web-2")),),
                 pins=(Pin("keep-web-1", named("web-1")),))
    move = only_move(plan_for(clu, pol))
    assert move.vm == "web-2"
    assert move.reason == ("because anti-affinity 'webs-apart' had web-1 and web-2 on b "
                           "(web-1 cannot move: pinned by rule 'keep-web-1')")


def test_anti_affinity_by_rack_names_the_rack() -> None:
    hosts = [host("a", labels={"rack": "r2"}), host("b", labels={"rack": "r1"}), host("c", labels={"rack": "r1"}),
             host("d", labels={"rack": "r2"})]
    clu = cluster(hosts, [BALLAST, vm("db-1", "b"), vm("db-2", "c")])
    move = only_move(plan_for(clu, policy(anti_affinity=(AntiAffinity("dbs", named("db-1", "db-2"), "rack"),))))
    assert move.destination == "d"
    assert move.reason == "because anti-affinity 'dbs' had db-1 and db-2 in rack r1"


def test_affinity_names_the_rule_and_where_the_members_were() -> None:
    clu = cluster([host("a"), host("b"), host("c")], [BALLAST, vm("app", "b"), vm("cache", "c")])
    move = only_move(plan_for(clu, policy(affinity=(Affinity("app-with-cache", named("app", "cache")),))))
    assert move.reason == "because affinity 'app-with-cache' keeps app and cache on one host; they were on b and c"


def test_host_group_names_the_group_its_hosts_and_the_host_left() -> None:
    hosts = [host("a"), host("b"), host("c", labels={"oracle": "yes"})]
    clu = cluster(hosts, [BALLAST, vm("db", "b", labels={"license": "oracle"})])
    group = HostGroup("oracle-hosts", Selector(labels={"license": "oracle"}), Selector(labels={"oracle": "yes"}))
    move = only_move(plan_for(clu, policy(host_groups=(group,))))
    assert move.reason == "because host group 'oracle-hosts' runs db only on hosts with oracle=yes, not on b"


def test_min_spread_names_the_rule_and_the_one_rack_they_shared() -> None:
    hosts = [host("a", labels={"rack": "r1"}), host("b", labels={"rack": "r1"}), host("c", labels={"rack": "r2"})]
    clu = cluster(hosts, [BALLAST, vm("web-1", "b"), vm("web-2", "b")])
    rule = MinSpread("web-racks", named("web-1", "web-2"), "rack", 2)
    move = only_move(plan_for(clu, policy(min_spread=(rule,))))
    assert move.destination == "c"
    assert move.reason == ("because min-spread 'web-racks' needs web-1 and web-2 on at least 2 racks; "
                           "they were on 1 (in rack r1)")


def test_maintenance_host_is_named_and_a_disabled_host_keeps_its_vms() -> None:
    hosts = [host("a"), host("m", state=HostState.MAINTENANCE), host("d", state=HostState.DISABLED), host("c")]
    clu = cluster(hosts, [BALLAST, vm("v1", "m"), vm("v2", "d")])
    move = only_move(plan_for(clu, policy()))
    assert (move.vm, move.reason) == ("v1", "because m is in maintenance and must end empty")


def test_drain_hosts_under_spread_is_a_rule_and_under_drain_the_goal() -> None:
    clu = cluster([host("a"), host("b"), host("c")], [BALLAST, vm("v1", "b"), vm("v2", "b")])
    spread = plan_for(clu, policy(Goal.SPREAD, drain_hosts=frozenset({"b"})))
    assert set(reasons(spread).values()) == {"because drain_hosts lists b: it must end empty"}
    drain = plan_for(clu, policy(Goal.DRAIN, drain_hosts=frozenset({"b"})))
    assert set(reasons(drain).values()) == {"to drain b (2 VMs there)"}


def test_a_host_over_its_usable_memory_is_named_with_the_numbers() -> None:
    # b holds 18 GiB on 16 GiB usable (say its RAM shrank): the capacity rule sheds a VM.
    clu = cluster([host("a"), host("b"), host("c")],
                  [BALLAST, vm("big", "b", memory_mib=12288), vm("small", "b", memory_mib=6144)])
    move = only_move(plan_for(clu, policy()))
    assert move.reason.startswith("because b was over its usable memory: 18.0 GiB of 16.0 → ")


def test_a_goal_only_spread_move_names_the_peak_it_lowers() -> None:
    clu = cluster([host("a"), host("b")], [vm("v1", "a", load=3000), vm("v2", "a", load=3000)])
    move = only_move(plan_for(clu, policy()))
    assert move.reason == "to lower the peak: a CPU 75% → 38%, memory 12% → 6%"


def test_a_spread_threshold_is_named() -> None:
    clu = cluster([host("a"), host("b")], [vm("v1", "a", load=3000), vm("v2", "a", load=3000)])
    move = only_move(plan_for(clu, policy(spread=SpreadSettings(cpu_threshold_percent=50))))
    assert move.reason == "to bring a under the 50% CPU threshold: 75% → 38%"


def test_a_consolidation_move_names_the_host_it_empties() -> None:
    clu = cluster([host("a"), host("b")], [vm("v1", "a", load=500), vm("v2", "b", load=500, memory_mib=2048)])
    move = only_move(plan_for(clu, policy(Goal.CONSOLIDATE)))
    assert move.reason == "to empty a (1 VMs, 1.0 GiB) so it can be powered down"


def test_a_move_for_a_rule_and_the_goal_names_the_rule_first() -> None:
    # b is the hot host and breaks the rule: moving a web server off it does both.
    clu = cluster([host("a"), host("b"), host("c")], [vm("web-1", "b", load=3000), vm("web-2", "b", load=3000)])
    move = only_move(plan_for(clu, policy(anti_affinity=(AntiAffinity("webs-apart", named("web-1", "web-2")),))))
    assert move.reason == ("because anti-affinity 'webs-apart' had web-1 and web-2 on b; "
                           "also to lower the peak: b CPU 75% → 38%, memory 12% → 6%")


def test_a_vm_breaking_two_rules_names_both() -> None:
    hosts = [host("a"), host("b"), host("c", labels={"oracle": "yes"})]
    clu = cluster(hosts, [BALLAST, vm("db-1", "b", labels={"license": "oracle"}), vm("db-2", "b")])
    group = HostGroup("oracle-hosts", Selector(labels={"license": "oracle"}), Selector(labels={"oracle": "yes"}))
    pol = policy(host_groups=(group,), anti_affinity=(AntiAffinity("dbs", named("db-1", "db-2")),))
    assert reasons(plan_for(clu, pol)) == {"db-1": "because host group 'oracle-hosts' runs db-1 only on hosts with "
                                                   "oracle=yes, not on b; and anti-affinity 'dbs' had db-1 and db-2 on b"}


def test_a_rule_over_many_vms_lists_a_few_names_and_counts_the_rest() -> None:
    hosts = [host(f"h{i}", labels={"rack": "r1" if i < 4 else "r2"}) for i in range(6)]
    webs = [vm(f"web-{i}", f"h{i % 4}", memory_mib=512, load=50) for i in range(10)]
    clu = cluster(hosts, webs)
    plan = plan_for(clu, policy(min_spread=(MinSpread("web-racks", Selector(labels={}, names=frozenset(
        v.name for v in webs)), "rack", 2),)))
    moved = [m for m in plan.moves if m.destination in {"h4", "h5"}]
    assert moved
    assert "needs web-0, web-1, web-2, web-3 and 6 more on at least 2 racks" in moved[0].reason
    assert len(moved[0].reason) < 300
