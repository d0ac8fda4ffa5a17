"""When a VM that must move fits no host, the refusal names what is short, with the closest host.

It used to name only the host with the most memory free, which read as if a VM that needs more
vCPUs than that host has left would have fitted there (seen on a 10,000-host drain: "most free:
360.0 GiB" for a 256 GiB VM with 64 vCPUs).
"""

from __future__ import annotations

import pytest

from planner.domain.errors import InfeasibleError
from planner.domain.policy import AntiAffinity, Goal, Selector
from planner.rules.resolve import resolve_rules
from planner.solver.planning import make_plan
from tests.builders import cluster, host, policy, vm

GIB = 1024


def _refusal(hosts, big_vcpus: int, big_gib: int) -> str:
    """Drain d, which holds one VM of `big_vcpus` vCPUs and `big_gib` GiB, onto `hosts`."""
    vms = [vm("big", "d", vcpus=big_vcpus, memory_mib=big_gib * GIB)]
    clu = cluster([host("d", cpus=32, memory_mib=64 * GIB + 512), *hosts], vms)
    with pytest.raises(InfeasibleError) as refused:
        make_plan(resolve_rules(clu, policy(Goal.DRAIN, drain_hosts=frozenset({"d"}))))
    return str(refused.value)


def test_short_of_both_on_every_host_names_the_best_of_each() -> None:
    # a: 32 GiB and 32 vCPUs free; b: 4 GiB and 128 vCPUs. Together they have room, neither alone.
    message = _refusal([host("a", cpus=8, memory_mib=32 * GIB + 512), host("b", cpus=32, memory_mib=4 * GIB + 512)],
                       big_vcpus=64, big_gib=8)
    assert message == ("cannot place VM big (8.0 GiB, 64 vCPUs) from d: no allowed host has both left "
                       "(most memory free: 32.0 GiB and 32 vCPUs on a; most vCPUs free: 128 and 4.0 GiB on b)")


def test_short_of_vcpus_everywhere() -> None:
    # 80 vCPUs free in all (32 + 48), not 64 on one host.
    message = _refusal([host("a", cpus=8, memory_mib=32 * GIB + 512), host("b", cpus=12, memory_mib=16 * GIB + 512)],
                       big_vcpus=64, big_gib=8)
    assert message.endswith("no allowed host has that many vCPUs left (most free: 48 on b)")


def test_short_of_memory_everywhere() -> None:
    # 40 GiB free in all (16 + 24), not 32 on one host.
    message = _refusal([host("a", cpus=32, memory_mib=16 * GIB + 512), host("b", cpus=32, memory_mib=24 * GIB + 512)],
                       big_vcpus=4, big_gib=32)
    assert message.endswith("no allowed host has that much memory left (most free: 24.0 GiB on b)")


def test_room_refused_by_a_rule_says_so() -> None:
    # a has the room but already runs big's anti-affinity partner; b is short of memory.
    hosts = [host("d", cpus=32, memory_mib=64 * GIB + 512), host("a", cpus=32, memory_mib=32 * GIB + 512),
             host("b", cpus=32, memory_mib=4 * GIB + 512)]
    vms = [vm("big", "d", vcpus=4, memory_mib=8 * GIB), vm("partner", "a", vcpus=1, memory_mib=GIB)]
    apart = (AntiAffinity("apart", Selector(names=frozenset({"big", "partner"}))),)
    with pytest.raises(InfeasibleError) as refused:
        make_plan(resolve_rules(cluster(hosts, vms),
                                policy(Goal.DRAIN, drain_hosts=frozenset({"d"}), anti_affinity=apart)))
    assert str(refused.value).endswith("the hosts with its memory and vCPUs free (such as a) are refused by its "
                                       "anti-affinity rules or the load limit")
