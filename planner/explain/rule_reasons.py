"""Which hard rule made a VM move, with the facts that broke it.

Computed from where the VMs ran before the plan and where the plan puts them, never from the
solver's internals: a moved VM is said to move for a rule when the rule was broken for that VM
where it ran, and holds for it where it ends. Each finder yields (VM, clause), the clause naming
the rule by its name and the VMs and hosts involved, e.g. "anti-affinity 'webs-apart' had web-1
and web-2 on b". A VM may move for several rules; the clauses keep the order of FINDERS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from planner.domain.metrics import HostUsage
from planner.domain.model import VM, HostState
from planner.explain.wording import gib, hosts_of, names, place
from planner.rules.resolve import RuleSet


@dataclass(frozen=True)
class Facts:
    rules: RuleSet
    placement: Mapping[str, str]  # VM → host after the plan
    moved: frozenset[str]
    before: Mapping[str, HostUsage]
    after: Mapping[str, HostUsage]

    def vm(self, name: str) -> VM:
        return self.rules.cluster.vm_by_name[name]


Found = Iterator[tuple[str, str]]


def rule_reasons(rules: RuleSet, placement: Mapping[str, str], before: Mapping[str, HostUsage],
                 after: Mapping[str, HostUsage]) -> dict[str, list[str]]:
    """Moved VM → the clauses of the rules it moved for (absent: it moved for the goal alone)."""
    cluster = rules.cluster
    moved = frozenset(vm.name for vm in cluster.vms if placement.get(vm.name, vm.host) != vm.host)
    facts = Facts(rules, placement, moved, before, after)
    found: dict[str, list[str]] = {}
    for finder in FINDERS:
        for name, clause in finder(facts):
            found.setdefault(name, []).append(clause)
    return found


def _host_state(facts: Facts) -> Found:
    """Maintenance hosts, and drain_hosts under a goal other than drain (under drain it is the goal)."""
    rules = facts.rules
    hosts = rules.cluster.host_by_name
    for name in sorted(facts.moved):
        source = facts.vm(name).host
        if hosts[source].state is HostState.MAINTENANCE:
            yield name, f"{source} is in maintenance and must end empty"
        elif source in rules.policy.drain_hosts and not rules.policy.goal.traits.moves_only_drained:
            yield name, f"drain_hosts lists {source}: it must end empty"


def _host_groups(facts: Facts) -> Found:
    hosts = facts.rules.cluster.host_by_name
    for name in sorted(facts.moved):
        vm = facts.vm(name)
        allowed = facts.rules.allowed_hosts.get(name)
        if allowed is None or vm.host in allowed:
            continue
        source, destination = hosts[vm.host], hosts[facts.placement[name]]
        for group in facts.rules.policy.host_groups:
            if (group.vms.matches(name, vm.labels) and not group.hosts.matches(source.name, source.labels)
                    and group.hosts.matches(destination.name, destination.labels)):
                yield name, f"host group {group.name!r} runs {name} only on {hosts_of(group.hosts)}, not on {source.name}"


def _anti_affinity(facts: Facts) -> Found:
    """A member that shared its host (or rack…) with another member and ends alone in its new one."""
    rules, placement = facts.rules, facts.placement
    for group in rules.anti_affinity:
        leaving = [n for n in group.members if n in facts.moved]
        if not leaving:
            continue
        crowd: dict[str, list[str]] = {}
        landed: dict[str, int] = {}
        for member in group.members:
            crowd.setdefault(group.domain_of[facts.vm(member).host], []).append(member)
            landed[group.domain_of[placement[member]]] = landed.get(group.domain_of[placement[member]], 0) + 1
        for name in leaving:
            was, now = group.domain_of[facts.vm(name).host], group.domain_of[placement[name]]
            if len(crowd[was]) < 2 or was == now or landed[now] > 1:
                continue
            clause = f"anti-affinity {group.name!r} had {names(crowd[was])} {place(group.scope, was)}"
            yield name, clause + _held_note(facts, [n for n in crowd[was] if n != name])


def _affinity(facts: Facts) -> Found:
    """A member of a group split over several hosts that the plan brings onto one."""
    cluster, placement = facts.rules.cluster, facts.placement
    for rule in facts.rules.policy.affinity:
        members = [vm.name for vm in cluster.select(rule.vms.names, rule.vms.labels)]
        leaving = [n for n in members if n in facts.moved]
        if not leaving:
            continue
        was = {facts.vm(n).host for n in members}
        if len(was) < 2 or len({placement[n] for n in members}) != 1:
            continue
        clause = f"affinity {rule.name!r} keeps {names(members)} on one host; they were on {names(was)}"
        for name in leaving:
            yield name, clause + _held_note(facts, [n for n in members if n != name])


def _min_spread(facts: Facts) -> Found:
    """A member of a group on too few label values that the plan moves onto a value it lacked."""
    placement = facts.placement
    for group in facts.rules.min_spread:
        leaving = [n for n in group.members if n in facts.moved]
        if not leaving:
            continue
        was = {group.domain_of[facts.vm(n).host] for n in group.members}
        now = {group.domain_of[placement[n]] for n in group.members}
        if len(was) >= group.at_least or len(now) < group.at_least:
            continue
        where = "; ".join(place(group.label, value) for value in sorted(was)[:4])
        clause = (f"min-spread {group.name!r} needs {names(group.members)} on at least {group.at_least} "
                  f"{group.label}s; they were on {len(was)} ({where})")
        for name in leaving:
            if group.domain_of[placement[name]] not in was:
                yield name, clause


def _capacity(facts: Facts) -> Found:
    """A VM leaving a host that was over its usable memory or vCPUs, and is less over after."""
    hosts = facts.rules.cluster.host_by_name
    for name in sorted(facts.moved):
        source = hosts[facts.vm(name).host]
        was, now = facts.before[source.name], facts.after[source.name]
        if was.memory_mib > source.usable_memory_mib and now.memory_mib < was.memory_mib:
            yield name, (f"{source.name} was over its usable memory: {gib(was.memory_mib)} GiB of "
                         f"{gib(source.usable_memory_mib)} → {gib(now.memory_mib)} GiB")
        elif was.vcpus > source.usable_vcpus and now.vcpus < was.vcpus:
            yield name, (f"{source.name} was over its usable vCPUs: {was.vcpus} of {source.usable_vcpus} "
                         f"→ {now.vcpus}")


def _held_note(facts: Facts, others: list[str]) -> str:
    """Why the rule moved this VM rather than the other one: the other could not move."""
    rules = facts.rules
    stuck = next((n for n in sorted(others) if n in rules.pinned and n not in facts.moved), None)
    return f" ({stuck} cannot move: {rules.pin_reason[stuck]})" if stuck else ""


FINDERS: tuple[Callable[[Facts], Found], ...] = (_host_state, _host_groups, _anti_affinity, _affinity,
                                                 _min_spread, _capacity)
