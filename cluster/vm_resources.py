"""VM demands of the cluster's extra named resources on a live cluster: the inventory's
`vm_resources` rules.

libvirt does not know what a VM needs of disk IOPS or network bandwidth, so the operator states it:
`vm_resources: [{match: "db-*", resources: {disk_iops: 2000}}]`. A rule's `match` is a shell-style
pattern (fnmatch, case-sensitive) tried against the libvirt domain name and, for a Nova-managed
domain, its Nova instance name, as for `vm_labels`. Rules apply in file order, a later one
overriding an earlier one resource by resource; a VM no rule matches asks for none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cluster.vm_labels import NamePatternRule, parse_pattern_rule
from planner.domain.checks import check_resources


@dataclass(frozen=True)
class VMResourceRule(NamePatternRule):
    """Inventory `vm_resources` entry: what every domain whose name matches `match` asks for."""

    resources: Mapping[str, int]


def parse_vm_resource_rule(raw: Any) -> VMResourceRule:
    """One inventory `vm_resources` entry: {match: "db-*", resources: {disk_iops: 4000}}."""
    return VMResourceRule(*parse_pattern_rule(raw, "resources", check_resources, "resource"))


def demands_of(names: Iterable[str], rules: Iterable[VMResourceRule]) -> dict[str, int]:
    """What a domain known by `names` (libvirt name, Nova instance name) asks of each resource."""
    known = tuple(names)
    demands: dict[str, int] = {}
    for rule in rules:
        if rule.matches(known):
            demands.update(rule.resources)
    return demands
