"""Rules whose VM selector matches no VM of this cluster.

A rule over `{labels: {app: web}}` on a cluster where no VM carries app=web holds trivially: the
plan is made as if the rule were not there. That is usually a typo or a label that never reached
the cluster (no metadata written, no inventory rule), so the commands say so — a warning, or an
error under `--strict`. Names of unknown VMs are already errors (planner/rules/resolve.py); what
can come up empty here are label selectors. This module only lists them; the caller decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from planner.domain.model import Cluster
from planner.domain.policy import Policy, Selector


@dataclass(frozen=True)
class EmptySelector:
    field: str  # the selector's field in the policy: rules.anti_affinity[0].vms
    rule: str  # the rule's name ("" for a move_cost entry, which has none)
    selector: str  # what it asks for, as Selector.describe() says it

    @property
    def message(self) -> str:
        what = f"rule {self.rule!r}" if self.rule else "this entry"
        return f"{what} selects no VM of the cluster ({self.selector})"


def empty_selectors(cluster: Cluster, policy: Policy) -> tuple[EmptySelector, ...]:
    """Every VM selector of `policy` that matches no VM of `cluster`, in policy order. A selector
    naming an unknown VM is left to resolve_rules, whose error it is."""
    known = cluster.vm_by_name
    return tuple(EmptySelector(field, rule, selector.describe()) for field, rule, selector in _vm_selectors(policy)
                 if all(name in known for name in selector.names)
                 and not cluster.select(selector.names, selector.labels))


def _vm_selectors(policy: Policy) -> Iterator[tuple[str, str, Selector]]:
    kinds = (("anti_affinity", policy.anti_affinity), ("affinity", policy.affinity), ("pin", policy.pins),
             ("host_groups", policy.host_groups), ("min_spread", policy.min_spread))
    for kind, rules in kinds:
        for index, rule in enumerate(rules):
            yield f"rules.{kind}[{index}].vms", rule.name, rule.vms
    for index, factor in enumerate(policy.move_costs.vms):
        yield f"move_cost.vms[{index}].vms", "", factor.vms
